"""PostgreSQL restarted in the middle of an import: no half-written batch, and the run recovers.

The shared PostgreSQL server is never touched: the test runs a cluster of its own (initdb in a
temporary folder, a free port, its socket in that folder), a Redis of its own, and a real worker
pointed at both. This process's database connection is pointed at the private cluster too.

To stop the server in the middle of a batch, not between two, the test holds the import's last
day (in the store's order) in a transaction of its own: the worker commits batches, inserts the
other days of that day's batch, then waits on it; the cluster is stopped right then with
`pg_ctl stop -m immediate` (a crash), and started again.

Two outages: a quick restart (the task's own retries recover the run), and one longer than those
retries (the task gives up and leaves the run running; beat's requeue sends it again).
"""

import contextlib
import datetime
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from healthspace.celery import app as celery_app
from healthspace.tests.workers import free_port, start_redis, start_worker, wait_for_port
from integrations.models import Connection, SyncRun
from integrations.providers.apple_health.generate import write_export
from integrations.providers.apple_health.parser import iter_items, open_export
from integrations.providers.base import provider_get
from integrations.services import sync_run_retry, upload_store
from integrations.tasks import STALLED_AFTER, sync_run_execute_task, sync_runs_requeue_task
from records.models import SampleDay, Workout
from records.timeseries import DAY_BATCH, METRICS, Sample, payload_decode, summary_compute

# Big enough for many batches of days (a transaction each).
RECORDS, DAYS = 60_000, 400
# What the worker logs when a task ends on an error it no longer retries.
GAVE_UP = "raised unexpected: OperationalError"
PLAIN_MESSAGE = re.compile(r"^[^<>{}\[\]\\/_]*$")  # no markup, paths, identifiers or tracebacks


def _postgres_bin() -> Path | None:
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name or 0))
    for folder in reversed(versions):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


