"""Background work of SMART on FHIR: one sync run at a time, ids in, idempotent (integrations.oauth.sync_task)."""

from integrations.oauth import sync_task

smart_fhir_sync_task = sync_task("integrations.providers.smart_fhir.flow.SOURCE", f"{__name__}.smart_fhir_sync_task")
