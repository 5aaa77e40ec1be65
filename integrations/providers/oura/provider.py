"""Oura (API v2, OAuth2): heart rate fetched from the Oura cloud."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider

# Plain-language reasons a connection needs the patient (Connection.attention_code -> message).
ATTENTION_REASONS = {
    "access_revoked": _("Oura no longer accepts HealthSpace's access. Connect again."),
    "access_limited": _("Oura refused to share this data: your Oura membership or the permissions you gave."),
    "server_error": _("Oura sent an answer HealthSpace cannot read."),
    "not_configured": _("The Oura connection is not set up on this HealthSpace."),
}


def _revoke(connection) -> None:
    """Called by connection_disconnect: revoke at the provider (imported late: flow imports this module)."""
    from .flow import connection_revoke

    connection_revoke(connection)


PROVIDER = Provider(
    slug="oura",
    replaces_samples=True,
    name=_("Oura"),
    description=_("Sign in at Oura and let HealthSpace fetch your ring's heart-rate readings."),
    kind="oauth",
    connect_url="oura:connect",
    record_source=Source.OURA,
    sync_task="integrations.providers.oura.tasks.oura_sync_task",
    attention_reasons=ATTENTION_REASONS,
    revoke=_revoke,
)