class Cluster:
    """A throwaway PostgreSQL cluster: its own folder, port and socket, no fsync (nothing here must survive)."""

    def __init__(self, bin_dir: Path, root: Path, port: int):
        self.bin, self.root, self.port = bin_dir, root, port
        self.data = root / "data"
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres account then.
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / program), *args], capture_output=True, text=True, user=self.user, timeout=60, check=False
        )
        if result.returncode:
            pytest.fail(f"{program} failed: {result.stderr or result.stdout}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} -c fsync=off"
        log = str(self.root / "log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


@contextlib.contextmanager
def _private_cluster(bin_dir: Path):
    root = Path(tempfile.mkdtemp(prefix="hs-pg-"))  # short: the socket path has a length limit
    cluster = Cluster(bin_dir, root, free_port())
    if cluster.user:
        shutil.chown(root, cluster.user, cluster.user)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _default_database_on(cluster: Cluster):
    """Point this process's default connection at the cluster; the test database is left alone and restored."""
    connection = connections["default"]
    connection.close()
    saved = dict(connection.settings_dict)
    connection.settings_dict.update(
        {"NAME": "postgres", "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": str(cluster.port)}
    )
    ContentType.objects.clear_cache()  # ids cached from the test database mean nothing here
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        ContentType.objects.clear_cache()


@pytest.fixture
def own_broker(require_redis, monkeypatch):
    """A Redis of this test's own as broker, for this process and the worker (no other test's messages)."""
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server to start a broker of the test's own")
    port = free_port()
    redis = start_redis(port)
    if redis is None:
        pytest.fail("a test Redis could not be started")
    url = f"redis://127.0.0.1:{port}/0"
    monkeypatch.setitem(celery_app.conf, "broker_url", url)
    celery_app._pool = None  # forget connections to the usual broker
    celery_app.amqp._producer_pool = None
    yield url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    redis.kill()
    redis.wait()


def _last_day(export: Path) -> tuple[str, datetime.date]:
    """The last (metric, UTC day) of the export in the store's order: the last the import inserts in its batch."""
    keys = set()
    for item in iter_items(open_export(export)):
        if isinstance(item, Sample):
            day = datetime.datetime.fromtimestamp(math.floor(item.start.timestamp()), datetime.UTC).date()
            keys.add((item.metric, day))
    return max(keys)


def _store(owner) -> dict:
    """Every day of the owner's store: (sample count, summary, samples) by (metric, day)."""
    store = {}
    for row in SampleDay.objects.filter(owner=owner):
        samples = payload_decode(row.payload, row.day)
        store[row.metric, row.day] = (
            row.sample_count,
            row.summary,
            [(sample.start, sample.end, sample.value, sample.source) for sample in samples],
        )
    return store


def _inconsistent_days(owner) -> list[tuple[str, datetime.date]]:
    """Days whose count or summary does not match their own samples: what a half-written batch leaves."""
    wrong = []
    for row in SampleDay.objects.filter(owner=owner):
        midnight = datetime.datetime.combine(row.day, datetime.time(), datetime.UTC)
        rows = [
            (
                int((sample.start - midnight).total_seconds()),
                int((sample.end - sample.start).total_seconds()),
                sample.value,
                sample.source,
            )
            for sample in payload_decode(row.payload, row.day)
        ]
        if row.sample_count != len(rows) or row.summary != summary_compute(METRICS[row.metric], rows):
            wrong.append((row.metric, row.day))
    return wrong


def _wait(condition, timeout: float, what: str, worker: subprocess.Popen, worker_log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker stopped before {what}:\n{worker_log.read_text()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting until {what}; the worker said:\n{worker_log.read_text()[-3000:]}")


def _worker_waits_on_the_held_day() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            ['INSERT INTO "records_sampleday"%'],
        )
        return cursor.fetchone()[0] == 1


def _uncommitted_rows_of_the_waiting_batch() -> int:
    """Days the waiting worker has inserted in its open transaction (read from the table's pages)."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity AS waiting,"
            " generate_series(0, pg_relation_size('records_sampleday') / current_setting('block_size')::int - 1)"
            " AS page, LATERAL heap_page_items(get_raw_page('records_sampleday', page::int)) AS item"
            " WHERE waiting.wait_event_type = 'Lock' AND waiting.query LIKE %s AND item.t_xmin = waiting.backend_xid",
            ['INSERT INTO "records_sampleday"%'],
        )
        return cursor.fetchone()[0]


def _finished(run: SyncRun) -> bool:
    try:
        run.refresh_from_db()
    except Exception:  # noqa: BLE001 - the cluster may still be coming back
        connections["default"].close()
        return False
    return run.is_finished


def _stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@pytest.mark.worker
@pytest.mark.postgres
@pytest.mark.parametrize("outage", ["quick restart", "longer than the task's retries"])
def test_postgres_restarted_mid_batch_leaves_no_partial_batch_and_the_run_recovers(
    outage, require_postgres, own_broker, django_db_blocker, tmp_path
):
    from accounts.tests.factories import PatientFactory

    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("needs PostgreSQL's initdb and pg_ctl (/usr/lib/postgresql/*/bin) for a private cluster")
    export = tmp_path / "export.zip"
    write_export(export, records=RECORDS, days=DAYS)
    # Held by the test, so the worker inserts the other days of its batch, then waits on this one.
    held_metric, held_day = _last_day(export)
    provider = provider_get("apple-health")

    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(_private_cluster(bin_dir))
        stack.enter_context(django_db_blocker.unblock())
        stack.enter_context(_default_database_on(cluster))
        call_command("migrate", verbosity=0, interactive=False)
        with connections["default"].cursor() as cursor:
            cursor.execute("CREATE EXTENSION pageinspect")  # to see rows not committed yet
        patient, reference = PatientFactory(), PatientFactory()
        with export.open("rb") as stream:
            run = upload_store(user=patient, provider=provider, uploaded_file=stream)  # sent to the broker now
        upload_name = run.upload_name

        holder = psycopg.connect(cluster.url.replace("postgres://", "postgresql://"))
        stack.callback(holder.close)  # the crash ends its transaction: closing is all that is left
        holder.execute(
            "INSERT INTO records_sampleday (owner_id, metric, day, payload, summary, sample_count, updated_at)"
            " VALUES (%s, %s, %s, '', '', '', now())",
            (patient.pk, held_metric, held_day),
        )  # not committed: the worker's insert of this day waits for this transaction

        env = dict(os.environ)
        env.update(
            DATABASE_URL=cluster.url, REDIS_URL=own_broker, CELERY_BROKER_URL=own_broker, CELERY_RESULT_BACKEND=""
        )
        worker_log = tmp_path / "worker.log"
        worker = start_worker(env, log=worker_log)
        stack.callback(_stop_worker, worker)

        _wait(_worker_waits_on_the_held_day, 60, "the worker waits on the held day", worker, worker_log)
        committed = SampleDay.objects.filter(owner=patient).count()
        assert committed > DAY_BATCH, "whole batches are written"
        assert _uncommitted_rows_of_the_waiting_batch() > 0, "the worker is in the middle of a batch"

        cluster.stop("immediate")  # a crash: the open batch is never committed
        if outage != "quick restart":
            # The task retries a few times with backoff, then gives up and leaves the run running.
            _wait(lambda: GAVE_UP in worker_log.read_text(), 60, "the task gives up", worker, worker_log)
        cluster.start()
        assert wait_for_port(cluster.port)
        connections["default"].close()

        if outage != "quick restart":
            run.refresh_from_db()
            assert run.outcome == SyncRun.Outcome.RUNNING
            assert SampleDay.objects.filter(owner=patient).count() == committed, "the half-written batch is gone"
            assert _inconsistent_days(patient) == []
            # Beat's next requeue, once the run has been running longer than any task may.
            SyncRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - STALLED_AFTER * 1.1)
            assert sync_runs_requeue_task() == 1
        handled = worker_log.read_text().count(GAVE_UP)

        def finished_or_requeued() -> bool:
            nonlocal handled
            if _finished(run):
                return True
            if worker_log.read_text().count(GAVE_UP) > handled:
                # Even a quick restart can outlast the retries (their delays are random): beat's job then.
                handled += 1
                SyncRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - STALLED_AFTER * 1.1)
                sync_runs_requeue_task()
            return False

        _wait(finished_or_requeued, 60, "the run ends after the restart", worker, worker_log)
        if run.outcome == SyncRun.Outcome.FAILED:
            assert run.error_message and PLAIN_MESSAGE.match(run.error_message), run.error_message
            sync_run_retry(run=run)
            _wait(lambda: _finished(run), 60, "the retried run ends", worker, worker_log)
        assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
        assert run.attempts >= 2, "the run was interrupted and ran again"
        _stop_worker(worker)

        assert _inconsistent_days(patient) == []
        # The same file imported once, in this process, without interruption, gives the same store.
        with export.open("rb") as stream:
            reference_run = upload_store(user=reference, provider=provider, uploaded_file=stream)
        sync_run_execute_task(reference_run.pk)
        reference_run.refresh_from_db()
        assert reference_run.outcome == SyncRun.Outcome.SUCCEEDED, reference_run.error_message
        store, reference_store = _store(patient), _store(reference)
        assert len(store) == len(reference_store) > committed
        assert store == reference_store, "after recovery the store equals an uninterrupted import"
        assert run.added + run.already_present == reference_run.added + reference_run.already_present
        assert run.read == reference_run.read
        # Nothing duplicated: workouts once each, and the same ones.
        workouts = sorted(Workout.objects.filter(owner=patient).values_list("source_key", flat=True))
        assert workouts == sorted(Workout.objects.filter(owner=reference).values_list("source_key", flat=True))
        assert len(workouts) == len(set(workouts)) > 0
        # Done: the encrypted upload is removed and the source is usable again.
        assert run.upload_name == "" and not default_storage.exists(upload_name)
        assert Connection.objects.get(pk=run.connection_id).status == Connection.Status.CONNECTED


# -- what beat does with a run its task left running ---------------------------------------------


def _running_run(patient, *, started_ago: datetime.timedelta, attempts: int = 1) -> SyncRun:
    """A queued MyFitnessPal import that a task started and then abandoned (as a database outage leaves it)."""
    data = Path(__file__).parent / "data" / "myfitnesspal" / "nutrition.csv"
    with data.open("rb") as stream:
        run = upload_store(user=patient, provider=provider_get("myfitnesspal"), uploaded_file=stream)
    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.Outcome.RUNNING, started_at=timezone.now() - started_ago, attempts=attempts
    )
    run.refresh_from_db()
    return run


@pytest.fixture
def eager_tasks(monkeypatch):
    """Tasks sent by the code under test run at once in this process (no broker, no worker)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def test_beat_sends_again_a_run_left_running_longer_than_any_task_may_run(patient, eager_tasks):
    stalled = _running_run(patient, started_ago=STALLED_AFTER * 1.1)
    busy = _running_run(patient, started_ago=STALLED_AFTER / 2)  # a live task may still be on it

    assert sync_runs_requeue_task() == 1
    stalled.refresh_from_db()
    busy.refresh_from_db()
    assert stalled.outcome == SyncRun.Outcome.SUCCEEDED and stalled.added > 0
    assert busy.outcome == SyncRun.Outcome.RUNNING


def test_a_run_that_stalls_again_and_again_ends_failed_and_staff_can_retry_it(
    patient, eager_tasks, django_capture_on_commit_callbacks
):
    from integrations.services import STALLED_RUN_MAX_ATTEMPTS

    run = _running_run(patient, started_ago=STALLED_AFTER * 1.1, attempts=STALLED_RUN_MAX_ATTEMPTS)
    assert sync_runs_requeue_task() == 0
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "interrupted"
    assert PLAIN_MESSAGE.match(run.error_message) and "interrupted" in run.error_message
    assert run.upload_name and default_storage.exists(run.upload_name), "kept for a retry"

    with django_capture_on_commit_callbacks(execute=True):
        sync_run_retry(run=run)
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert run.attempts == 1
