"""The one HTTP seam to the Withings API: tokens, revocation, measures, activity and sleep (errors: integrations.oauth).

Withings answers HTTP 200 with `{"status": <code>, "body": {...}}`; a non-zero status is an error:
601 "too many requests" and Withings-side failures are retried, an invalid or revoked token or user
needs the patient, anything else is an answer HealthSpace cannot read.
"""

import hashlib
import hmac
import time

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from integrations.exceptions import ProviderError
from integrations.oauth import OAuthClient, Tokens

from .provider import ATTENTION_REASONS

# Withings statuses: an invalid, expired or revoked token or user (needs the patient to connect again).
AUTH_STATUSES = frozenset({100, 101, 102, 200, 401})
# "Too many requests".
RATE_LIMITED_STATUS = 601
# Withings-side failures worth retrying ("unknown error", timeouts on their side).
TRANSIENT_STATUSES = frozenset({522, 2554, 2555})


def api_base() -> str:
    return getattr(settings, "WITHINGS_API_BASE", "https://wbsapi.withings.net").rstrip("/")


def _signature(client_secret: str, *parts: str) -> str:
    return hmac.new(client_secret.encode(), ",".join(parts).encode(), hashlib.sha256).hexdigest()


class WithingsClient(OAuthClient):
    user_agent = "HealthSpace Withings client"
    retry_after_setting = "WITHINGS_RETRY_AFTER_MAX"
    attention_reasons = ATTENTION_REASONS
    transient_messages = {
        "server_timeout": _("Withings did not answer in time."),
        "server_unreachable": _("Withings could not be reached."),
        "rate_limited": _("Withings asked HealthSpace to slow down."),
        "server_unavailable": _("Withings is unavailable for now."),
    }
    default_expires_in = 10800
    settings_prefix = "WITHINGS"
    default_authorize_url = "https://account.withings.com/oauth2_user/authorize2"

    def call(self, path: str, data: dict, access_token: str = "") -> dict:
        """The `body` of a Withings answer to one POST, or the ProviderError its status means."""
        headers = {"Accept": "application/json"}
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        answer = self.json(self.send("POST", f"{api_base()}{path}", data=data, headers=headers))
        status = answer.get("status")
        if not isinstance(status, int):
            raise self.permanent("server_error")
        if status == RATE_LIMITED_STATUS:
            raise self.transient("rate_limited")
        if status in TRANSIENT_STATUSES:
            raise self.transient("server_unavailable")
        if status in AUTH_STATUSES:
            raise self.permanent("access_revoked")
        if status != 0:
            raise self.permanent("server_error")
        body = answer.get("body")
        return body if isinstance(body, dict) else {}

    def token_request(self, data: dict) -> Tokens:
        """Tokens for a code or a refresh token (Withings rotates refresh tokens: keep the new one)."""
        client_id, client_secret = self.client_credentials()
        try:
            body = self.call(
                "/v2/oauth2", {"action": "requesttoken", "client_id": client_id, "client_secret": client_secret, **data}
            )
        except ProviderError as error:
            if error.permanent:
                # A code or refresh token Withings refuses (status 503 "invalid params" and the like).
                raise self.permanent("access_revoked") from None
            raise
        return self.tokens(body, userid=str(body.get("userid") or ""))

    def token_revoke(self, *, userid: str) -> None:
        """Revoke HealthSpace's access for a Withings user (signed request: a nonce first, then `revoke`)."""
        client_id, client_secret = self.client_credentials()
        timestamp = str(int(time.time()))
        nonce_body = self.call(
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
            raise self.permanent("server_error")
        self.call(
            "/v2/oauth2",
            {
                "action": "revoke",
                "client_id": client_id,
                "nonce": nonce,
                "signature": _signature(client_secret, "revoke", client_id, nonce),
                "userid": userid,
            },
        )

    def page(self, path: str, action: str, *, access_token: str, offset: int | None = None, **params) -> dict:
        """One page of a paged Withings list (`more`/`offset`); parameters that are None are left out."""
        data = {"action": action, **{name: str(value) for name, value in params.items() if value is not None}}
        if offset:
            data["offset"] = str(offset)
        return self.call(path, data, access_token)


CLIENT = WithingsClient()
