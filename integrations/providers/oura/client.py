"""The one HTTP seam to the Oura API v2: tokens, revocation and heart rate, each with a timeout.

Errors come out as ProviderError: permanent ones (a revoked grant, 401/403) need the patient;
transient ones (429 with Retry-After, 5xx, timeouts) are retried. Messages are plain words for the
patient and never carry a token or a health value.
"""

import contextlib
import datetime
import email.utils
import logging
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.exceptions import ProviderError

from .provider import ATTENTION_REASONS

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = "HealthSpace Oura client"
RATE_LIMIT_RETRIES = 2


class TransientProviderError(ProviderError):
    """A failure worth retrying later; `retry_after` in seconds when the server said."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None):
        super().__init__(message, permanent=False, code=code)
        self.retry_after = retry_after


def _permanent(code: str) -> ProviderError:
    return ProviderError(str(ATTENTION_REASONS[code]), permanent=True, code=code)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime.datetime
    scope: str


def api_base() -> str:
    return getattr(settings, "OURA_API_BASE", "https://api.ouraring.com").rstrip("/")


def authorize_endpoint() -> str:
    return getattr(settings, "OURA_AUTHORIZE_URL", "https://cloud.ouraring.com/oauth/authorize")


def client_credentials() -> tuple[str, str]:
    client_id = getattr(settings, "OURA_CLIENT_ID", "")
    client_secret = getattr(settings, "OURA_CLIENT_SECRET", "")
    if not client_id or not client_secret:
        raise _permanent("not_configured")
    return client_id, client_secret


def authorize_url(*, params: dict[str, str]) -> str:
    return str(httpx.URL(authorize_endpoint()).copy_merge_params(params))


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


def _send(method: str, path: str, **kwargs) -> httpx.Response:
    """One request, with 429s waited out in place when Oura asks for a short wait."""
    wait_max = float(getattr(settings, "OURA_RETRY_AFTER_MAX", 30))
    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            # No redirects: a redirect could lead to another host with the patient's token.
            with httpx.Client(timeout=TIMEOUT, follow_redirects=False, headers={"User-Agent": USER_AGENT}) as http:
                response = http.request(method, f"{api_base()}{path}", **kwargs)
        except httpx.TimeoutException:
            raise TransientProviderError(_("Oura did not answer in time."), code="server_timeout") from None
        except httpx.TransportError:
            raise TransientProviderError(_("Oura could not be reached."), code="server_unreachable") from None
        if response.status_code != 429:
            return response
        retry_after = _retry_after(response)
        if retry_after is None or retry_after > wait_max or attempt == RATE_LIMIT_RETRIES:
            raise TransientProviderError(
                _("Oura asked HealthSpace to slow down."), code="rate_limited", retry_after=retry_after
            )
        time.sleep(retry_after)
    raise AssertionError("unreachable")  # pragma: no cover


def _json(response: httpx.Response) -> dict:
    status = response.status_code
    if status >= 500:
        raise TransientProviderError(_("Oura is unavailable for now."), code="server_unavailable")
    if status == 401:
        raise _permanent("access_revoked")
    if status in (403, 426):
        raise _permanent("access_limited")  # no membership, a scope refused, or an app update needed
    if status >= 300:
        raise _permanent("server_error")
    try:
        data = response.json()
    except ValueError:
        raise _permanent("server_error") from None
    if not isinstance(data, dict):
        raise _permanent("server_error")
    return data


def _token_request(data: dict) -> Tokens:
    client_id, client_secret = client_credentials()
    response = _send(
        "POST",
        "/oauth/token",
        data={**data, "client_id": client_id, "client_secret": client_secret},
        headers={"Accept": "application/json"},
    )
    if response.status_code in (400, 401):
        error = ""
        with contextlib.suppress(ValueError, AttributeError):
            error = str(response.json().get("error", ""))
        raise _permanent("access_revoked" if error == "invalid_grant" else "not_configured")
    body = _json(response)
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise _permanent("server_error")
    try:
        expires_in = int(body.get("expires_in") or 86400)
    except (TypeError, ValueError):
        expires_in = 86400
    return Tokens(
        access_token=access_token,
        refresh_token=str(body.get("refresh_token") or ""),
        expires_at=timezone.now() + datetime.timedelta(seconds=max(expires_in, 0)),
        scope=str(body.get("scope") or ""),
    )


def token_exchange(*, code: str, redirect_uri: str) -> Tokens:
    return _token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})


def token_refresh(*, refresh_token: str) -> Tokens:
    """New tokens for a refresh token (Oura's refresh tokens are single use: keep the new one)."""
    return _token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})


def token_revoke(*, access_token: str) -> None:
    response = _send("GET", "/oauth/revoke", params={"access_token": access_token})
    if response.status_code >= 300:
        _json(response)


def heartrate_page(*, access_token: str, start: str, end: str, next_token: str | None) -> dict:
    """One page of /v2/usercollection/heartrate: {data: [{bpm, source, timestamp}], next_token}."""
    params = {"start_datetime": start, "end_datetime": end}
    if next_token:
        params["next_token"] = next_token
    return _json(
        _send(
            "GET",
            "/v2/usercollection/heartrate",
            params=params,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
    )
