"""The one HTTP seam to the Withings API: tokens, revocation and measures, each with a timeout.

Withings answers HTTP 200 with `{"status": <code>, "body": {...}}`; a non-zero status is an error.
Errors come out as ProviderError: permanent ones (a revoked grant) need the patient; transient ones
(601 "too many requests", 429, 5xx, timeouts) are retried. Messages are plain words for the patient
and never carry a token or a health value.
"""

import datetime
import email.utils
import hashlib
import hmac
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
# httpx logs every request URL at INFO.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = "HealthSpace Withings client"
RATE_LIMIT_RETRIES = 2
# Withings statuses: an invalid, expired or revoked token or user (needs the patient to connect again).
AUTH_STATUSES = frozenset({100, 101, 102, 200, 401})
# "Too many requests".
RATE_LIMITED_STATUS = 601
# Withings-side failures worth retrying ("unknown error", timeouts on their side).
TRANSIENT_STATUSES = frozenset({522, 2554, 2555})


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
    userid: str


def api_base() -> str:
    return getattr(settings, "WITHINGS_API_BASE", "https://wbsapi.withings.net").rstrip("/")


def authorize_endpoint() -> str:
    return getattr(settings, "WITHINGS_AUTHORIZE_URL", "https://account.withings.com/oauth2_user/authorize2")


def client_credentials() -> tuple[str, str]:
    client_id = getattr(settings, "WITHINGS_CLIENT_ID", "")
    client_secret = getattr(settings, "WITHINGS_CLIENT_SECRET", "")
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


def _send(path: str, data: dict, access_token: str = "") -> httpx.Response:
    """One POST, with HTTP 429s waited out in place when Withings asks for a short wait."""
    wait_max = float(getattr(settings, "WITHINGS_RETRY_AFTER_MAX", 30))
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            # No redirects: a redirect could lead to another host with the patient's token.
            with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as http:
                response = http.post(f"{api_base()}{path}", data=data, headers=headers)
        except httpx.TimeoutException:
            raise TransientProviderError(_("Withings did not answer in time."), code="server_timeout") from None
        except httpx.TransportError:
            raise TransientProviderError(_("Withings could not be reached."), code="server_unreachable") from None
        if response.status_code != 429:
            return response
        retry_after = _retry_after(response)
        if retry_after is None or retry_after > wait_max or attempt == RATE_LIMIT_RETRIES:
            raise TransientProviderError(
                _("Withings asked HealthSpace to slow down."), code="rate_limited", retry_after=retry_after
            )
        time.sleep(retry_after)
    raise AssertionError("unreachable")  # pragma: no cover


def _call(path: str, data: dict, access_token: str = "") -> dict:
    """The `body` of a Withings answer, or the ProviderError its status means."""
    response = _send(path, data, access_token)
    if response.status_code >= 500:
        raise TransientProviderError(_("Withings is unavailable for now."), code="server_unavailable")
    if response.status_code == 401:
        raise _permanent("access_revoked")
    if response.status_code >= 300:
        raise _permanent("server_error")
    try:
        answer = response.json()
    except ValueError:
        raise _permanent("server_error") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), int):
        raise _permanent("server_error")
    status = answer["status"]
    if status == RATE_LIMITED_STATUS:
        raise TransientProviderError(_("Withings asked HealthSpace to slow down."), code="rate_limited")
    if status in TRANSIENT_STATUSES:
        raise TransientProviderError(_("Withings is unavailable for now."), code="server_unavailable")
    if status in AUTH_STATUSES:
        raise _permanent("access_revoked")
    if status != 0:
        raise _permanent("server_error")
    body = answer.get("body")
    return body if isinstance(body, dict) else {}


def _token_request(data: dict) -> Tokens:
    client_id, client_secret = client_credentials()
    try:
        body = _call(
            "/v2/oauth2",
            {"action": "requesttoken", "client_id": client_id, "client_secret": client_secret, **data},
        )
    except ProviderError as error:
        if error.permanent:
            # A code or refresh token Withings refuses (status 503 "invalid params" and the like).
            raise _permanent("access_revoked") from None
        raise
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise _permanent("server_error")
    try:
        expires_in = int(body.get("expires_in") or 10800)
    except (TypeError, ValueError):
        expires_in = 10800
    return Tokens(
        access_token=access_token,
        refresh_token=str(body.get("refresh_token") or ""),
        expires_at=timezone.now() + datetime.timedelta(seconds=max(expires_in, 0)),
        scope=str(body.get("scope") or ""),
        userid=str(body.get("userid") or ""),
    )


def token_exchange(*, code: str, redirect_uri: str) -> Tokens:
    """Trade an authorization code for tokens."""
    return _token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})


def token_refresh(*, refresh_token: str) -> Tokens:
    """New tokens for a refresh token (Withings rotates it: keep the new one)."""
    return _token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})


def _signature(client_secret: str, *parts: str) -> str:
    return hmac.new(client_secret.encode(), ",".join(parts).encode(), hashlib.sha256).hexdigest()


def token_revoke(*, userid: str) -> None:
    """Revoke HealthSpace's access for a Withings user (signed request: a nonce first, then `revoke`)."""
    client_id, client_secret = client_credentials()
    timestamp = str(int(time.time()))
    nonce_body = _call(
        "/v2/signature",
        {
            "action": "getnonce",
            "client_id": client_id,
            "timestamp": timestamp,
            "signature": _signature(client_secret, "getnonce", client_id, timestamp),
        },
    )
    nonce = str(nonce_body.get("nonce") or "")
    if not nonce:
        raise _permanent("server_error")
    _call(
        "/v2/oauth2",
        {
            "action": "revoke",
            "client_id": client_id,
            "nonce": nonce,
            "signature": _signature(client_secret, "revoke", client_id, nonce),
            "userid": userid,
        },
    )


def measures_page(*, access_token: str, meastypes: str, lastupdate: int | None, offset: int | None) -> dict:
    """One page of `measure?action=getmeas`: {updatetime, measuregrps, more, offset}."""
    data = {"action": "getmeas", "meastypes": meastypes, "category": "1"}
    if lastupdate is not None:
        data["lastupdate"] = str(lastupdate)
    if offset:
        data["offset"] = str(offset)
    return _call("/measure", data, access_token)
