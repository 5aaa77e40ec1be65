"""The copy of everything (GDPR Art. 15 and 20): asked after re-authentication, built by the job, encrypted while
it waits, downloaded within a day, then deleted; every model holding the patient's data is in it."""

import datetime
import io
import json
import tracemalloc
import zipfile

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import privacy
from accounts.erasure import account_erase, erasure_request
from accounts.export import FORMULA_STARTS, archive_write, csv_cell
from accounts.models import AuditEvent, DataExport
from accounts.tasks import data_export_build_task, data_exports_expire_task
from accounts.tests.privacy_data import FORMULA_SOURCE, NO_ROWS_WHILE_ACTIVE, fill_everything, reauthenticated
from chat.models import MemoryFact
from healthspace import crypto
from records.timeseries import Sample, samples_merge

TAG = "CANARY-5b1e"
OTHER_TAG = "CANARY-OTHER-93d0"


@pytest.fixture(autouse=True)
def _own_storage(media):
    return media


def ask(client, capture) -> DataExport:
    with capture(execute=False) as callbacks:
        response = client.post(reverse("accounts:export_ask"))
    export = DataExport.objects.latest("id")
    assert response.url == reverse("accounts:export_detail", args=[export.public_id])
    assert len(callbacks) == 1, "the job is queued once the request is committed"
    return export


def run_job(export: DataExport) -> DataExport:
    data_export_build_task.apply(args=[export.pk])  # what the worker runs, with the id only
    export.refresh_from_db()
    return export


def download(client, export: DataExport):
    response = client.get(reverse("accounts:export_download", args=[export.public_id]))
    assert response.status_code == 200
    return response, b"".join(response.streaming_content)


def archive_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "\n".join(archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist())


def planted(rows: dict, tag: str) -> set[str]:
    """Every text value holding the tag in the rows made (read back decrypted), JSON values included."""
    found = set()
    for row in rows.values():
        row.refresh_from_db()
        for field in row._meta.concrete_fields:
            value = field.value_from_object(row)
            text = json.dumps(value) if isinstance(value, (dict, list)) else value
            if isinstance(text, str) and tag in text:
                found.add(value["note"] if isinstance(value, dict) and "note" in value else text)
    return found


def test_the_export_holds_every_model_with_an_owner_and_nothing_of_anyone_else(
    client, patient, other_patient, django_capture_on_commit_callbacks
):
    made = fill_everything(patient, tag=TAG)
    fill_everything(other_patient, tag=OTHER_TAG)
    export = ask(reauthenticated(client, patient), django_capture_on_commit_callbacks)
    expected = {
        model._meta.label: privacy.rows_of(model, patient).count() for model in privacy.personal_data_models()[1:]
    }

    export = run_job(export)
    assert export.status == DataExport.Status.READY, export.error_code
    response, data = download(client, export)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist())
    written: dict[str, int] = {}
    for category in manifest["categories"]:
        assert set(category["files"]) <= names
        for label, count in category["models"].items():
            written[label] = written.get(label, 0) + count
    # Every model with a key to the user is in the archive, with every one of the patient's rows.
    assert written == expected
    assert {label for label, count in expected.items() if count == 0} <= NO_ROWS_WHILE_ACTIVE
    text = archive_text(data)
    missing = {value for value in planted(made, TAG) if value not in text}
    assert not missing, missing
    assert OTHER_TAG not in text
    assert "README.txt" in names and "record.fhir.json" in names
    # Secrets stay out: tokens, keyed hashes of share links, the names of files in storage.
    assert "credentials" not in text and "token_key" not in text and "storage_name" not in text


