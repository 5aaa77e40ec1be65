"""One record of every kind for an owner, written through the real services."""

import datetime

from django.core.files.uploadedfile import SimpleUploadedFile

from records import services
from records.models import (
    Allergy,
    ClinicalNote,
    Condition,
    Encounter,
    Immunization,
    LabResult,
    Medication,
    Procedure,
    Source,
    Symptom,
    VitalSign,
    Workout,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def at(day: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC)


def lab_result(
    owner,
    *,
    name="Glucose",
    loinc="2345-7",
    value="95",
    unit="mg/dL",
    low="70",
    high="99",
    day="2024-03-01",
    source=Source.MANUAL,
    **extra,
):
    record = LabResult(
        name=name,
        loinc_code=loinc,
        value=value,
        unit=unit,
        reference_low=low,
        reference_high=high,
        effective_at=at(day),
        **extra,
    )
    if source == Source.MANUAL:
        return services.record_create(user=owner, record=record)
    record.owner, record.source = owner, source
    record.test_key = services.measurement_test_key(loinc_code=loinc, name=name)
    record.save()
    return record


def one_of_each(owner) -> dict:
    """A record of every kind, keyed by URL slug."""
    make = lambda record: services.record_create(user=owner, record=record)  # noqa: E731
    records = {
        "conditions": make(Condition(name="Asthma", clinical_status="active", effective_at=at("2020-01-05"))),
        "medications": make(Medication(name="Salbutamol inhaler", dosage="2 puffs", effective_at=at("2020-01-05"))),
        "allergies": make(Allergy(substance="Penicillin", reaction="rash", effective_at=at("2015-06-01"))),
        "immunisations": make(Immunization(vaccine="Influenza 2023", effective_at=at("2023-10-10"))),
        "lab-results": lab_result(owner),
        "vital-signs": make(
            VitalSign(name="Body weight", loinc_code="29463-7", value="72.5", unit="kg", effective_at=at("2024-03-01"))
        ),
        "procedures": make(Procedure(name="Spirometry", effective_at=at("2020-01-05"))),
        "visits": make(Encounter(name="GP visit", reason="cough", effective_at=at("2020-01-05"))),
        "notes": make(ClinicalNote(title="Letter", text="Seen today.", effective_at=at("2020-01-06"))),
        "symptoms": make(Symptom(what="Headache", severity=6, effective_at=at("2024-03-03"))),
        "workouts": make(Workout(activity="Running", duration_s=1800, effective_at=at("2024-03-02"))),
    }
    records["documents"] = services.document_upload(
        user=owner, uploaded_file=SimpleUploadedFile("letter.pdf", PDF, "application/pdf"), title="Discharge letter"
    )
    return records
