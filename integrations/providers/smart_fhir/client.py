"""The one HTTP seam to SMART on FHIR servers: discovery, tokens and FHIR reads, each with a timeout.

Errors come out as ProviderError: permanent ones (a revoked grant, a server that breaks the rules)
need the patient or staff; transient ones (429, 5xx, timeouts) are retried. Messages are plain
words for the patient and never carry a token or a health value.
"""

import contextlib
import datetime
import email.utils
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.exceptions import ProviderError

from .provider import ATTENTION_REASONS

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# httpx logs every request URL at INFO; FHIR URLs carry the patient's id and search terms.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = "HealthSpace SMART on FHIR client"
FHIR_JSON = "application/fhir+json, application/json;q=0.9"
# A server that keeps sending `next` links (a loop, a bug) must not keep a worker forever.
MAX_PAGES = 2000
# 429s waited out in place before the error goes to the task's backoff.
RATE_LIMIT_RETRIES = 2
# A FHIR id (the `patient` launch context ends up in request paths).
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class TransientProviderError(ProviderError):
    """A failure worth retrying later (429, 5xx, timeout); `retry_after` in seconds when the server said."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None):
        super().__init__(message, permanent=False, code=code)
        self.retry_after = retry_after


def _permanent(code: str) -> ProviderError:
    return ProviderError(str(ATTENTION_REASONS[code]), permanent=True, code=code)


@dataclass(frozen=True)
class SmartConfiguration:
    """The endpoints a server's /.well-known/smart-configuration announces."""

    authorization_endpoint: str
    token_endpoint: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Tokens:
    """A token endpoint's answer; `patient` is the launch context (whose records)."""

    access_token: str
    refresh_token: str
    expires_at: datetime.datetime
    scope: str
    patient: str


@dataclass(frozen=True)
class Page:
    """One FHIR response: the raw bytes (for the importer, digits exact) and the parsed JSON."""

    content: bytes
    data: dict


def _client() -> httpx.Client:
    # No redirects: a redirect could lead to another host with the patient's token.
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, headers={"User-Agent": USER_AGENT})


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _send(method: str, url: str, **kwargs) -> httpx.Response:
    """One request, with 429s waited out in place when the server asks for a short wait."""
    wait_max = float(getattr(settings, "SMART_FHIR_RETRY_AFTER_MAX", 30))
    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            with _client() as http:
                response = http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise TransientProviderError(
                _("The health record server did not answer in time."), code="server_timeout"
            ) from None
        except httpx.TransportError:
            raise TransientProviderError(
                _("The health record server could not be reached."), code="server_unreachable"
            ) from None
        if response.status_code != 429:
            return response
        retry_after = _retry_after(response)
        if retry_after is None or retry_after > wait_max or attempt == RATE_LIMIT_RETRIES:
            raise TransientProviderError(
                _("The health record server asked HealthSpace to slow down."),
                code="rate_limited",
                retry_after=retry_after,
            )
        time.sleep(retry_after)
    raise AssertionError("unreachable")  # pragma: no cover


def _json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        raise _permanent("server_error") from None
    if not isinstance(data, dict):
        raise _permanent("server_error")
    return data


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status >= 500:
        raise TransientProviderError(_("The health record server is unavailable for now."), code="server_unavailable")
    if status == 401:
        raise _permanent("access_revoked")
    if status == 403:
        raise _permanent("access_limited")
    if status >= 300:
        raise _permanent("server_error")


def same_origin(base_url: str, url: str) -> bool:
    """Whether `url` is on the origin of `base_url` and under its path (what a sync may request)."""
    base, other = urlsplit(base_url), urlsplit(url)
    if (base.scheme, base.hostname, base.port) != (other.scheme, other.hostname, other.port):
        return False
    prefix = base.path.rstrip("/") + "/"
    return other.path == base.path.rstrip("/") or other.path.startswith(prefix)


def _endpoint(base_url: str, value) -> str:
    # An https server may not send the patient's browser or our tokens over plain http.
    if not isinstance(value, str) or urlsplit(value).scheme not in ("https", "http"):
        raise _permanent("server_misconfigured")
    if urlsplit(base_url).scheme == "https" and urlsplit(value).scheme != "https":
        raise _permanent("server_misconfigured")
    return value


