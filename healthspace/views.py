"""Operational endpoints."""

import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from .tasks import HEARTBEAT_CACHE_KEY


@never_cache
def health(request):
    """Database, cache and worker status for load balancers and operators (no personal data)."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means "down" to a load balancer
        checks["database"] = "down"
    try:
        beat = cache.get(HEARTBEAT_CACHE_KEY)
        checks["cache"] = "ok"
    except Exception:  # noqa: BLE001
        beat = None
        checks["cache"] = "down"
    worker = "unknown"
    if beat:
        age = timezone.now() - datetime.datetime.fromisoformat(beat)
        worker = "ok" if age.total_seconds() <= settings.WORKER_HEARTBEAT_MAX_AGE else "late"
    checks["worker"] = worker
    healthy = checks["database"] == "ok" and checks["cache"] == "ok"
    return JsonResponse({"status": "ok" if healthy else "down", **checks}, status=200 if healthy else 503)
