"""SMART on FHIR (standalone patient launch): records fetched from a staff-registered EHR server."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider

# Plain-language reasons a connection needs the patient (Connection.attention_code -> message).
ATTENTION_REASONS = {
    "access_revoked": _("The health record server no longer accepts HealthSpace's access. Connect again."),
    "access_limited": _("The health record server refused to share these records with HealthSpace."),
    "server_misconfigured": _("This health record server is not set up correctly for HealthSpace."),
    "server_error": _("The health record server sent an answer HealthSpace cannot read."),
    "unsafe_link": _("The health record server pointed to another address; HealthSpace stopped for safety."),
    "no_patient": _("The health record server did not say whose records to share."),
}


PROVIDER = Provider(
    slug="smart-fhir",
    name=_("Health record (SMART on FHIR)"),
    description=_("Sign in at your hospital's or clinic's patient portal and let HealthSpace fetch your records."),
    kind="oauth",
    record_source=Source.FHIR,
    connect_url="smart_fhir:connect",
    oauth_source="integrations.providers.smart_fhir.flow.SOURCE",
    sync_task="integrations.providers.smart_fhir.tasks.smart_fhir_sync_task",
    attention_reasons=ATTENTION_REASONS,
    # US only at launch (the flag is created by accounts' migration 0003; staff widen it in the console).
    feature="ehr-connection",
)