def discover(*, base_url: str) -> SmartConfiguration:
    """The server's SMART configuration; it must offer PKCE with S256."""
    response = _send(
        "GET", f"{base_url.rstrip('/')}/.well-known/smart-configuration", headers={"Accept": "application/json"}
    )
    _check_status(response)
    data = _json(response)
    methods = data.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise _permanent("server_misconfigured")
    capabilities = data.get("capabilities") if isinstance(data.get("capabilities"), list) else []
    return SmartConfiguration(
        authorization_endpoint=_endpoint(base_url, data.get("authorization_endpoint")),
        token_endpoint=_endpoint(base_url, data.get("token_endpoint")),
        capabilities=tuple(str(item) for item in capabilities),
    )


def authorize_url(*, endpoint: str, params: dict[str, str]) -> str:
    """The authorization endpoint with the request's parameters added to any it already has."""
    return str(httpx.URL(endpoint).copy_merge_params(params))


def _token_request(*, token_endpoint: str, client_id: str, client_secret: str, data: dict) -> Tokens:
    # A confidential client authenticates with HTTP Basic; a public one names itself (PKCE protects it).
    auth = (client_id, client_secret) if client_secret else None
    if not client_secret:
        data = {**data, "client_id": client_id}
    response = _send("POST", token_endpoint, data=data, auth=auth, headers={"Accept": "application/json"})
    if response.status_code in (400, 401):
        error = ""
        with contextlib.suppress(ValueError, AttributeError):
            error = str(response.json().get("error", ""))
        if error == "invalid_grant":
            raise _permanent("access_revoked")
        raise _permanent("server_misconfigured")
    _check_status(response)
    body = _json(response)
    access_token, token_type = body.get("access_token"), str(body.get("token_type", ""))
    if not isinstance(access_token, str) or not access_token or token_type.lower() != "bearer":
        raise _permanent("server_error")
    try:
        expires_in = int(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        expires_in = 3600
    patient = body.get("patient", "")
    return Tokens(
        access_token=access_token,
        refresh_token=str(body.get("refresh_token") or ""),
        expires_at=timezone.now() + datetime.timedelta(seconds=max(expires_in, 0)),
        scope=str(body.get("scope") or ""),
        patient=patient if isinstance(patient, str) else "",
    )


def token_exchange(
    *, token_endpoint: str, client_id: str, client_secret: str, code: str, redirect_uri: str, code_verifier: str
) -> Tokens:
    """Trade an authorization code and its PKCE verifier for tokens and the patient context."""
    tokens = _token_request(
        token_endpoint=token_endpoint,
        client_id=client_id,
        client_secret=client_secret,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        },
    )
    if not FHIR_ID.match(tokens.patient):
        raise _permanent("no_patient")
    return tokens


def token_refresh(*, token_endpoint: str, client_id: str, client_secret: str, refresh_token: str) -> Tokens:
    """New tokens for a refresh token (which a server may rotate: keep the new one)."""
    return _token_request(
        token_endpoint=token_endpoint,
        client_id=client_id,
        client_secret=client_secret,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def fhir_get(*, base_url: str, url: str, access_token: str, params: dict | None = None) -> Page:
    """One FHIR read on the server's own origin (anything else is refused before a request is made)."""
    if not same_origin(base_url, url):
        raise _permanent("unsafe_link")
    response = _send(
        "GET",
        url,
        params=params,
        headers={"Accept": FHIR_JSON, "Authorization": f"Bearer {access_token}"},
    )
    _check_status(response)
    data = _json(response)
    return Page(content=response.content, data=data)


def capability_statement(*, base_url: str, access_token: str) -> dict:
    """The server's CapabilityStatement (/metadata), or {} when it does not serve one."""
    try:
        return fhir_get(base_url=base_url, url=f"{base_url.rstrip('/')}/metadata", access_token=access_token).data
    except ProviderError as error:
        if error.permanent and error.code == "server_error":
            return {}
        raise


def search_pages(*, base_url: str, path: str, params: dict, access_token: Callable[[], str]) -> Iterator[Page]:
    """Every page of a search, following Bundle.link[next] on the same origin only."""
    url: str | None = f"{base_url.rstrip('/')}/{path}"
    seen: set[str] = set()
    for _number in range(MAX_PAGES):
        page = fhir_get(base_url=base_url, url=url, access_token=access_token(), params=params)
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
            raise _permanent("server_error")
        seen.add(url)
        params = None  # the next link carries the whole query
    raise _permanent("server_error")
