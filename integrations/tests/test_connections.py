"""Uploads and webhooks through the pages: stored encrypted, imported by the job, counted, idempotent."""

import csv
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.selectors import consent_is_granted
from integrations.models import Connection, FhirServer, SyncRun
from integrations.tasks import sync_run_execute_task
from integrations.views import TOKEN_HEADER
from records.models import SampleDay, Workout
from records.timeseries import daily_summaries, metrics_for_user

DATA = Path(__file__).parent / "data"


def _upload(client, slug, path: Path):
    upload = SimpleUploadedFile(path.name, path.read_bytes(), "text/csv")
    return client.post(reverse("integrations:upload", args=[slug]), {"file": upload})


def _run_jobs():
    # What the worker does with each queued run (the real worker is exercised in test_worker).
    for run_id in SyncRun.objects.filter(outcome=SyncRun.Outcome.QUEUED).values_list("pk", flat=True):
        sync_run_execute_task(run_id)


def test_a_myfitnesspal_export_is_stored_encrypted_then_imported(
    patient_client, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = _upload(patient_client, "myfitnesspal", DATA / "myfitnesspal" / "nutrition.csv")
    run = SyncRun.objects.get(owner=patient)
    assert response.url == reverse("integrations:run", args=[run.public_id])
    assert run.outcome == SyncRun.Outcome.QUEUED
    upload_name = run.upload_name
    with default_storage.open(upload_name, "rb") as stored:
        raw = stored.read()
    assert b"Breakfast" not in raw and b"gAAAAA" in raw
    assert consent_is_granted(user=patient, purpose="source:myfitnesspal")

    with django_capture_on_commit_callbacks(execute=True):
        _run_jobs()
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert run.added > 0 and run.rejected == 0
    assert not default_storage.exists(upload_name), "the encrypted upload is removed once imported"
    assert "dietary_energy" in metrics_for_user(owner=patient)
    page = patient_client.get(reverse("integrations:run", args=[run.public_id])).content.decode()
    assert "Done" in page or "done" in page


def test_importing_the_same_file_again_adds_nothing(patient_client, patient, django_capture_on_commit_callbacks):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=False):
            _upload(patient_client, "myfitnesspal", DATA / "myfitnesspal" / "nutrition.csv")
        _run_jobs()
    first, second = SyncRun.objects.filter(owner=patient).order_by("created_at", "id")
    assert second.added == 0
    assert second.already_present == first.added


def test_a_file_that_is_not_an_export_fails_in_plain_words_and_writes_nothing(
    patient_client, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, "myfitnesspal", DATA / "myfitnesspal" / "not-myfitnesspal.csv")
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED
    assert "not a MyFitnessPal export" in run.error_message
    assert not SampleDay.objects.filter(owner=patient).exists()
    page = patient_client.get(reverse("integrations:run", args=[run.public_id])).content.decode()
    assert "not a MyFitnessPal export" in page and "Traceback" not in page


def test_an_empty_file_is_refused_at_once(patient_client, patient):
    response = patient_client.post(
        reverse("integrations:upload", args=["myfitnesspal"]), {"file": SimpleUploadedFile("e.csv", b"", "text/csv")}
    )
    assert response.url == reverse("integrations:index")
    assert not SyncRun.objects.filter(owner=patient).exists()


def test_a_run_queued_before_disconnecting_imports_nothing(patient_client, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, "myfitnesspal", DATA / "myfitnesspal" / "measurement-kilograms.csv")
    connection = Connection.objects.get(owner=patient)
    patient_client.post(reverse("integrations:disconnect", args=[connection.public_id]))
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED and run.added == 0
    assert not consent_is_granted(user=patient, purpose="source:myfitnesspal")
    assert not SampleDay.objects.filter(owner=patient).exists()


@pytest.fixture
def webhook(patient_client):
    response = patient_client.post(reverse("integrations:webhook_setup", args=["health-auto-export"]))
    return response.context["url"], response.context["token"]


def _post(client, url, body, token, content_type="application/json"):
    return client.post(
        url, body, content_type=content_type, **{f"HTTP_{TOKEN_HEADER.upper().replace('-', '_')}": token}
    )


def test_health_auto_export_posts_are_imported_once(client, patient, webhook, django_capture_on_commit_callbacks):
    url, token = webhook
    body = (DATA / "health_auto_export" / "metrics-summarised.json").read_bytes()
    for _ in range(2):  # the app repeats batches of a session: the second adds nothing
        with django_capture_on_commit_callbacks(execute=False):
            response = _post(client, url, body, token)
        assert response.status_code == 202
        _run_jobs()
    first, second = SyncRun.objects.filter(owner=patient).order_by("created_at", "id")
    assert first.outcome == SyncRun.Outcome.SUCCEEDED and first.added > 0
    assert second.added == 0 and second.already_present == first.added
    assert "resting_heart_rate" in metrics_for_user(owner=patient)


def test_health_auto_export_workouts_land_as_workouts(client, patient, webhook, django_capture_on_commit_callbacks):
    url, token = webhook
    with django_capture_on_commit_callbacks(execute=False):
        _post(client, url, (DATA / "health_auto_export" / "workouts.json").read_bytes(), token)
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    # The fixture's third workout ends before it starts: left out and counted.
    assert Workout.objects.filter(owner=patient).count() == 2
    assert run.rejected == 1
    assert {workout.activity for workout in Workout.objects.filter(owner=patient)} == {
        "running",
        "traditional_strength_training",
    }


