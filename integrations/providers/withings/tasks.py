"""Background work of Withings: one sync run at a time, ids in, idempotent (integrations.oauth.sync_task)."""

from integrations.oauth import sync_task

withings_sync_task = sync_task("integrations.providers.withings.flow.SOURCE", f"{__name__}.withings_sync_task")
