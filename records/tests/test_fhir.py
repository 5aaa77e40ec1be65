"""FHIR R4 import and export with real Synthea files (records/tests/data/fhir/README.md)."""

import datetime
import io
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from healthspace.crypto import keyed_hash
from records.fhir import importer
from records.fhir.exporter import fhir_export_bundle
from records.fhir.importer import FhirImportError, fhir_import
from records.fhir.mapping import parse_datetime
from records.models import (
    Allergy,
    Claim,
    ClinicalNote,
    Condition,
    Coverage,
    Document,
    Encounter,
    ExplanationOfBenefit,
    Immunization,
    LabResult,
    Medication,
    Procedure,
    Source,
    VitalSign,
)

DATA = Path(__file__).parent / "data" / "fhir"
DENNIS = DATA / "Dennis_Durgan_78f005f3-7b33-4a5b-84d9-28417b36dbab.json"
KINDS = (
    Condition,
    Medication,
    Allergy,
    Immunization,
    Procedure,
    Encounter,
    LabResult,
    VitalSign,
    ClinicalNote,
    Coverage,
    Claim,
    ExplanationOfBenefit,
)
# Observations of the Dennis Durgan bundle, by id: an eGFR result and a blood pressure.
EGFR_ID = "9dc44d48-23a2-43df-b60f-f19596a33f17"
BLOOD_PRESSURE_ID = "32e0121d-c1f8-4c48-bebb-2058d092290c"


def _counts(owner) -> dict[str, int]:
    return {model.__name__: model.objects.filter(owner=owner).count() for model in KINDS}


def _import(owner, path: Path, **kwargs):
    with path.open("rb") as stream:
        return fhir_import(owner=owner, stream=stream, filename=kwargs.get("filename", path.name))


def _dennis_resources() -> list[dict]:
    return [entry["resource"] for entry in json.loads(DENNIS.read_bytes())["entry"]]


def _categories(resource: dict) -> set[str]:
    return {coding["code"] for category in resource.get("category", []) for coding in category["coding"]}


def _one_patient_ndjson(path: Path) -> tuple[bytes, int]:
    """The lines of one patient (the one with most lines) of a multi-patient bulk file."""
    by_patient = defaultdict(list)
    for line in path.read_bytes().splitlines(keepends=True):
        by_patient[json.loads(line)["patient"]["reference"]].append(line)
    lines = max(by_patient.values(), key=len)
    return b"".join(lines), len(lines)


@pytest.fixture
def dennis(patient):
    return _import(patient, DENNIS)


def test_dennis_bundle_imports_each_kind_as_many_times_as_the_bundle_holds_it(patient, dennis):
    resources = _dennis_resources()
    of_type = Counter(resource["resourceType"] for resource in resources)
    observations = [resource for resource in resources if resource["resourceType"] == "Observation"]
    vitals = [obs for obs in observations if "vital-signs" in _categories(obs)]
    # Laboratory results, and numbers of other categories (imaging, a mis-spelt "vital-sign").
    labs = [obs for obs in observations if obs not in vitals and "valueQuantity" in obs]
    surveys = [obs for obs in observations if _categories(obs) == {"survey"} and "valueQuantity" not in obs]

    assert _counts(patient) == {
        "Condition": of_type["Condition"],
        "Medication": of_type["MedicationRequest"],
        "Allergy": of_type["AllergyIntolerance"],
        "Immunization": of_type["Immunization"],
        "Procedure": of_type["Procedure"],
        "Encounter": of_type["Encounter"],
        "LabResult": len(labs),
        "VitalSign": len(vitals),
        "ClinicalNote": 0,  # Synthea's DiagnosticReports carry no conclusion
        "Coverage": 0,  # only contained in each ExplanationOfBenefit
        "Claim": of_type["Claim"],
        "ExplanationOfBenefit": of_type["ExplanationOfBenefit"],
    }
    assert (of_type["Condition"], of_type["Immunization"], len(labs), len(vitals)) == (9, 11, 79, 50)
    assert dennis.read == len(resources) == 287
    assert dennis.added == 250
    assert dennis.rejected == 0 and dennis.errors == []
    assert dennis.fhir_version == "R4"
    assert dennis.skipped_by_type == {
        "CarePlan": 4,
        "ImagingStudy": 4,
        "Organization": 3,
        "Practitioner": 3,
        "Goal": 3,
        "Patient": 1,
        "DiagnosticReport": 9,
        "Observation (survey)": len(surveys),
    }
    assert dennis.patient == {"name": "Dennis Durgan", "birth_date": "1949-04-19", "gender": "male"}
    assert all(row.source == Source.FHIR for row in Condition.objects.filter(owner=patient))


