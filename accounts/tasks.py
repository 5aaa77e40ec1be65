"""Background jobs for accounts."""

from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone


@shared_task(ignore_result=True)
def sessions_clear_expired_task() -> int:
    """Delete expired sessions (any number of runs; each removes what has expired since)."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
