"""Reads of connections and runs, always scoped to one owner."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from accounts.rollout import feature_is_open, waitlist_flags_for_user, waitlist_url

from .models import Connection, SyncRun
from .providers.base import providers


def connections_overview_for_user(*, user: User) -> list[dict]:
    """Every installed provider with the owner's connections to it and their recent runs.

    `connection` is the first of them (or None); API sources also say whether this HealthSpace is set up
    for them (`configured`) and what the patient may connect now (`choices`, e.g. one per EHR portal).
    `gated`: the source's rollout flag is closed to the patient (then `waitlist_url` is its waitlist page).
    """
    from .oauth import source_of  # the OAuth pages read connections through this module

    connections: dict[str, list[Connection]] = {}
    for connection in Connection.objects.filter(owner=user).select_related("fhir_server").order_by("created_at", "id"):
        connections.setdefault(connection.provider, []).append(connection)
    runs: dict[int, list[SyncRun]] = {}
    for run in SyncRun.objects.filter(owner=user).order_by("-created_at", "-id")[:200]:
        runs.setdefault(run.connection_id, []).append(run)
    overview = []
    waiting = None  # the patient's waitlists, read once if a source is gated
    for slug, provider in providers().items():
        mine = connections.get(slug, [])
        row = {
            "provider": provider,
            "connection": mine[0] if mine else None,
            "connections": mine,
            "runs": sorted(
                (run for connection in mine for run in runs.get(connection.pk, [])),
                key=lambda run: (run.created_at, run.pk),
                reverse=True,
            )[:5],
        }
        # A source behind a rollout flag the patient is outside of: no Connect, a waitlist link instead.
        row["gated"] = not feature_is_open(user=user, flag=provider.feature)
        if row["gated"]:
            if waiting is None:
                waiting = waitlist_flags_for_user(user=user)
            row["waitlist_url"], row["waitlisted"] = waitlist_url(provider.feature), provider.feature in waiting
        if provider.oauth_source and not row["gated"]:
            source = source_of(provider)
            row["configured"] = source.configured(user=user)
            row["choices"] = source.connect_choices(user=user, connections=mine) if row["configured"] else []
        overview.append(row)
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