def test_a_lab_result_keeps_its_value_unit_loinc_and_date(patient, dennis):
    egfr = LabResult.objects.get(owner=patient, source_key=keyed_hash("fhir", "Observation", EGFR_ID))

    assert egfr.name == "Estimated Glomerular Filtration Rate"
    assert egfr.loinc_code == "33914-3"
    assert egfr.value == "78.65762432338369"
    assert egfr.unit == "mL/min/{1.73_m2}"
    assert egfr.effective_at == datetime.datetime(1999, 6, 29, 12, 17, 10, tzinfo=datetime.UTC)
    same_test = LabResult.objects.filter(owner=patient, test_key=egfr.test_key)
    assert {row.loinc_code for row in same_test} == {"33914-3"} and same_test.count() > 1


def test_blood_pressure_keeps_both_components_and_the_systolic_as_value(patient, dennis):
    pressure = VitalSign.objects.get(owner=patient, source_key=keyed_hash("fhir", "Observation", BLOOD_PRESSURE_ID))

    by_code = {component["loinc_code"]: component for component in pressure.components}
    assert by_code["8480-6"]["value"] == "186.20345118675402"
    assert by_code["8462-4"]["value"] == "111.25549866463226"
    assert by_code["8462-4"]["unit"] == "mm[Hg]"
    assert (pressure.value, pressure.unit, pressure.loinc_code) == ("186.20345118675402", "mm[Hg]", "55284-4")


def test_references_to_a_medication_and_an_organisation_are_resolved(patient):
    bundle = json.loads(DENNIS.read_bytes())
    request = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest")
    concept = request.pop("medicationCodeableConcept")
    bundle["entry"].append({"fullUrl": "urn:uuid:med-1", "resource": {"resourceType": "Medication", "code": concept}})
    request["medicationReference"] = {"reference": "urn:uuid:med-1"}
    contained = dict(
        request, id="contained-request", contained=[{"resourceType": "Medication", "id": "m", "code": concept}]
    )
    contained["medicationReference"] = {"reference": "#m"}
    bundle["entry"].append({"resource": contained})

    report = fhir_import(owner=patient, stream=io.BytesIO(json.dumps(bundle).encode()))

    names = [row.name for row in Medication.objects.filter(owner=patient)]
    assert names.count(concept["text"]) == 2
    assert "Medication" not in names
    assert report.skipped_by_type["Medication"] == 1
    providers = {row.provider for row in Encounter.objects.filter(owner=patient)}
    assert "" not in providers and len(providers) > 1


def test_refuted_and_mistaken_records_are_not_kept(patient):
    conditions = [r for r in _dennis_resources() if r["resourceType"] == "Condition"][:3]
    conditions[0]["verificationStatus"]["coding"][0]["code"] = "refuted"
    conditions[1]["verificationStatus"]["coding"][0]["code"] = "entered-in-error"
    data = b"\n".join(json.dumps(resource).encode() for resource in conditions)

    report = fhir_import(owner=patient, stream=io.BytesIO(data), filename="conditions.ndjson")

    assert report.skipped_by_type == {"Condition (refuted)": 1, "Condition (entered in error)": 1}
    assert Condition.objects.filter(owner=patient).count() == report.added == 1


def test_importing_the_same_file_again_adds_nothing(patient, dennis):
    before = _counts(patient)

    again = _import(patient, DENNIS)

    assert _counts(patient) == before
    assert again.added == 0
    assert again.already_present == dennis.added == 250


