"""Background work of Oura: one sync run at a time, ids in, idempotent."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from integrations.models import SyncRun

from . import flow
from .client import TransientProviderError


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientProviderError, OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=flow.SYNC_ATTEMPTS - 1,
    ignore_result=True,
)
def oura_sync_task(run_id: int) -> None:
    """Run one queued Oura sync; a re-delivery or retry redoes it (writes are idempotent)."""
    run = SyncRun.objects.select_related("connection", "owner__profile").filter(pk=run_id).first()
    if run is None or run.is_finished:
        return
    flow.connection_sync(connection=run.connection, run=run)
