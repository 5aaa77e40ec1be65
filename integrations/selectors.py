"""Reads of connections and runs, always scoped to one owner."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User

from .models import Connection, SyncRun
from .providers.base import providers


def connections_overview_for_user(*, user: User) -> list[dict]:
    """Every installed provider with the owner's connection to it (or None) and its recent runs."""
    connections = {connection.provider: connection for connection in Connection.objects.filter(owner=user)}
    runs: dict[int, list[SyncRun]] = {}
    for run in SyncRun.objects.filter(owner=user).order_by("-created_at", "-id")[:200]:
        runs.setdefault(run.connection_id, []).append(run)
    overview = []
    for slug, provider in providers().items():
        connection = connections.get(slug)
        overview.append(
            {
                "provider": provider,
                "connection": connection,
                "runs": runs.get(connection.pk, [])[:5] if connection else [],
            }
        )
    return overview


def connection_get_for_user(*, user: User, public_id) -> Connection:
    """One of the owner's connections, or 404."""
    try:
        return Connection.objects.get(owner=user, public_id=public_id)
    except Connection.DoesNotExist:
        raise Http404("No such connection") from None


def sync_run_get_for_user(*, user: User, public_id) -> SyncRun:
    """One of the owner's runs, or 404."""
    try:
        return SyncRun.objects.select_related("connection").get(owner=user, public_id=public_id)
    except SyncRun.DoesNotExist:
        raise Http404("No such run") from None


def sync_runs_for_connection(*, connection: Connection) -> QuerySet[SyncRun]:
    """A connection's runs, newest first."""
    return SyncRun.objects.filter(connection=connection).order_by("-created_at", "-id")
