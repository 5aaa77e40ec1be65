"""A MyFitnessPal measurement file that names no weight unit: the patient's choice on the upload form decides."""

import datetime

import pytest
from celery.signals import task_prerun
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.tests.factories import PatientFactory
from healthspace.celery import app as celery_app
from integrations.models import SyncRun
from integrations.tasks import sync_run_execute_task
from records.timeseries import day_samples

# The header says "Weight", not "Weight (kg)" or "Weight (lbs)": the file alone cannot tell.
AMBIGUOUS = b"Date,Weight,Body Fat %\r\n2024-03-01,80,24.1\r\n"
DAY = datetime.date(2024, 3, 1)


def _import(client, owner, django_capture_on_commit_callbacks, **fields) -> SyncRun:
    upload = SimpleUploadedFile("measurement.csv", AMBIGUOUS, "text/csv")
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("integrations:upload", args=["myfitnesspal"]), {"file": upload, **fields})
    run = SyncRun.objects.filter(owner=owner).latest("created_at")
    assert response.url == reverse("integrations:run", args=[run.public_id])
    sync_run_execute_task(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize(("unit", "kilograms"), [("kg", 80.0), ("lb", 36.29)])
def test_the_same_file_gives_the_weight_in_the_unit_the_patient_chose(
    patient_client, patient, django_capture_on_commit_callbacks, unit, kilograms
):
    run = _import(patient_client, patient, django_capture_on_commit_callbacks, weight_unit=unit)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert run.options == {"weight_unit": unit}
    [weight] = day_samples(owner=patient, metric="weight", day=DAY)
    assert weight.unit == "kg"
    assert round(weight.value, 2) == kilograms


def test_the_choice_rides_on_the_run_and_the_task_gets_only_its_id(
    patient_client, patient, django_capture_on_commit_callbacks, monkeypatch
):
    # The worker's task runs in this process (eager), so what it was sent can be seen.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    sent = []

    def record(sender=None, args=None, kwargs=None, **_extra):
        sent.append((sender.name, tuple(args or ()), dict(kwargs or {})))

    task_prerun.connect(record)
    try:
        upload = SimpleUploadedFile("measurement.csv", AMBIGUOUS, "text/csv")
        with django_capture_on_commit_callbacks(execute=True):
            patient_client.post(
                reverse("integrations:upload", args=["myfitnesspal"]), {"file": upload, "weight_unit": "lb"}
            )
    finally:
        task_prerun.disconnect(record)
    run = SyncRun.objects.get(owner=patient)
    assert sent == [("integrations.tasks.sync_run_execute_task", (run.pk,), {})]
    assert run.options == {"weight_unit": "lb"} and run.outcome == SyncRun.Outcome.SUCCEEDED
    [weight] = day_samples(owner=patient, metric="weight", day=DAY)
    assert round(weight.value, 2) == 36.29


def test_a_unit_other_than_kg_or_lb_is_refused_before_anything_is_stored(patient_client, patient):
    upload = SimpleUploadedFile("measurement.csv", AMBIGUOUS, "text/csv")
    response = patient_client.post(
        reverse("integrations:upload", args=["myfitnesspal"]), {"file": upload, "weight_unit": "st"}
    )
    assert response.url == reverse("integrations:index")
    assert not SyncRun.objects.filter(owner=patient).exists()


@pytest.mark.parametrize(("country", "kilograms"), [("US", 36.29), ("FR", 80.0)])
def test_a_post_without_a_choice_uses_the_unit_of_the_patients_country(
    client, db, django_capture_on_commit_callbacks, country, kilograms
):
    person = PatientFactory()
    person.profile.country = country
    person.profile.save()
    client.force_login(person)
    run = _import(client, person, django_capture_on_commit_callbacks)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    [weight] = day_samples(owner=person, metric="weight", day=DAY)
    assert round(weight.value, 2) == kilograms


@pytest.mark.parametrize(("country", "checked"), [("US", "lb"), ("FR", "kg"), ("GB", "kg"), ("", "kg")])
def test_the_form_starts_from_the_unit_of_the_patients_country(client, db, country, checked):
    person = PatientFactory()
    person.profile.country = country
    person.profile.save()
    client.force_login(person)
    page = client.get(reverse("integrations:index"))
    form = next(row["options_form"] for row in page.context["overview"] if row["provider"].slug == "myfitnesspal")
    assert form["weight_unit"].value() == checked
    html = page.content.decode()
    assert f'<option value="{checked}" selected>' in html
    assert 'id="id_myfitnesspal_weight_unit"' in html


def test_only_myfitnesspal_asks_for_a_unit(patient_client):
    page = patient_client.get(reverse("integrations:index"))
    asking = [row["provider"].slug for row in page.context["overview"] if row["options_form"] is not None]
    assert asking == ["myfitnesspal"]
    assert page.content.decode().count('name="weight_unit"') == 1
