"""The one HTTP seam to SMART on FHIR servers: discovery, tokens and FHIR reads (errors: integrations.oauth)."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

from integrations.exceptions import ProviderError
from integrations.oauth import OAuthClient, Tokens

from .provider import ATTENTION_REASONS

FHIR_JSON = "application/fhir+json, application/json;q=0.9"
# A server that keeps sending `next` links (a loop, a bug) must not keep a worker forever.
MAX_PAGES = 2000
# A FHIR id (the `patient` launch context ends up in request paths).
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class SmartConfiguration:
    """The endpoints a server's /.well-known/smart-configuration announces."""

    authorization_endpoint: str
    token_endpoint: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    """One FHIR response: the raw bytes (for the importer, digits exact) and the parsed JSON."""

    content: bytes
    data: dict


def same_origin(base_url: str, url: str) -> bool:
    """Whether `url` is on the origin of `base_url` and under its path (what a sync may request)."""
    base, other = urlsplit(base_url), urlsplit(url)
    if (base.scheme, base.hostname, base.port) != (other.scheme, other.hostname, other.port):
        return False
    prefix = base.path.rstrip("/") + "/"
    return other.path == base.path.rstrip("/") or other.path.startswith(prefix)


class SmartClient(OAuthClient):
    user_agent = "HealthSpace SMART on FHIR client"
    retry_after_setting = "SMART_FHIR_RETRY_AFTER_MAX"
    attention_reasons = ATTENTION_REASONS
    transient_messages = {
        "server_timeout": _("The health record server did not answer in time."),
        "server_unreachable": _("The health record server could not be reached."),
        "rate_limited": _("The health record server asked HealthSpace to slow down."),
        "server_unavailable": _("The health record server is unavailable for now."),
    }

    def _endpoint(self, base_url: str, value) -> str:
        # An https server may not send the patient's browser or our tokens over plain http.
        if not isinstance(value, str) or urlsplit(value).scheme not in ("https", "http"):
            raise self.permanent("server_misconfigured")
        if urlsplit(base_url).scheme == "https" and urlsplit(value).scheme != "https":
            raise self.permanent("server_misconfigured")
        return value

    def discover(self, *, base_url: str) -> SmartConfiguration:
        """The server's SMART configuration; it must offer PKCE with S256."""
        url = f"{base_url.rstrip('/')}/.well-known/smart-configuration"
        data = self.json(self.send("GET", url, headers={"Accept": "application/json"}))
        methods = data.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise self.permanent("server_misconfigured")
        capabilities = data.get("capabilities") if isinstance(data.get("capabilities"), list) else []
        return SmartConfiguration(
            authorization_endpoint=self._endpoint(base_url, data.get("authorization_endpoint")),
            token_endpoint=self._endpoint(base_url, data.get("token_endpoint")),
            capabilities=tuple(str(item) for item in capabilities),
        )

    def token_request(self, *, token_endpoint: str, client_id: str, client_secret: str, data: dict) -> Tokens:
        # A confidential client authenticates with HTTP Basic; a public one names itself (PKCE protects it).
        auth = (client_id, client_secret) if client_secret else None
        if not client_secret:
            data = {**data, "client_id": client_id}
        response = self.send("POST", token_endpoint, data=data, auth=auth, headers={"Accept": "application/json"})
        if error := self.token_error(response, otherwise="server_misconfigured"):
            raise error
        body = self.json(response)
        if str(body.get("token_type", "")).lower() != "bearer":
            raise self.permanent("server_error")
        patient = body.get("patient", "")
        return self.tokens(body, patient=patient if isinstance(patient, str) else "")

    def fhir_get(self, *, base_url: str, url: str, access_token: str, params: dict | None = None) -> Page:
        """One FHIR read on the server's own origin (anything else is refused before a request is made)."""
        if not same_origin(base_url, url):
            raise self.permanent("unsafe_link")
        response = self.send(
            "GET", url, params=params, headers={"Accept": FHIR_JSON, "Authorization": f"Bearer {access_token}"}
        )
        return Page(content=response.content, data=self.json(response))

    def capability_statement(self, *, base_url: str, access_token: str) -> dict:
        """The server's CapabilityStatement (/metadata), or {} when it does not serve one."""
        try:
            return self.fhir_get(
                base_url=base_url, url=f"{base_url.rstrip('/')}/metadata", access_token=access_token
            ).data
        except ProviderError as error:
            if error.permanent and error.code == "server_error":
                return {}
            raise

    def search_pages(
        self, *, base_url: str, path: str, params: dict, access_token: Callable[[], str]
    ) -> Iterator[Page]:
        """Every page of a search, following Bundle.link[next] on the same origin only."""
        url: str | None = f"{base_url.rstrip('/')}/{path}"
        seen: set[str] = set()
        for _number in range(MAX_PAGES):
            page = self.fhir_get(base_url=base_url, url=url, access_token=access_token(), params=params)
            yield page
            url = next(
                (
                    link.get("url")
                    for link in page.data.get("link") or []
                    if isinstance(link, dict) and link.get("relation") == "next"
                ),
                None,
            )
            if not isinstance(url, str) or not url:
                return
            if url in seen:
                raise self.permanent("server_error")
            seen.add(url)
            params = None  # the next link carries the whole query
        raise self.permanent("server_error")


CLIENT = SmartClient()
