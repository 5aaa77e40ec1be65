"""Retention of the access log: events older than AUDIT_RETENTION_DAYS are deleted, here and nowhere else.

The audit trail is append-only through the ORM (AppendOnlyQuerySet refuses `delete()`) and the database
refuses UPDATEs beyond detaching a person (migrations 0002 and 0004); a DELETE is not refused by the
database, so that this one function can remove what is past retention. It deletes in batches (short
transactions, no long lock on a large table) and leaves one event saying how many it removed.

What the other retention jobs cover, so nothing is forgotten (beat schedule in healthspace/celery.py):
- share links: records/retention.py (a while after they close);
- abandoned uploads: integrations/tasks.py `uploads_clean_abandoned_task`, orphaned files included;
- data exports: accounts/export.py `exports_expire` (`data_exports_expire_task`, after their day);
- temporary chats: nothing to delete. Their turns live in the patient's browser and come back with each
  message (chat/services.py `temporary_history`); the server stores no message, no conversation and
  nothing in the cache. What a temporary chat leaves is the audit events of its tool and provider calls
  (codes and ids, no content), which follow this module's retention.
"""

import datetime

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from .models import AuditEvent
from .services import audit_record

BATCH_SIZE = 5000


def audit_events_purge(
    *, days: int | None = None, now: datetime.datetime | None = None, batch_size: int = BATCH_SIZE
) -> int:
    """Delete audit events older than `days` (AUDIT_RETENTION_DAYS by default); how many (re-runnable)."""
    days = settings.AUDIT_RETENTION_DAYS if days is None else days
    if days < 1:
        raise ValueError("The audit retention period is at least one day.")
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    # A plain QuerySet: the model's own manager refuses deletes, which is the point of it.
    events = models.QuerySet(model=AuditEvent)
    removed = 0
    while True:
        batch = list(
            events.filter(created_at__lt=cutoff).order_by("created_at", "id").values_list("id", flat=True)[:batch_size]
        )
        if not batch:
            break
        with transaction.atomic():
            deleted, _by_model = events.filter(pk__in=batch).delete()
        removed += deleted
    if removed:
        audit_record(
            actor_kind=AuditEvent.ActorKind.JOB,
            action="audit.purged",
            object_type="audit_event",
            object_id=str(removed),
            reason=f"older than {days} days",
        )
    return removed
