"""The one HTTP seam to the Oura API v2: tokens, revocation and the user's collections (errors: integrations.oauth)."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from integrations.oauth import OAuthClient, Tokens

from .provider import ATTENTION_REASONS


def api_base() -> str:
    return getattr(settings, "OURA_API_BASE", "https://api.ouraring.com").rstrip("/")


class OuraClient(OAuthClient):
    user_agent = "HealthSpace Oura client"
    retry_after_setting = "OURA_RETRY_AFTER_MAX"
    attention_reasons = ATTENTION_REASONS
    transient_messages = {
        "server_timeout": _("Oura did not answer in time."),
        "server_unreachable": _("Oura could not be reached."),
        "rate_limited": _("Oura asked HealthSpace to slow down."),
        "server_unavailable": _("Oura is unavailable for now."),
    }
    default_expires_in = 86400
    settings_prefix = "OURA"
    default_authorize_url = "https://cloud.ouraring.com/oauth/authorize"

    def token_request(self, data: dict) -> Tokens:
        """Tokens for a code or a refresh token (Oura's refresh tokens are single use: keep the new one)."""
        client_id, client_secret = self.client_credentials()
        response = self.send(
            "POST",
            f"{api_base()}/oauth/token",
            data={**data, "client_id": client_id, "client_secret": client_secret},
            headers={"Accept": "application/json"},
        )
        if error := self.token_error(response, otherwise="not_configured"):
            raise error
        return self.tokens(self.json(response))

    def token_revoke(self, *, access_token: str) -> None:
        response = self.send("GET", f"{api_base()}/oauth/revoke", params={"access_token": access_token})
        if response.status_code >= 300:
            self.json(response)

    def collection_page(self, collection: str, *, access_token: str, params: dict, next_token: str | None) -> dict:
        """One page of /v2/usercollection/<collection>: {data: [...], next_token}."""
        if next_token:
            params = {**params, "next_token": next_token}
        response = self.send(
            "GET",
            f"{api_base()}/v2/usercollection/{collection}",
            params=params,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        return self.json(response)


CLIENT = OuraClient()
