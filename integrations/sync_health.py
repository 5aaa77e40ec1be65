"""Reads for the staff console's sync-health page: counts and codes across all patients, never content.

Every figure is a grouped count over SyncRun and Connection metadata (provider, outcome, error code,
attention code, times); nothing here reads an encrypted column or a patient's data.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Connection, SyncRun

WINDOWS = (("24h", datetime.timedelta(hours=24)), ("7d", datetime.timedelta(days=7)))
STUCK_LIST_LIMIT = 100


@dataclass(frozen=True)
class ProviderWindow:
    """One provider's finished runs in a time window: how many ended well, how many failed and why."""

    provider: str
    succeeded: int
    failed: int
    reasons: list[tuple[str, int]]

    @property
    def failure_rate(self) -> int:
        """Failed runs as a whole percentage of finished runs."""
        finished = self.succeeded + self.failed
        return round(100 * self.failed / finished) if finished else 0


def sync_outcomes_by_provider(*, since: datetime.datetime) -> list[ProviderWindow]:
    """Runs finished since `since`, by provider: succeeded, failed, and failures by error code (two queries)."""
    finished = SyncRun.objects.filter(finished_at__gte=since)
    totals = (
        finished.values("connection__provider")
        .annotate(
            succeeded=Count("id", filter=Q(outcome=SyncRun.Outcome.SUCCEEDED)),
            failed=Count("id", filter=Q(outcome=SyncRun.Outcome.FAILED)),
        )
        .order_by("connection__provider")
    )
    reasons: dict[str, list[tuple[str, int]]] = {}
    for row in (
        finished.filter(outcome=SyncRun.Outcome.FAILED)
        .values("connection__provider", "error_code")
        .annotate(count=Count("id"))
        .order_by("connection__provider", "-count", "error_code")
    ):
        reasons.setdefault(row["connection__provider"], []).append((row["error_code"] or "-", row["count"]))
    return [
        ProviderWindow(
            provider=row["connection__provider"],
            succeeded=row["succeeded"],
            failed=row["failed"],
            reasons=reasons.get(row["connection__provider"], []),
        )
        for row in totals
    ]


def sync_runs_stuck(*, older_than: datetime.timedelta, now: datetime.datetime | None = None) -> QuerySet[SyncRun]:
    """Runs still waiting, or running, longer than `older_than`: the oldest first."""
    cutoff = (now or timezone.now()) - older_than
    return (
        SyncRun.objects.annotate(since=Coalesce("started_at", "created_at"))
        .filter(
            Q(outcome=SyncRun.Outcome.QUEUED, created_at__lt=cutoff)
            | Q(outcome=SyncRun.Outcome.RUNNING, since__lt=cutoff)
        )
        .select_related("connection")
        .order_by("since", "id")
    )


def sync_runs_stuck_counts(*, older_than: datetime.timedelta, now: datetime.datetime | None = None) -> list[dict]:
    """How many runs are stuck, by provider and state (one query)."""
    return list(
        sync_runs_stuck(older_than=older_than, now=now)
        .values("connection__provider", "outcome")
        .annotate(count=Count("id"))
        .order_by("connection__provider", "outcome")
    )


def connections_needing_attention() -> list[dict]:
    """Connections that wait for their patient, by provider and reason code (one query)."""
    return list(
        Connection.objects.filter(status=Connection.Status.NEEDS_ATTENTION)
        .values("provider", "attention_code")
        .annotate(count=Count("id"))
        .order_by("provider", "-count", "attention_code")
    )


def sync_health(*, stuck_after: datetime.timedelta, now: datetime.datetime | None = None) -> dict:
    """Everything the sync-health page shows, in a fixed number of queries whatever the volume."""
    now = now or timezone.now()
    return {
        "windows": [
            {"key": key, "span": span, "providers": sync_outcomes_by_provider(since=now - span)}
            for key, span in WINDOWS
        ],
        "stuck_counts": sync_runs_stuck_counts(older_than=stuck_after, now=now),
        "stuck": list(sync_runs_stuck(older_than=stuck_after, now=now)[:STUCK_LIST_LIMIT]),
        "attention": connections_needing_attention(),
        "stuck_after": stuck_after,
        "now": now,
    }
