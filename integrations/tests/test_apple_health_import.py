"""Apple Health exports through the page and the worker's job; a killed worker loses nothing."""

import os
import signal
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from healthspace.celery import app as celery_app
from healthspace.tests.workers import start_worker
from integrations.models import SyncRun
from integrations.providers.apple_health.generate import write_export
from integrations.providers.base import provider_get
from integrations.services import upload_store
from integrations.tasks import sync_run_execute_task
from records.models import SampleDay, Workout
from records.timeseries import metrics_for_user

DATA = Path(__file__).parent / "data" / "apple_health"


def _import(client, path: Path):
    upload = SimpleUploadedFile(path.name, path.read_bytes(), "application/zip")
    response = client.post(reverse("integrations:upload", args=["apple-health"]), {"file": upload})
    run = SyncRun.objects.get(public_id=response.url.rstrip("/").split("/")[-1])
    sync_run_execute_task(run.pk)
    run.refresh_from_db()
    return run


def _sample_total(owner) -> int:
    return sum(day.sample_count for day in SampleDay.objects.filter(owner=owner))


def test_a_real_macos_zip_imports_and_its_date_of_birth_is_only_offered(patient_client, patient):
    run = _import(patient_client, DATA / "apple-health-parser" / "export.zip")
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert run.added > 0 and run.read > 0
    assert {"heart_rate", "sleep"} <= set(metrics_for_user(owner=patient))
    patient.profile.refresh_from_db()
    assert patient.profile.date_of_birth is None  # never applied silently
    if run.profile_hint and run.profile_hint.get("date_of_birth"):
        page = patient_client.get(reverse("integrations:run", args=[run.public_id])).content.decode()
        assert "Add it to my profile" in page
        patient_client.post(reverse("integrations:profile_hint_apply", args=[run.public_id]))
        patient.profile.refresh_from_db()
        assert patient.profile.date_of_birth.isoformat() == run.profile_hint["date_of_birth"]


def test_a_flat_zip_with_workouts_imports_them_once(patient_client, patient):
    first = _import(patient_client, DATA / "health-data-parser" / "export.zip")
    workouts = Workout.objects.filter(owner=patient).count()
    assert first.outcome == SyncRun.Outcome.SUCCEEDED and workouts == 8
    second = _import(patient_client, DATA / "health-data-parser" / "export.zip")
    assert second.added == 0 and Workout.objects.filter(owner=patient).count() == workouts


def test_a_broken_export_writes_nothing(patient_client, patient, tmp_path):
    write_export(tmp_path / "export.zip", records=5000, days=20)
    broken = tmp_path / "broken.zip"
    data = (tmp_path / "export.zip").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    run = _import(patient_client, broken)
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_message
    assert not SampleDay.objects.filter(owner=patient).exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_during_an_import_loses_and_duplicates_nothing(require_postgres, require_redis, tmp_path):
    from accounts.tests.factories import PatientFactory

    patient, reference = PatientFactory(), PatientFactory()
    export = tmp_path / "export.zip"
    # Big enough that each attempt runs for a few seconds however fast the import gets.
    write_export(export, records=600_000, days=400)
    provider = provider_get("apple-health")
    with export.open("rb") as stream:
        run = upload_store(user=patient, provider=provider, uploaded_file=stream)  # queued in Redis on commit

    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{connection.settings_dict['USER']}@{connection.settings_dict['HOST'] or '127.0.0.1'}:"
        f"{connection.settings_dict['PORT'] or 5432}/{connection.settings_dict['NAME']}"
    )
    env["BROKER_VISIBILITY_TIMEOUT"] = "2"  # a killed worker's job comes back after 2 s...
    env["BROKER_RESTORE_INTERVAL"] = env["BROKER_RESTORE_THROTTLE"] = "1"  # ...looked for every second
    kills = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        worker = start_worker(env, capture=False)
        if kills < 3:
            # Wait for this worker's own attempt (each one counts itself), let it write for a moment,
            # then kill it without warning: by progress, not by the clock, so a faster import is still hit.
            while time.monotonic() < deadline:
                run.refresh_from_db()
                # The first kill waits for written batches (the attempt's counts are saved per batch);
                # the others fall at other moments of later attempts (check pass, decryption, writing).
                started = run.attempts > kills and (kills > 0 or run.read > 0)
                if started or run.is_finished:
                    break
                time.sleep(0.05)
            time.sleep(0.3 * kills)
            run.refresh_from_db()
            if not run.is_finished:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                kills += 1
                continue
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.is_finished:
                break
            time.sleep(0.5)
        worker.terminate()
        worker.wait(timeout=30)
        break
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert kills >= 1, "the import ended before the worker could be killed"

    # The same file imported once, without interruption, gives the same store.
    with export.open("rb") as stream:
        reference_run = upload_store(user=reference, provider=provider, uploaded_file=stream)
    sync_run_execute_task(reference_run.pk)
    reference_run.refresh_from_db()
    celery_app.control.purge()  # the reference run's own message, already done by hand
    assert _sample_total(patient) == _sample_total(reference) > 0
    assert run.added + run.already_present == reference_run.added + reference_run.already_present


def test_an_export_xml_cut_short_writes_nothing(patient_client, patient, tmp_path):
    write_export(tmp_path / "export.xml", records=5000, days=20, zipped=False)
    data = (tmp_path / "export.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: int(len(data) * 0.8)])  # most records are readable: only the end is missing
    upload = SimpleUploadedFile("export.xml", cut.read_bytes(), "text/xml")
    response = patient_client.post(reverse("integrations:upload", args=["apple-health"]), {"file": upload})
    run = SyncRun.objects.get(public_id=response.url.rstrip("/").split("/")[-1])
    sync_run_execute_task(run.pk)
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.FAILED
    assert "damaged or incomplete" in run.error_message
    assert not SampleDay.objects.filter(owner=patient).exists()