@pytest.mark.parametrize(
    ("token", "body", "content_type", "status"),
    [
        ("wrong-token", b"{}", "application/json", 401),
        ("", b"{}", "application/json", 401),
        (None, b"not json", "text/plain", 415),
    ],
)
def test_webhook_refusals_say_nothing_more_than_needed(client, patient, webhook, token, body, content_type, status):
    url, good = webhook
    response = _post(client, url, body, good if token is None else token, content_type=content_type)
    assert response.status_code == status
    if status == 401:
        assert response.content == b""
    assert not SyncRun.objects.filter(owner=patient).exists()


def test_a_malformed_webhook_body_fails_its_run_in_plain_words(
    client, patient, webhook, django_capture_on_commit_callbacks
):
    url, token = webhook
    with django_capture_on_commit_callbacks(execute=False):
        assert _post(client, url, b"{not json", token).status_code == 202
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_message


def test_an_oversized_webhook_body_is_refused(client, patient, webhook, monkeypatch):
    monkeypatch.setattr("integrations.views.WEBHOOK_MAX_BYTES", 100)
    url, token = webhook
    assert _post(client, url, b"{" + b" " * 200 + b"}", token).status_code == 413
    assert not SyncRun.objects.filter(owner=patient).exists()


def test_a_new_secret_stops_the_old_one(patient_client, client, patient, webhook):
    url, old = webhook
    patient_client.post(reverse("integrations:webhook_setup", args=["health-auto-export"]))
    assert _post(client, url, b"{}", old).status_code == 401


def test_a_disconnected_webhook_is_gone(patient_client, client, patient, webhook):
    url, token = webhook
    connection = Connection.objects.get(owner=patient)
    patient_client.post(reverse("integrations:disconnect", args=[connection.public_id]))
    assert _post(client, url, b"{}", token).status_code == 401  # disconnecting forgets the secret


def test_the_connections_page_lists_every_source(patient_client):
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert "MyFitnessPal" in page and "Health Auto Export" in page


def test_daily_totals_from_myfitnesspal(patient_client, patient, django_capture_on_commit_callbacks):
    import datetime

    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, "myfitnesspal", DATA / "myfitnesspal" / "nutrition.csv")
    _run_jobs()
    days = dict(
        daily_summaries(
            owner=patient, metric="dietary_energy", start=datetime.date(2024, 3, 4), end=datetime.date(2024, 3, 4)
        )
    )
    with (DATA / "myfitnesspal" / "nutrition.csv").open(encoding="utf-8-sig", newline="") as handle:
        calories = sum(
            float(row["Calories"].replace(",", "")) for row in csv.DictReader(handle) if row["Date"] == "2024-03-04"
        )
    assert days[datetime.date(2024, 3, 4)]["sum"] == pytest.approx(calories)


def test_after_disconnecting_the_patient_can_delete_what_the_source_brought(
    patient_client, patient, django_capture_on_commit_callbacks
):
    from records.timeseries import Sample, samples_merge

    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, "myfitnesspal", DATA / "myfitnesspal" / "nutrition.csv")
    _run_jobs()
    # A reading of the same metric from another source stays.
    import datetime

    moment = datetime.datetime(2024, 3, 4, 9, tzinfo=datetime.UTC)
    samples_merge(owner=patient, samples=[Sample("dietary_energy", moment, moment, 100, "kcal", "manual:me")])
    connection = Connection.objects.get(owner=patient)
    delete = reverse("integrations:delete_data", args=[connection.public_id])
    patient_client.post(delete, {"confirm": "yes"})
    assert SampleDay.objects.filter(owner=patient).exists(), "nothing is deleted while still connected"

    patient_client.post(reverse("integrations:disconnect", args=[connection.public_id]))
    patient_client.post(delete, {})  # not confirmed
    assert len(metrics_for_user(owner=patient)) > 1
    patient_client.post(delete, {"confirm": "yes"})
    days = dict(daily_summaries(owner=patient, metric="dietary_energy", start=moment.date(), end=moment.date()))
    assert days[moment.date()]["sum"] == 100
    assert metrics_for_user(owner=patient) == ["dietary_energy"]


def test_staff_retry_a_failed_run_from_the_console(
    client, patient, staff, patient_client, django_capture_on_commit_callbacks
):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth.models import Permission

    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, "myfitnesspal", DATA / "myfitnesspal" / "not-myfitnesspal.csv")
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED and run.upload_name, "a failed run keeps its file for a retry"
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_syncrun", "change_syncrun"]))
    TOTP.activate(staff, generate_totp_secret())
    client.force_login(staff)
    page = client.get(reverse("admin:integrations_syncrun_changelist")).content.decode()
    assert "parse_error" in page and "Breakfast" not in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("admin:integrations_syncrun_changelist"), {"action": "retry", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.QUEUED and len(callbacks) == 1


def test_api_sources_offer_connect_and_sync_now(patient_client, patient, settings, features_open):
    # Sources this HealthSpace is set up for (an OAuth client registered, an EHR server enabled).
    settings.WITHINGS_CLIENT_ID, settings.WITHINGS_CLIENT_SECRET = "withings-id", "withings-secret"
    settings.OURA_CLIENT_ID, settings.OURA_CLIENT_SECRET = "oura-id", "oura-secret"
    FhirServer.objects.create(name="Test EHR", base_url="https://ehr.example/fhir", client_id="x")
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert reverse("withings:connect") in page and reverse("oura:connect") in page
    assert reverse("smart_fhir:servers") in page
    connection = Connection.objects.create(owner=patient, provider="withings")
    page = patient_client.get(reverse("integrations:connection", args=[connection.public_id])).content.decode()
    assert reverse("withings:sync", args=[connection.public_id]) in page
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.NEEDS_ATTENTION, attention_code="access_revoked"
    )
    page = patient_client.get(reverse("integrations:connection", args=[connection.public_id])).content.decode()
    assert "Connect again" in page or "no longer" in page
