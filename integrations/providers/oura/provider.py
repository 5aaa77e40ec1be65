"""Oura (API v2, OAuth2): heart rate, daily activity, sleep stages and blood oxygen fetched from the Oura cloud."""

from django.utils.translation import gettext_lazy as _

from integrations import oauth
from records.models import Source

from ..base import Provider

# Plain-language reasons a connection needs the patient (Connection.attention_code -> message).
ATTENTION_REASONS = {
    "access_revoked": _("Oura no longer accepts HealthSpace's access. Connect again."),
    "access_limited": _("Oura refused to share this data: your Oura membership or the permissions you gave."),
    "server_error": _("Oura sent an answer HealthSpace cannot read."),
    "not_configured": _("The Oura connection is not set up on this HealthSpace."),
}


PROVIDER = Provider(
    slug="oura",
    replaces_samples=True,
    name=_("Oura"),
    description=_(
        "Sign in at Oura and let HealthSpace fetch your ring's heart rate, daily activity, sleep and blood oxygen."
    ),
    kind="oauth",
    connect_url="oura:connect",
    oauth_source="integrations.providers.oura.flow.SOURCE",
    record_source=Source.OURA,
    sync_task="integrations.providers.oura.tasks.oura_sync_task",
    attention_reasons=ATTENTION_REASONS,
    revoke=oauth.revoke,
)
