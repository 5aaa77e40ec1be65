"""Manual records, annotations, documents, lab histories and the timeline, through the pages."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from records.models import Condition, Document, LabResult, Source
from records.tests.factories import PDF, lab_result, one_of_each


def test_a_patient_adds_edits_and_deletes_a_condition(patient_client, patient):
    response = patient_client.post(
        reverse("records:create", args=["conditions"]),
        {"name": "Migraine", "clinical_status": "active", "effective_at": "2024-05-01T09:30"},
    )
    condition = Condition.objects.get(owner=patient)
    assert response.url == reverse("records:detail", args=["conditions", condition.public_id])
    assert condition.name == "Migraine" and condition.source == Source.MANUAL
    page = patient_client.get(response.url).content.decode()
    assert "Migraine" in page
    assert page.count("<dt>Date</dt>") == 1

    edit = reverse("records:edit", args=["conditions", condition.public_id])
    patient_client.post(
        edit, {"name": "Migraine with aura", "clinical_status": "active", "effective_at": "2024-05-01T09:30"}
    )
    condition.refresh_from_db()
    assert condition.name == "Migraine with aura"

    patient_client.post(reverse("records:delete", args=["conditions", condition.public_id]))
    assert not Condition.objects.filter(owner=patient).exists()


def test_a_form_error_is_shown_in_plain_words(patient_client, patient):
    response = patient_client.post(reverse("records:create", args=["conditions"]), {"name": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Condition.objects.filter(owner=patient).exists()


def test_an_imported_record_keeps_what_the_source_sent(patient_client, patient):
    result = lab_result(patient, source=Source.FHIR, value="180", high="99")
    edit = reverse("records:edit", args=["lab-results", result.public_id])
    form = patient_client.get(edit).context["form"]
    assert set(form.fields) == {"patient_note", "disputed"}
    patient_client.post(edit, {"patient_note": "Taken after breakfast", "disputed": "on", "value": "90"})
    result.refresh_from_db()
    assert result.value == "180"
    assert result.patient_note == "Taken after breakfast" and result.disputed
    response = patient_client.post(reverse("records:delete", args=["lab-results", result.public_id]))
    assert LabResult.objects.filter(pk=result.pk).exists()
    assert response.status_code == 302


def test_a_document_is_encrypted_at_rest_and_served_only_as_an_attachment(patient_client, patient):
    response = patient_client.post(
        reverse("records:document_upload"),
        {"title": "Scan", "file": SimpleUploadedFile("scan.pdf", PDF, "application/pdf")},
    )
    document = Document.objects.get(owner=patient)
    assert response.url == reverse("records:detail", args=["documents", document.public_id])
    with default_storage.open(document.storage_name, "rb") as stored:
        raw = stored.read()
    assert PDF not in raw and raw.startswith(b"gAAAAA")
    download = patient_client.get(reverse("records:document_download", args=[document.public_id]))
    assert download.content == PDF
    assert download["Content-Disposition"] == 'attachment; filename="scan.pdf"'
    assert "no-store" in download["Cache-Control"]
    assert download["Content-Type"] == "application/pdf"


def test_the_same_file_twice_is_kept_once(patient_client, patient):
    for _ in range(2):
        patient_client.post(
            reverse("records:document_upload"), {"file": SimpleUploadedFile("scan.pdf", PDF, "application/pdf")}
        )
    assert Document.objects.filter(owner=patient).count() == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("page.html", b"<html><script>alert(1)</script></html>", "Only PDF, PNG and JPEG files can be added."),
        ("fake.pdf", b"MZ\x90\x00 not a pdf", "Only PDF, PNG and JPEG files can be added."),
    ],
)
def test_other_files_are_refused_with_a_clear_message(patient_client, patient, name, content, message):
    response = patient_client.post(
        reverse("records:document_upload"), {"file": SimpleUploadedFile(name, content, "application/pdf")}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Document.objects.filter(owner=patient).exists()


def test_a_too_large_file_is_refused(patient_client, patient, settings, monkeypatch):
    monkeypatch.setattr("records.services.DOCUMENT_MAX_BYTES", 1024)
    big = PDF + b"0" * 2048
    response = patient_client.post(
        reverse("records:document_upload"), {"file": SimpleUploadedFile("big.pdf", big, "application/pdf")}
    )
    assert "larger than" in response.content.decode()
    assert not Document.objects.filter(owner=patient).exists()


def test_a_lab_test_history_groups_by_loinc_and_converts_units(patient_client, patient):
    lab_result(patient, value="100", unit="mg/dL", low="70", high="99", day="2024-01-01")
    lab_result(patient, value="110", unit="mg/dL", low="70", high="99", day="2024-02-01")
    lab_result(patient, value="5.0", unit="mmol/L", low="3.9", high="5.5", day="2024-03-01")
    lab_result(patient, name="Cholesterol", loinc="2093-3", value="190", unit="mg/dL", day="2024-03-01")
    glucose_key = next(r.test_key for r in LabResult.objects.filter(owner=patient) if r.name == "Glucose")
    response = patient_client.get(reverse("records:lab_test", args=[glucose_key]))
    test = response.context["test"]
    assert test.unit == "mg/dL"
    assert [round(point.value, 1) for point in test.points] == [100.0, 110.0, 90.1]
    assert [point.flag for point in test.points] == ["high", "high", ""]
    page = response.content.decode()
    assert "above range" in page and "Cholesterol" not in page


def test_the_timeline_merges_every_kind_by_date(patient_client, patient):
    records = one_of_each(patient)
    patient_client.get(reverse("records:timeline"))  # the session's first request also records it
    with CaptureQueriesContext(connection) as queries:
        response = patient_client.get(reverse("records:timeline"))
    shown = response.context["records"]
    assert [record.effective_at for record in shown] == sorted((r.effective_at for r in shown), reverse=True)
    assert {type(record) for record in shown} == {type(r) for k, r in records.items() if r.effective_at}
    few = len(queries)
    for month in range(1, 10):
        lab_result(patient, day=f"2023-0{month}-01")
    with CaptureQueriesContext(connection) as queries:
        patient_client.get(reverse("records:timeline"))
    assert len(queries) == few


def test_the_dashboard_shows_medications_allergies_and_out_of_range_results(patient_client, patient):
    one_of_each(patient)
    lab_result(patient, name="Potassium", loinc="2823-3", value="6.1", unit="mmol/L", low="3.5", high="5.1")
    page = patient_client.get(reverse("records:dashboard")).content.decode()
    assert "Salbutamol inhaler" in page
    assert "Penicillin" in page
    assert "Potassium" in page and "above range" in page
    assert "Body weight" in page


def test_medical_text_is_ciphertext_in_the_database(patient):
    one_of_each(patient)
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM records_condition")
        (stored,) = cursor.fetchone()
    assert stored.startswith("gAAAAA") and "Asthma" not in stored


def test_the_timeline_pages_back_in_time(patient_client, patient, monkeypatch):
    monkeypatch.setattr("records.views.TIMELINE_PAGE", 3)
    for month in range(1, 8):
        lab_result(patient, day=f"2023-0{month}-01")
    first = patient_client.get(reverse("records:timeline"))
    assert [r.effective_at.month for r in first.context["records"]] == [7, 6, 5]
    second = patient_client.get(reverse("records:timeline"), {"before": first.context["older"]})
    assert [r.effective_at.month for r in second.context["records"]] == [4, 3, 2]
    for junk in ("not a date", "2023-13-45T00:00"):
        assert patient_client.get(reverse("records:timeline"), {"before": junk}).status_code == 200
