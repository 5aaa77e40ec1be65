"""A FHIR file uploaded on the records page is a sync run: stored encrypted, imported by the worker."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations.models import Connection, SyncRun
from integrations.tasks import sync_run_execute_task
from records.fhir.importer import fhir_import
from records.models import Claim, Coverage, ExplanationOfBenefit, Source
from records.selectors import RECORD_KINDS

LIZ = Path(__file__).parent / "data" / "fhir_file" / "Liz_Conn_27c911c6-f045-4ffa-af5d-6eba57ac94b2.json"
RECORDS_DATA = Path(__file__).parents[2] / "records" / "tests" / "data" / "fhir"


def _upload(client, name: str, content: bytes, url: str | None = None):
    upload = SimpleUploadedFile(name, content, "application/json")
    return client.post(url or reverse("records:fhir_upload"), {"file": upload})


def _run_jobs():
    # What the worker does with each queued run (the real worker is exercised in test_worker).
    for run_id in SyncRun.objects.filter(outcome=SyncRun.Outcome.QUEUED).values_list("pk", flat=True):
        sync_run_execute_task(run_id)


def _records_of(owner) -> int:
    models = (*RECORD_KINDS.values(), Coverage, Claim, ExplanationOfBenefit)  # insurance has pages of its own
    return sum(model.objects.filter(owner=owner, source=Source.FHIR).count() for model in models)


def test_a_synthea_bundle_is_stored_encrypted_then_imported_and_followed_on_the_run_page(
    patient_client, patient, other_patient, django_capture_on_commit_callbacks
):
    content = LIZ.read_bytes()
    with django_capture_on_commit_callbacks(execute=False):
        response = _upload(patient_client, LIZ.name, content)
    run = SyncRun.objects.get(owner=patient)
    assert response.status_code == 302
    assert response.url == reverse("integrations:run", args=[run.public_id])
    assert run.connection.provider == "fhir-file" and run.outcome == SyncRun.Outcome.QUEUED
    assert _records_of(patient) == 0, "nothing is imported during the request"
    upload_name = run.upload_name
    with default_storage.open(upload_name, "rb") as stored:
        raw = stored.read()
    assert b"resourceType" not in raw and b"gAAAAA" in raw

    with django_capture_on_commit_callbacks(execute=True):
        _run_jobs()
    run.refresh_from_db()
    # The same file imported directly into someone else's records gives the counts to expect.
    expected = fhir_import(owner=other_patient, stream=io.BytesIO(content), filename=LIZ.name)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert run.read == len(json.loads(content)["entry"]) == expected.read
    assert run.added == expected.added > 0
    assert run.rejected == expected.rejected
    assert _records_of(patient) == run.added
    assert not default_storage.exists(upload_name), "the encrypted upload is removed once imported"
    page = patient_client.get(reverse("integrations:run", args=[run.public_id])).content.decode()
    assert "Done" in page and f'data-run-count="added">{run.added}<' in page


def test_uploading_the_same_bundle_again_adds_nothing(patient_client, patient, django_capture_on_commit_callbacks):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=False):
            _upload(patient_client, LIZ.name, LIZ.read_bytes())
        _run_jobs()
    first, second = SyncRun.objects.filter(owner=patient).order_by("created_at", "id")
    assert first.added > 0
    assert (second.outcome, second.added, second.already_present) == (SyncRun.Outcome.SUCCEEDED, 0, first.added)
    assert _records_of(patient) == first.added


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"resourceType": "Bundle", "entry": [', "This file is not valid JSON; nothing was imported."),
        ((RECORDS_DATA / "Crist_Bernie_32.json").read_bytes(), "This file uses FHIR DSTU2 (2015)"),
        (b"PK\x03\x04 an archive", "This file is a zip archive"),
    ],
    ids=["bad-json", "dstu2", "zip"],
)
def test_a_file_that_cannot_be_imported_fails_in_plain_words_and_writes_nothing(
    patient_client, patient, django_capture_on_commit_callbacks, content, message
):
    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, "export.json", content)
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED
    assert message in run.error_message
    assert _records_of(patient) == 0
    page = patient_client.get(reverse("integrations:run", args=[run.public_id])).content.decode()
    assert "Traceback" not in page and "Failed" in page and message in page


def test_a_real_zip_archive_is_refused_with_the_same_plain_words(
    patient_client, patient, django_capture_on_commit_callbacks
):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr(LIZ.name, LIZ.read_bytes())
    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, "export.zip", archive.getvalue())
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED and "zip archive" in run.error_message


def test_a_single_resource_is_imported(patient_client, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, "vitals.json", (RECORDS_DATA / "observation-vitalsigns.json").read_bytes())
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    assert (run.outcome, run.read, run.added) == (SyncRun.Outcome.SUCCEEDED, 1, 1), run.error_message
    assert _records_of(patient) == 1


def test_the_connections_page_offers_the_same_upload(patient_client, patient, django_capture_on_commit_callbacks):
    page = patient_client.get(reverse("integrations:index")).content.decode()
    url = reverse("integrations:upload", args=["fhir-file"])
    assert f'action="{url}"' in page and 'accept=".json,.ndjson' in page
    with django_capture_on_commit_callbacks(execute=False):
        _upload(patient_client, LIZ.name, LIZ.read_bytes(), url=url)
    _run_jobs()
    run = SyncRun.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.added > 0
    assert Connection.objects.get(owner=patient, provider="fhir-file").last_sync_at is not None
