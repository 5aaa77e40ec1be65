"""The sync-health page of the staff console: failures by source and reason, stuck runs, attention."""

import datetime

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Permission
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import StaffFactory
from integrations.models import Connection, SyncRun
from integrations.sync_health import sync_health

NOW = timezone.now()


def _run(connection, outcome, *, ago, code="", started_ago=None):
    run = SyncRun.objects.create(
        owner=connection.owner, connection=connection, kind=SyncRun.Kind.SYNC, outcome=outcome, error_code=code
    )
    created = NOW - ago
    finished = created if outcome in (SyncRun.Outcome.SUCCEEDED, SyncRun.Outcome.FAILED) else None
    started = NOW - started_ago if started_ago is not None else None
    SyncRun.objects.filter(pk=run.pk).update(created_at=created, finished_at=finished, started_at=started)
    return run


@pytest.fixture
def fleet(patient, other_patient):
    """Runs of two sources over the last ten days, some stuck, one connection needing its patient."""
    withings = Connection.objects.create(owner=patient, provider="withings")
    oura = Connection.objects.create(
        owner=other_patient, provider="oura", status=Connection.Status.NEEDS_ATTENTION, attention_code="access_revoked"
    )
    hours = datetime.timedelta(hours=1)
    _run(withings, "succeeded", ago=2 * hours)
    _run(withings, "failed", ago=3 * hours, code="server_unavailable")
    _run(withings, "failed", ago=5 * hours, code="server_unavailable")
    _run(withings, "failed", ago=30 * hours, code="rate_limited")  # this week, not today
    _run(withings, "failed", ago=10 * 24 * hours, code="server_error")  # older than a week
    _run(oura, "failed", ago=1 * hours, code="access_revoked")
    stuck_queued = _run(withings, "queued", ago=3 * hours)
    stuck_running = _run(oura, "running", ago=4 * hours, started_ago=2 * hours)
    _run(withings, "queued", ago=datetime.timedelta(minutes=5))  # waiting normally
    _run(oura, "running", ago=5 * hours, started_ago=datetime.timedelta(minutes=10))  # a long import, still fresh
    return {"stuck": {stuck_queued.pk, stuck_running.pk}}


def _rows(windows, key):
    window = next(window for window in windows if window["key"] == key)
    return {row.provider: (row.succeeded, row.failed, row.reasons) for row in window["providers"]}


def test_failures_by_source_and_reason_over_a_day_and_a_week(fleet):
    health = sync_health(stuck_after=datetime.timedelta(hours=1), now=NOW)
    assert _rows(health["windows"], "24h") == {
        "withings": (1, 2, [("server_unavailable", 2)]),
        "oura": (0, 1, [("access_revoked", 1)]),
    }
    assert _rows(health["windows"], "7d")["withings"] == (1, 3, [("server_unavailable", 2), ("rate_limited", 1)])
    assert {run.pk for run in health["stuck"]} == fleet["stuck"]
    assert sorted((r["connection__provider"], r["outcome"], r["count"]) for r in health["stuck_counts"]) == [
        ("oura", "running", 1),
        ("withings", "queued", 1),
    ]
    assert health["attention"] == [{"provider": "oura", "attention_code": "access_revoked", "count": 1}]


def test_the_threshold_decides_what_is_stuck(fleet):
    health = sync_health(stuck_after=datetime.timedelta(hours=6), now=NOW)
    assert health["stuck"] == [] and health["stuck_counts"] == []


@pytest.fixture
def support_client(staff):
    TOTP.activate(staff, generate_totp_secret())
    client = Client()
    client.force_login(staff)
    return client


def test_support_staff_see_the_page_and_its_link(support_client, fleet, settings):
    settings.SYNC_STUCK_AFTER_MINUTES = 60
    index = support_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:sync_health") in index and "Sync health" in index
    page = support_client.get(reverse("admin:sync_health")).content.decode()
    assert "server_unavailable" in page and "access_revoked" in page and "rate_limited" in page
    assert "more than 60 minutes" in page
    for pk in fleet["stuck"]:
        assert reverse("admin:integrations_syncrun_change", args=[pk]) in page


def test_the_page_costs_the_same_queries_whatever_the_volume(support_client, fleet, patient):
    def queries():
        with CaptureQueriesContext(db_connection) as captured:
            assert support_client.get(reverse("admin:sync_health")).status_code == 200
        return len(captured)

    queries()  # the first request of a session does a little more (the session's own bookkeeping)
    before = queries()
    extra = Connection.objects.create(owner=patient, provider="oura")
    for _ in range(20):
        _run(extra, "failed", ago=datetime.timedelta(hours=2), code="server_timeout")
        _run(extra, "queued", ago=datetime.timedelta(hours=3))
    assert queries() == before


def test_staff_without_run_permissions_and_patients_are_refused(patient_client, db):
    assert patient_client.get(reverse("admin:sync_health")).status_code in (302, 403)
    other = StaffFactory(email="other.staff@healthspace.example")
    other.groups.clear()
    other.user_permissions.add(Permission.objects.get(codename="view_user"))
    TOTP.activate(other, generate_totp_secret())
    client = Client()
    client.force_login(other)
    assert client.get(reverse("admin:sync_health")).status_code == 403
    assert reverse("admin:sync_health") not in client.get(reverse("admin:index")).content.decode()