def test_the_archive_holds_the_record_as_fhir_the_series_as_csv_and_the_documents(
    client, patient, django_capture_on_commit_callbacks
):
    made = fill_everything(patient, tag=TAG)
    export = run_job(ask(reauthenticated(client, patient), django_capture_on_commit_callbacks))
    _response, data = download(client, export)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        bundle = json.loads(archive.read("record.fhir.json"))
        steps = archive.read("timeseries/steps.csv").decode()
        document = made["records.Document"]
        (document_name,) = [name for name in archive.namelist() if name.startswith(f"documents/{document.public_id}")]
        content = archive.read(document_name)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    resources = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert {"Patient", "Condition", "MedicationStatement", "AllergyIntolerance"} <= resources
    assert f"{TAG}-medication-name" in json.dumps(bundle)
    # One row per sample: 3 days of 4 readings, each cell protected against formula injection.
    lines = steps.strip().splitlines()
    assert lines[0] == "metric,start,end,value,unit,source"
    assert len(lines) == 1 + 12
    assert any(line.endswith(f",'{FORMULA_SOURCE}") for line in lines), steps
    assert not any(line.endswith(f",{FORMULA_SOURCE}") for line in lines)
    # The document as the patient added it, decrypted.
    with default_storage.open(document.storage_name, "rb") as stored:
        assert content == crypto.decrypt_bytes(stored.read())
    assert content.startswith(b"%PDF-") and TAG.encode() in content
    assert document_name == f"documents/{document.public_id}-scan-1.pdf"


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_csv_cells_starting_like_a_formula_are_quoted(start):
    assert csv_cell(f"{start}1+1") == f"'{start}1+1"
    assert csv_cell("Steps") == "Steps" and csv_cell(-3.5) == -3.5


def test_asking_needs_the_password_again(client, patient):
    client.force_login(patient)
    response = client.post(reverse("accounts:export_ask"))
    assert reverse("account_reauthenticate") in response.url
    assert not DataExport.objects.exists()


def test_the_archive_waits_encrypted_and_the_download_is_private_and_audited(
    client, patient, django_capture_on_commit_callbacks
):
    fill_everything(patient, tag=TAG)
    export = run_job(ask(reauthenticated(client, patient), django_capture_on_commit_callbacks))
    with default_storage.open(export.storage_name, "rb") as stored:
        raw = stored.read()
    assert export.storage_name.startswith("exports/")
    assert not raw.startswith(b"PK") and TAG.encode() not in raw

    response, data = download(client, export)

    plain = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(raw), plain)
    assert data == plain.getvalue() and len(data) == export.size
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="healthspace-export-')
    assert "no-store" in response["Cache-Control"]
    actions = list(
        AuditEvent.objects.filter(subject=patient, action__startswith="privacy.").values_list("action", flat=True)
    )
    assert {"privacy.export_requested", "privacy.export_ready", "privacy.export_downloaded"} <= set(actions)
    page = client.get(reverse("accounts:access_log"), {"what": "privacy"}).content.decode()
    assert "Copy of your data downloaded" in page and "Signed in" not in page


def test_the_page_follows_the_job(client, patient, django_capture_on_commit_callbacks):
    export = ask(reauthenticated(client, patient), django_capture_on_commit_callbacks)
    page = client.get(reverse("accounts:export_detail", args=[export.public_id])).content.decode()
    assert "Waiting" in page and "run_progress.js" in page and "Download the zip file" not in page
    status = client.get(reverse("accounts:export_status", args=[export.public_id])).json()
    assert status == {"state": "queued", "state_label": "Waiting", "finished": False, "percent": 0}

    run_job(export)

    status = client.get(reverse("accounts:export_status", args=[export.public_id])).json()
    assert status["finished"] is True and status["percent"] == 100
    page = client.get(reverse("accounts:export_detail", args=[export.public_id])).content.decode()
    assert "Download the zip file" in page and "run_progress.js" not in page


def test_asking_twice_while_it_is_built_gives_the_same_export(client, patient, django_capture_on_commit_callbacks):
    first = ask(reauthenticated(client, patient), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("accounts:export_ask"))
    assert DataExport.objects.get() == first and callbacks == []


