"""Redis stopped while a patient uploads: the page answers, and the job runs once Redis is back."""

import datetime
import os
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from healthspace.celery import app as celery_app
from healthspace.tests.workers import free_port, start_redis, start_worker
from integrations.models import SyncRun
from integrations.services import sync_runs_requeue

DATA = Path(__file__).parent / "data"


def _redis(port: int) -> subprocess.Popen:
    process = start_redis(port)
    if process is None:
        pytest.fail("a test Redis could not be started")
    return process


@pytest.fixture
def own_broker(require_redis, monkeypatch):
    """Point the app's broker at a Redis of this test's own, which the test can stop and start."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    monkeypatch.setitem(celery_app.conf, "broker_url", url)
    monkeypatch.setitem(celery_app.conf, "task_publish_retry", False)
    monkeypatch.setitem(celery_app.conf, "broker_connection_timeout", 1)
    celery_app._pool = None  # forget connections to the usual broker
    celery_app.amqp._producer_pool = None
    yield port, url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_upload_while_the_broker_is_down_runs_when_it_is_back(require_postgres, own_broker, client):
    from accounts.tests.factories import PatientFactory

    port, url = own_broker
    patient = PatientFactory()
    client.force_login(patient)
    with (DATA / "myfitnesspal" / "nutrition.csv").open("rb") as upload:
        response = client.post(reverse("integrations:upload", args=["myfitnesspal"]), {"file": upload})
    assert response.status_code == 302, "the page answers although the broker is down"
    run = SyncRun.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.QUEUED

    broker = _redis(port)
    try:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        assert sync_runs_requeue(older_than=datetime.timedelta(0)) == 1
        env = dict(os.environ)
        env["REDIS_URL"] = url
        env["DATABASE_URL"] = (
            f"postgres://{connection.settings_dict['USER']}@{connection.settings_dict['HOST'] or '127.0.0.1'}:"
            f"{connection.settings_dict['PORT'] or 5432}/{connection.settings_dict['NAME']}"
        )
        worker = start_worker(env, capture=False)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                run.refresh_from_db()
                if run.is_finished:
                    break
                time.sleep(0.3)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    finally:
        broker.kill()
        broker.wait()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert run.added > 0
