"""Withings (OAuth2): body measures, daily activity and sleep stages fetched from the Withings API."""

from django.utils.translation import gettext_lazy as _

from integrations import oauth
from records.models import Source

from ..base import Provider

# Plain-language reasons a connection needs the patient (Connection.attention_code -> message).
ATTENTION_REASONS = {
    "access_revoked": _("Withings no longer accepts HealthSpace's access. Connect again."),
    "server_error": _("Withings sent an answer HealthSpace cannot read."),
    "not_configured": _("The Withings connection is not set up on this HealthSpace."),
}


PROVIDER = Provider(
    slug="withings",
    replaces_samples=True,
    name=_("Withings"),
    description=_(
        "Sign in at Withings and let HealthSpace fetch your scale, blood pressure and pulse readings, "
        "your daily activity and your sleep."
    ),
    kind="oauth",
    connect_url="withings:connect",
    oauth_source="integrations.providers.withings.flow.SOURCE",
    record_source=Source.WITHINGS,
    sync_task="integrations.providers.withings.tasks.withings_sync_task",
    attention_reasons=ATTENTION_REASONS,
    revoke=oauth.revoke,
)
