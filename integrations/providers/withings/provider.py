"""Withings (OAuth2): body measures (weight, body fat, blood pressure, pulse, SpO2) fetched from the Withings API."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider

# Plain-language reasons a connection needs the patient (Connection.attention_code -> message).
ATTENTION_REASONS = {
    "access_revoked": _("Withings no longer accepts HealthSpace's access. Connect again."),
    "server_error": _("Withings sent an answer HealthSpace cannot read."),
    "not_configured": _("The Withings connection is not set up on this HealthSpace."),
}


def _revoke(connection) -> None:
    """Called by connection_disconnect: revoke at the provider (imported late: flow imports this module)."""
    from .flow import connection_revoke

    connection_revoke(connection)


PROVIDER = Provider(
    slug="withings",
    replaces_samples=True,
    name=_("Withings"),
    description=_("Sign in at Withings and let HealthSpace fetch your scale, blood pressure and pulse readings."),
    kind="oauth",
    connect_url="withings:connect",
    record_source=Source.WITHINGS,
    sync_task="integrations.providers.withings.tasks.withings_sync_task",
    attention_reasons=ATTENTION_REASONS,
    revoke=_revoke,
)
