"""Core background jobs."""

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_CACHE_KEY = "healthspace:worker-heartbeat"


@shared_task(ignore_result=True)
def heartbeat_task() -> None:
    """Record that a worker is alive (run by beat every minute; safe to run any number of times)."""
    cache.set(HEARTBEAT_CACHE_KEY, timezone.now().isoformat(), timeout=None)
