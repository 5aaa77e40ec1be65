"""Retention: old access-log events go through one function only; the beat schedule runs every job."""

import datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.retention import audit_events_purge
from accounts.services import audit_record


def _aged(subject, *, days_ago: float, action="account.login") -> AuditEvent:
    """An event written `days_ago` days ago (the clock is moved, not the row: rows cannot be updated)."""
    from unittest import mock

    moment = timezone.now() - datetime.timedelta(days=days_ago)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        return audit_record(actor_kind="patient", actor=subject, subject=subject, action=action)


def test_events_older_than_the_retention_period_are_deleted_and_the_rest_kept(patient, settings):
    settings.AUDIT_RETENTION_DAYS = 2192
    old = [_aged(patient, days_ago=2193 + n) for n in range(3)]
    kept = [_aged(patient, days_ago=2191), _aged(patient, days_ago=1)]
    assert audit_events_purge(batch_size=2) == 3
    remaining = set(AuditEvent.objects.filter(subject=patient).values_list("pk", flat=True))
    assert not remaining & {event.pk for event in old}
    assert {event.pk for event in kept} <= remaining
    purged = AuditEvent.objects.get(action="audit.purged")
    assert purged.actor_kind == "job" and purged.subject is None and purged.object_id == "3"
    assert audit_events_purge() == 0, "running again removes nothing more"
    assert AuditEvent.objects.filter(action="audit.purged").count() == 1


def test_the_retention_period_is_a_setting(patient, settings):
    _aged(patient, days_ago=40)
    settings.AUDIT_RETENTION_DAYS = 60
    assert audit_events_purge() == 0
    settings.AUDIT_RETENTION_DAYS = 30
    assert audit_events_purge() == 1


def test_a_retention_below_one_day_is_refused(monkeypatch):
    from healthspace.settings import _positive_int

    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "0")
    with pytest.raises(ImproperlyConfigured, match="AUDIT_RETENTION_DAYS"):
        _positive_int("AUDIT_RETENTION_DAYS", 2192)
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "3650")
    assert _positive_int("AUDIT_RETENTION_DAYS", 2192) == 3650
    with pytest.raises(ValueError):
        audit_events_purge(days=0)


def test_the_orm_still_refuses_to_delete_or_change_events(patient):
    event = _aged(patient, days_ago=5000)
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_auditevent SET action = 'forged' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "account.login"


def test_every_retention_job_is_on_the_beat_schedule():
    from healthspace.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {
        "accounts.tasks.audit_events_purge_task",
        "records.tasks.share_links_purge_task",
        "integrations.tasks.uploads_clean_abandoned_task",
        "accounts.tasks.data_exports_expire_task",
    } <= tasks
    app.loader.import_default_modules()
    assert tasks <= set(app.tasks), "every scheduled task exists"


def test_the_purge_task_runs_the_purge(patient, settings):
    from accounts.tasks import audit_events_purge_task

    settings.AUDIT_RETENTION_DAYS = 10
    _aged(patient, days_ago=11)
    assert audit_events_purge_task.apply().get() == 1