def test_another_patients_export_is_a_404(client, patient, other_patient, django_capture_on_commit_callbacks):
    export = run_job(ask(reauthenticated(client, patient), django_capture_on_commit_callbacks))
    client.force_login(other_patient)
    for name in ("accounts:export_detail", "accounts:export_status", "accounts:export_download"):
        assert client.get(reverse(name, args=[export.public_id])).status_code == 404


def test_after_a_day_the_archive_is_deleted(client, patient, django_capture_on_commit_callbacks):
    export = run_job(ask(reauthenticated(client, patient), django_capture_on_commit_callbacks))
    stored = export.storage_name
    assert default_storage.exists(stored)
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=23), tick=False):
        assert data_exports_expire_task.apply().get() == 0
        client = Client()
        client.force_login(patient)  # a new session: the first one ended with the idle timeout
        assert client.get(reverse("accounts:export_download", args=[export.public_id])).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=24, minutes=1), tick=False):
        client = Client()
        client.force_login(patient)
        assert client.get(reverse("accounts:export_download", args=[export.public_id])).status_code == 404
        assert data_exports_expire_task.apply().get() == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.EXPIRED and export.storage_name == ""
    assert not default_storage.exists(stored)
    assert data_exports_expire_task.apply().get() == 0


def test_a_lost_message_is_sent_again(client, patient, django_capture_on_commit_callbacks, monkeypatch):
    from healthspace.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    export = ask(reauthenticated(client, patient), django_capture_on_commit_callbacks)
    DataExport.objects.filter(pk=export.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=20))
    data_exports_expire_task.apply()
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY


def _minute_samples(days: int) -> list[Sample]:
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return [
        Sample(
            metric="heart_rate",
            start=start + datetime.timedelta(minutes=minute),
            end=start + datetime.timedelta(minutes=minute),
            value=60 + minute % 40,
            unit="count/min",
            source="withings:watch",
        )
        for minute in range(days * 1440)
    ]


def _peak_bytes(user) -> tuple[int, int]:
    class Sink:
        size = 0

        def write(self, data):
            self.size += len(data)
            return len(data)

        def flush(self):
            pass

    sink = Sink()
    tracemalloc.start()
    try:
        archive_write(user=user, sink=sink)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, sink.size


def test_memory_stays_bounded_whatever_the_number_of_samples(patient, other_patient):
    samples_merge(owner=patient, samples=_minute_samples(10))
    samples_merge(owner=other_patient, samples=_minute_samples(40))

    small_peak, small_size = _peak_bytes(patient)
    large_peak, large_size = _peak_bytes(other_patient)

    assert large_size > 3 * small_size  # four times the samples...
    assert large_peak < 1.5 * small_peak + 512 * 1024, (small_peak, large_peak)  # ...about the same memory


def test_a_model_no_category_covers_yet_is_still_listed_exported_and_erased(patient, monkeypatch):
    # As for a model an app adds before registering it: the registry does not know it.
    known = {key: category for key, category in privacy._registry.categories.items() if key != "memory"}
    monkeypatch.setattr(privacy._registry, "categories", known)
    MemoryFact.objects.create(owner=patient, text=f"{TAG}-unregistered")
    assert MemoryFact in privacy.uncovered_models()

    sink = io.BytesIO()
    manifest = archive_write(user=patient, sink=sink)

    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as archive:
        assert f"{TAG}-unregistered" in archive.read("other/chat.memoryfact.json").decode()
    (entry,) = [entry for entry in manifest if entry["key"] == "chat.memoryfact"]
    assert entry["models"] == {"chat.MemoryFact": 1}
    rows = {row["key"]: row for row in privacy.inventory_for_user(user=patient)}
    assert rows["chat.memoryfact"]["count"] == 1

    account_erase(erasure=erasure_request(user=patient))
    assert not MemoryFact.objects.exists()
