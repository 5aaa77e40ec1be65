"""Background work of Oura: one sync run at a time, ids in, idempotent (integrations.oauth.sync_task)."""

from integrations.oauth import sync_task

oura_sync_task = sync_task("integrations.providers.oura.flow.SOURCE", f"{__name__}.oura_sync_task")
