"""Background jobs of the integrations app: ids in, state re-read, idempotent work."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from .models import SyncRun
from .retention import uploads_orphaned_delete
from .services import connections_sync_due, sync_run_execute, sync_runs_requeue

# A run left without a finish this long after it was queued is abandoned; its upload is removed.
ABANDONED_AFTER = timedelta(days=7)
# A run still waiting this long had its message lost (broker down when it was sent): send it again.
# Long enough that a merely busy queue is not sent twice (a duplicate would only redo idempotent work).
REQUEUE_AFTER = timedelta(minutes=15)
# A run still running this long after it started has no live task: the hard time limit ends any
# task before then. Its worker died, or gave up while the database was away: send it again.
STALLED_AFTER = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT) + timedelta(minutes=5)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def sync_run_execute_task(run_id: int) -> None:
    """Run one queued import or sync (a re-delivery after a crash redoes it; writes are idempotent)."""
    run = SyncRun.objects.select_related("connection", "owner").filter(pk=run_id).first()
    if run is None or run.is_finished:
        return
    sync_run_execute(run=run)


@shared_task(acks_late=True, ignore_result=True)
def uploads_clean_abandoned_task() -> int:
    """Delete uploads of runs that never finished or failed long ago, and files no run names (safe any time)."""
    cutoff = timezone.now() - ABANDONED_AFTER
    stale = SyncRun.objects.filter(created_at__lt=cutoff).exclude(upload_name="")
    removed = 0
    for run in stale.exclude(outcome=SyncRun.Outcome.RUNNING).iterator():
        default_storage.delete(run.upload_name)
        SyncRun.objects.filter(pk=run.pk).update(upload_name="")
        removed += 1
    return removed + uploads_orphaned_delete(older_than=ABANDONED_AFTER)


@shared_task(acks_late=True, ignore_result=True)
def sync_runs_requeue_task() -> int:
    """Send again the runs whose message never reached the broker or whose task died (beat, every few minutes)."""
    return sync_runs_requeue(older_than=REQUEUE_AFTER, stalled_after=STALLED_AFTER)


@shared_task(acks_late=True, ignore_result=True)
def connections_sync_due_task() -> int:
    """Queue the periodic sync of every API source that is due (beat, every few minutes)."""
    return connections_sync_due()


@shared_task(acks_late=True, ignore_result=True)
def tokens_refresh_due_task() -> int:
    """Refresh OAuth tokens ahead of their expiry (beat, every few minutes; safe any time)."""
    from .oauth import tokens_refresh_due

    return tokens_refresh_due()
