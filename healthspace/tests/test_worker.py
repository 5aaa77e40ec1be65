"""Background jobs run in a real Celery worker, on Redis and on the embedded default."""

import datetime
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.cache.backends.filebased import FileBasedCache
from django.urls import reverse
from django.utils import timezone

from healthspace.celery import app
from healthspace.tasks import HEARTBEAT_CACHE_KEY, heartbeat_task
from healthspace.tests.workers import start_worker


def _stop(process):
    process.terminate()
    try:
        return process.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


def _wait_for(read, timeout=45):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value:
            return value
        time.sleep(0.3)
    return None


def test_health_reports_the_worker_state(client, db):
    from django.core.cache import cache

    assert client.get(reverse("health")).json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "worker": "unknown",
    }
    cache.set(HEARTBEAT_CACHE_KEY, timezone.now().isoformat())
    assert client.get(reverse("health")).json()["worker"] == "ok"
    old = timezone.now() - datetime.timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE + 1)
    cache.set(HEARTBEAT_CACHE_KEY, old.isoformat())
    assert client.get(reverse("health")).json()["worker"] == "late"


def test_beat_schedule_is_declared_in_code_and_names_real_tasks():
    schedule = app.conf.beat_schedule
    assert {"worker-heartbeat", "clear-expired-sessions"} <= set(schedule)
    app.loader.import_default_modules()
    for entry in schedule.values():
        assert entry["task"] in app.tasks, f"beat names an unknown task {entry['task']}"


def test_jobs_are_safe_against_worker_loss():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]


@pytest.mark.worker
def test_a_real_worker_runs_jobs_from_redis(require_redis):
    from django.core.cache import cache

    cache.delete(HEARTBEAT_CACHE_KEY)
    worker = start_worker(dict(os.environ))
    try:
        heartbeat_task.delay()
        beat = _wait_for(lambda: cache.get(HEARTBEAT_CACHE_KEY))
    finally:
        output = _stop(worker)
    assert beat, f"the worker did not run the job:\n{output}"


@pytest.mark.worker
def test_the_embedded_default_runs_jobs_with_no_server(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env["VAR_DIR"] = str(tmp_path)
    worker = start_worker(env)
    try:
        sender = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from healthspace.tasks import heartbeat_task; heartbeat_task.delay()",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sender.returncode == 0, sender.stderr
        file_cache = FileBasedCache(str(tmp_path / "cache"), {})
        beat = _wait_for(lambda: file_cache.get(HEARTBEAT_CACHE_KEY))
    finally:
        output = _stop(worker)
    assert beat, f"the worker did not run the job:\n{output}"
    assert list((tmp_path / "broker" / "queue").iterdir()) == [], "the message stayed in the queue"