def test_the_import_makes_no_query_per_resource(patient, django_assert_max_num_queries):
    with django_assert_max_num_queries(25):  # one batch: a lookup and an insert per kind
        report = _import(patient, DENNIS)

    assert report.added == 250


def test_a_file_in_several_batches_imports_the_same(patient, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(importer, "BATCH_SIZE", 50)

    with django_assert_max_num_queries(110):  # per batch of 50: a lookup and an insert per kind in it
        report = _import(patient, DENNIS)

    assert report.added == 250
    assert sum(_counts(patient).values()) == 250


def test_another_patients_import_never_touches_this_patients_rows(patient, other_patient, dennis):
    mine = {model: sorted(model.objects.filter(owner=patient).values_list("pk", "updated_at")) for model in KINDS}

    theirs = _import(other_patient, DENNIS)

    assert theirs.added == dennis.added  # not "already present": source keys are per owner
    assert _counts(other_patient) == _counts(patient)
    assert mine == {
        model: sorted(model.objects.filter(owner=patient).values_list("pk", "updated_at")) for model in KINDS
    }


def test_a_single_patients_ndjson_is_streamed_line_by_line(patient):
    data, lines = _one_patient_ndjson(DATA / "Immunization.000.ndjson")

    class LinesOnly(io.BytesIO):
        def read(self, *args):
            raise AssertionError("an NDJSON file must not be read whole")

    report = fhir_import(owner=patient, stream=LinesOnly(data), filename="Immunization.000.ndjson")

    assert lines == 19
    assert (report.read, report.added, report.rejected) == (lines, lines, 0)
    assert Immunization.objects.filter(owner=patient).count() == lines
    first = json.loads(data.splitlines()[0])
    row = Immunization.objects.get(owner=patient, source_key=keyed_hash("fhir", "Immunization", first["id"]))
    assert row.code == first["vaccineCode"]["coding"][0]["code"]
    assert row.effective_at == parse_datetime(first["occurrenceDateTime"])

    again = fhir_import(owner=patient, stream=io.BytesIO(data), filename="again.ndjson")
    assert (again.added, again.already_present) == (0, lines)


def test_ndjson_is_recognised_without_its_file_name_even_from_a_stream_that_cannot_seek(patient):
    data, lines = _one_patient_ndjson(DATA / "AllergyIntolerance.000.ndjson")

    class Pipe(io.BytesIO):
        def seekable(self):
            return False

        def seek(self, *args):
            raise io.UnsupportedOperation("seek")

    report = fhir_import(owner=patient, stream=Pipe(data), filename="upload")

    assert report.added == lines == Allergy.objects.filter(owner=patient).count()


def test_a_bulk_file_of_several_patients_is_refused_and_nothing_is_written(patient):
    with pytest.raises(FhirImportError, match="holds the records of 2 people"):
        _import(patient, DATA / "AllergyIntolerance.000.ndjson")
    with pytest.raises(FhirImportError, match="holds the records of 13 people"):
        _import(patient, DATA / "Immunization.000.ndjson")

    assert sum(_counts(patient).values()) == 0


@pytest.mark.parametrize(
    ("name", "version"),
    [("Crist_Bernie_32.json", "FHIR DSTU2 (2015)"), ("Kiehn_Harlan_34.json", "FHIR STU3 (2017)")],
)
def test_older_fhir_versions_are_refused_with_a_plain_message(patient, name, version):
    with pytest.raises(FhirImportError) as refused:
        _import(patient, DATA / name)

    assert str(refused.value) == (
        f"This file uses {version}; HealthSpace reads FHIR R4. Ask your provider for an R4 export."
    )
    assert sum(_counts(patient).values()) == 0


def test_a_non_conformant_resource_is_rejected_and_the_rest_imports(patient):
    bad = json.loads((DATA / "condition-example-nonconformant.json").read_bytes())
    good = json.loads((DATA / "observation-vitalsigns.json").read_bytes())
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": bad}, {"resource": good}]}

    report = fhir_import(owner=patient, stream=io.BytesIO(json.dumps(bundle).encode()))

    assert (report.read, report.added, report.rejected) == (2, 1, 1)
    assert report.errors == ["Condition not imported: it does not follow FHIR R4 (at text.div)."]
    assert Condition.objects.filter(owner=patient).count() == 0
    pressure = VitalSign.objects.get(owner=patient)
    assert pressure.value == "120" and pressure.interpretation == "N"
    assert [c["value"] for c in pressure.components] == ["120", "80"]


def test_a_text_result_keeps_its_words_and_its_reference_text(patient):
    lab = json.loads((DATA / "observation-lab-result-nonconformant.json").read_bytes())

    rejected = fhir_import(owner=patient, stream=io.BytesIO(json.dumps(lab).encode()))
    del lab["valueCodeableConcept"]  # two value[x] make it invalid; with one it is valid R4
    report = fhir_import(owner=patient, stream=io.BytesIO(json.dumps(lab).encode()))

    assert rejected.errors == ["Observation not imported: it does not follow FHIR R4 (at the resource as a whole)."]
    assert "NEGATIVE" not in json.dumps(rejected.errors)
    assert report.added == 1
    result = LabResult.objects.get(owner=patient)
    assert (result.value, result.value_text, result.reference_text) == (
        "",
        "NEGATIVE for glucose, protein, and ketones",
        "Negative",
    )


def test_a_long_name_is_cut_but_a_number_too_long_to_store_is_rejected(patient):
    egfr = next(r for r in _dennis_resources() if r.get("id") == EGFR_ID)
    long_name, huge = dict(egfr, id="long-name"), dict(egfr, id="huge-value")
    long_name["code"] = dict(egfr["code"], text="Estimated Glomerular Filtration Rate " * 10)
    huge["valueQuantity"] = dict(egfr["valueQuantity"], value=1e100)
    data = b"\n".join(json.dumps(resource).encode() for resource in (long_name, huge))

    report = fhir_import(owner=patient, stream=io.BytesIO(data), filename="two.ndjson")

    assert (report.added, report.rejected) == (1, 1)
    assert report.errors == ["Observation not imported: its value could not be stored."]
    kept = LabResult.objects.get(owner=patient)
    assert len(kept.name) == 300 and kept.name.startswith("Estimated Glomerular Filtration Rate")


def test_reference_range_and_interpretation_survive_an_export(patient, other_patient):
    egfr = next(r for r in _dennis_resources() if r.get("id") == EGFR_ID)
    egfr["referenceRange"] = [{"low": {"value": 90, "unit": "mL/min/{1.73_m2}"}, "text": "90 or more"}]
    egfr["interpretation"] = [{"coding": [{"code": "L"}]}]
    fhir_import(owner=patient, stream=io.BytesIO(json.dumps(egfr).encode()))

    exported = fhir_export_bundle(owner=patient)
    fhir_import(owner=other_patient, stream=io.BytesIO(json.dumps(exported).encode()))

    for owner in (patient, other_patient):
        result = LabResult.objects.get(owner=owner)
        assert (result.reference_low, result.reference_high, result.reference_text) == ("90", "", "90 or more")
        assert (result.interpretation, result.value, result.loinc_code) == ("L", "78.65762432338369", "33914-3")


def test_malformed_json_is_refused_and_nothing_is_written(patient):
    truncated = DENNIS.read_bytes()[:400_000]

    with pytest.raises(FhirImportError, match="not valid JSON"):
        fhir_import(owner=patient, stream=io.BytesIO(truncated), filename="record.json")

    assert sum(_counts(patient).values()) == 0


def test_a_broken_line_late_in_ndjson_writes_no_batch(patient, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 5)
    data, lines = _one_patient_ndjson(DATA / "Immunization.000.ndjson")

    with pytest.raises(FhirImportError, match=f"Line {lines + 1} of this file is not valid JSON"):
        fhir_import(
            owner=patient, stream=io.BytesIO(data + b'{"resourceType": "Immunization", \n'), filename="x.ndjson"
        )

    assert Immunization.objects.filter(owner=patient).count() == 0


def test_a_file_that_is_not_fhir_is_refused(patient):
    with pytest.raises(FhirImportError, match="Line 1 of this file is not a FHIR resource"):
        _import(patient, DATA / "log.ndjson")
    with pytest.raises(FhirImportError, match="not FHIR"):
        fhir_import(owner=patient, stream=io.BytesIO(b'{\n  "exportId": "export-10"\n}\n'))
    with pytest.raises(FhirImportError, match="FHIR XML"):
        fhir_import(owner=patient, stream=io.BytesIO(b'<Bundle xmlns="http://hl7.org/fhir"/>'))


def test_a_bundle_over_the_size_limit_is_refused(patient, monkeypatch):
    monkeypatch.setattr(importer, "MAX_JSON_BYTES", 100_000)

    with pytest.raises(FhirImportError, match="larger than 0 MB"):
        _import(patient, DENNIS)

    assert sum(_counts(patient).values()) == 0


def test_dates_become_aware_and_a_date_alone_is_midnight_utc():
    assert parse_datetime("2017-06-11") == datetime.datetime(2017, 6, 11, tzinfo=datetime.UTC)
    assert parse_datetime("2017-06") == datetime.datetime(2017, 6, 1, tzinfo=datetime.UTC)
    assert parse_datetime("1987-11-19T00:22:16.824-05:00") == datetime.datetime(
        1987, 11, 19, 5, 22, 16, 824000, tzinfo=datetime.UTC
    )
    assert parse_datetime("not a date") is None


def _add_note_and_document(owner):
    ClinicalNote.objects.create(owner=owner, title="Visit summary", text="Seen today.\nAll well.", author="Dr. Who")
    Document.objects.create(
        owner=owner,
        title="Scan",
        filename="scan.pdf",
        content_type="application/pdf",
        size=1234,
        storage_name="documents/test-export",
        content_key="k" * 64,
        source=Source.UPLOAD,
    )


def test_the_export_is_a_valid_r4_bundle_about_one_patient(patient, dennis):
    _add_note_and_document(patient)

    bundle = fhir_export_bundle(owner=patient)

    Bundle.model_validate(bundle)
    resources = [entry["resource"] for entry in bundle["entry"]]
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert bundle["type"] == "collection"
    assert resources[0] == {"resourceType": "Patient", "id": str(patient.public_id), "name": [{"text": "Alex Martin"}]}
    patient_url = bundle["entry"][0]["fullUrl"]
    for resource in resources[1:]:
        assert (resource.get("subject") or resource.get("patient")) == {"reference": patient_url}
    assert patient.email not in json.dumps(bundle)
    kinds = Counter(resource["resourceType"] for resource in resources)
    assert kinds["Observation"] == 129
    assert kinds["DocumentReference"] == 2
    assert kinds["MedicationStatement"] == 6
    row = VitalSign.objects.get(owner=patient, source_key=keyed_hash("fhir", "Observation", BLOOD_PRESSURE_ID))
    pressure = next(resource for resource in resources if resource["id"] == str(row.public_id))
    assert "valueQuantity" not in pressure
    assert {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in pressure["component"]} == {
        "8480-6": 186.20345118675402,
        "8462-4": 111.25549866463226,
    }
    assert pressure["category"][0]["coding"][0]["code"] == "vital-signs"


def test_the_export_imported_into_a_fresh_patient_gives_the_same_record(patient, other_patient, dennis):
    _add_note_and_document(patient)
    exported = json.dumps(fhir_export_bundle(owner=patient)).encode()

    report = fhir_import(owner=other_patient, stream=io.BytesIO(exported), filename="export.json")

    mine, theirs = _counts(patient), _counts(other_patient)
    assert theirs == {**mine, "ClinicalNote": 2}  # the document comes back as a note with its title
    assert report.rejected == 0
    key = keyed_hash("fhir", "Observation", EGFR_ID)
    original, copy = (LabResult.objects.get(owner=owner, source_key=key) for owner in (patient, other_patient))
    fields = ("name", "loinc_code", "value", "unit", "effective_at", "test_key")
    assert [getattr(copy, name) for name in fields] == [getattr(original, name) for name in fields]
    key = keyed_hash("fhir", "Observation", BLOOD_PRESSURE_ID)
    original, copy = (VitalSign.objects.get(owner=owner, source_key=key) for owner in (patient, other_patient))
    assert (copy.value, copy.components) == (original.value, original.components)
    note = next(row for row in ClinicalNote.objects.filter(owner=other_patient) if row.title == "Visit summary")
    assert (note.text, note.author) == ("Seen today.\nAll well.", "Dr. Who")

    again = fhir_import(owner=patient, stream=io.BytesIO(exported), filename="export.json")
    assert again.added == 2  # only the hand-written note and the document were not imported before
    assert again.already_present == sum(mine.values()) - 1


def test_the_command_prints_the_counts(patient, capsys):
    call_command("import_fhir", patient.email.upper(), str(DENNIS))

    out = capsys.readouterr().out
    assert "Resources read: 287 (FHIR R4)" in out
    assert "Added 250, already present 0, rejected 0, not kept 37." in out
    assert "claim 31" in out and "labresult 79" in out
    assert "Dennis" not in out and "1949" not in out


def test_the_command_fails_with_the_plain_message(patient):
    with pytest.raises(CommandError, match="This file uses FHIR DSTU2 \\(2015\\)"):
        call_command("import_fhir", patient.email, str(DATA / "Crist_Bernie_32.json"))
    with pytest.raises(CommandError, match="No account"):
        call_command("import_fhir", "nobody@example.org", str(DENNIS))


def test_a_patient_imports_a_fhir_file_through_a_run_and_downloads_the_record(
    patient_client, patient, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from integrations.models import SyncRun
    from integrations.tasks import sync_run_execute_task

    page = patient_client.get(reverse("records:fhir_upload")).content.decode()
    assert 'type="file" name="file"' in page
    upload = SimpleUploadedFile(DENNIS.name, DENNIS.read_bytes(), "application/json")
    with django_capture_on_commit_callbacks(execute=False):
        response = patient_client.post(reverse("records:fhir_upload"), {"file": upload})
    run = SyncRun.objects.get(owner=patient)
    assert response.status_code == 302 and response.url == reverse("integrations:run", args=[run.public_id])
    sync_run_execute_task(run.pk)
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.added > 0, run.error_message
    download = patient_client.get(reverse("records:fhir_download"))
    assert download["Content-Disposition"].startswith("attachment")
    assert "no-store" in download["Cache-Control"]
    bundle = json.loads(download.content)
    assert bundle["resourceType"] == "Bundle"
    assert len(bundle["entry"]) == run.added + 1  # every record and the Patient


def test_a_file_that_is_not_fhir_fails_its_run_with_a_plain_message(
    patient_client, patient, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from integrations.models import SyncRun
    from integrations.tasks import sync_run_execute_task

    upload = SimpleUploadedFile("notes.json", b"{not json", "application/json")
    with django_capture_on_commit_callbacks(execute=False):
        response = patient_client.post(reverse("records:fhir_upload"), {"file": upload})
    run = SyncRun.objects.get(owner=patient)
    sync_run_execute_task(run.pk)
    page = patient_client.get(response.url).content.decode()
    assert "This file is not valid JSON; nothing was imported." in page
    assert "Traceback" not in page


def test_codes_keep_their_system_through_import_and_export(patient, dennis):
    from records.models import Immunization, Medication

    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert {medication.code_system for medication in Medication.objects.filter(owner=patient)} == {rxnorm}
    assert {shot.code_system for shot in Immunization.objects.filter(owner=patient)} == {"http://hl7.org/fhir/sid/cvx"}
    bundle = fhir_export_bundle(owner=patient)
    statements = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationStatement"]
    assert statements and all(s["medicationCodeableConcept"]["coding"][0]["system"] == rxnorm for s in statements)
