"""Background jobs for accounts."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from .erasure import ERASURE_ATTEMPTS, ConfirmationNotSent


@shared_task(ignore_result=True)
def sessions_clear_expired_task() -> int:
    """Delete expired sessions (any number of runs; each removes what has expired since)."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


# -- the privacy centre ---------------------------------------------------------------------------------

# An export or erasure still waiting this long had its message lost: it is sent again.
PRIVACY_REQUEUE_AFTER = timedelta(minutes=15)
# An export still being built this long after it started has no live task (the hard time limit ends any).
EXPORT_STALLED_AFTER = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT) + timedelta(minutes=5)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def data_export_build_task(export_id: int) -> None:
    """Build one asked-for export (a redelivery after a crash builds it again; the first archive is replaced)."""
    from .export import export_build
    from .models import DataExport

    export = DataExport.objects.select_related("owner__profile").filter(pk=export_id).first()
    if export is None or export.is_finished:
        return
    export_build(export=export)


@shared_task(acks_late=True, ignore_result=True)
def data_exports_expire_task() -> int:
    """Delete archives past their day, and send again exports whose message was lost (beat, every 15 minutes)."""
    from .export import exports_expire, exports_requeue

    removed = exports_expire()
    exports_requeue(older_than=PRIVACY_REQUEUE_AFTER, stalled_after=EXPORT_STALLED_AFTER)
    return removed


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, ConfirmationNotSent),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=ERASURE_ATTEMPTS,
    ignore_result=True,
)
def account_erase_task(erasure_id: int) -> None:
    """Erase one account (re-runnable: each step finds what is left; done is done)."""
    from .erasure import account_erase
    from .models import AccountErasure

    erasure = AccountErasure.objects.filter(pk=erasure_id).first()
    if erasure is None or erasure.status == AccountErasure.Status.DONE:
        return
    account_erase(erasure=erasure)


@shared_task(acks_late=True, ignore_result=True)
def erasures_requeue_task() -> int:
    """Send again erasures not done after a while (beat, every 15 minutes)."""
    from .erasure import erasures_requeue

    return erasures_requeue(older_than=PRIVACY_REQUEUE_AFTER)


@shared_task(acks_late=True, ignore_result=True)
def audit_events_purge_task() -> int:
    """Delete access-log events older than AUDIT_RETENTION_DAYS (beat, daily; safe to run any time)."""
    from .retention import audit_events_purge

    return audit_events_purge()
