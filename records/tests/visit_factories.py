"""A patient's records that give a visit packet something to reconcile, flag and chart."""

import datetime

from django.utils import timezone

from records import services
from records.models import (
    Allergy,
    Condition,
    Immunization,
    Medication,
    Source,
    Symptom,
    VisitPreparation,
    VitalSign,
)
from records.tests.factories import lab_result
from records.visits import visit_create

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINIC = "Riverside Clinic"


def days_ago(days: int, hour: int = 9) -> datetime.datetime:
    moment = timezone.now() - datetime.timedelta(days=days)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def from_source(owner, record, *, source=Source.FHIR, label=CLINIC):
    """A record as an import writes it (not through the patient's form)."""
    record.owner, record.source, record.source_label = owner, source, label
    record.full_clean()
    record.save()
    return record


def mine(owner, record):
    return services.record_create(user=owner, record=record)


def visit_records(owner) -> dict:
    """Medications from two sources (a dose conflict, a status conflict, a history, a stopped drug),
    a rising glucose out of range, allergies, conditions, weights, a vaccine and a recurring headache."""
    records = {
        "metformin_clinic": from_source(
            owner,
            Medication(
                name="24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
                code="860975",
                code_system=RXNORM,
                dosage="1 tablet daily",
                status="active",
                effective_at=days_ago(400),
            ),
        ),
        "metformin_mine": mine(
            owner, Medication(name="Metformin 1000 mg", dosage="1 tablet twice daily", effective_at=days_ago(30))
        ),
        "lisinopril_clinic": from_source(
            owner,
            Medication(
                name="Lisinopril 10 MG Oral Tablet",
                code="314076",
                code_system=RXNORM,
                status="active",
                effective_at=days_ago(300),
            ),
        ),
        "lisinopril_mine": mine(
            owner,
            Medication(name="lisinopril", status="stopped", ended_on=days_ago(20).date(), effective_at=days_ago(300)),
        ),
        "atorvastatin_old": from_source(
            owner, Medication(name="Atorvastatin 10 MG Oral Tablet", status="stopped", effective_at=days_ago(900))
        ),
        "atorvastatin_new": from_source(
            owner, Medication(name="Atorvastatin 20 MG Oral Tablet", status="active", effective_at=days_ago(200))
        ),
        "amoxicillin": from_source(
            owner, Medication(name="Amoxicillin 250 MG Oral Capsule", status="completed", effective_at=days_ago(100))
        ),
        "penicillin": mine(
            owner, Allergy(substance="Penicillin", reaction="hives", criticality="high", effective_at=days_ago(3000))
        ),
        "asthma": mine(owner, Condition(name="Asthma", clinical_status="active", effective_at=days_ago(2000))),
        "ankle": mine(
            owner,
            Condition(
                name="Sprained ankle",
                clinical_status="resolved",
                abated_on=days_ago(700).date(),
                effective_at=days_ago(720),
            ),
        ),
        "flu": mine(owner, Immunization(vaccine="Influenza vaccine", effective_at=days_ago(120))),
    }
    for index, (days, value) in enumerate(((300, "95"), (200, "104"), (100, "118"), (10, "131"))):
        records[f"glucose_{index}"] = lab_result(owner, value=value, day=days_ago(days).date().isoformat())
    for index, (days, value) in enumerate(((200, "81.0"), (120, "82.4"), (40, "83.1"))):
        records[f"weight_{index}"] = mine(
            owner,
            VitalSign(name="Body weight", loinc_code="29463-7", value=value, unit="kg", effective_at=days_ago(days)),
        )
    for index, days in enumerate((2, 9, 16)):
        records[f"headache_{index}"] = mine(
            owner, Symptom(what="Headache", severity=5 + index, effective_at=days_ago(days, hour=14))
        )
    return records


def prepared_visit(owner, *, reason="Check-up for my diabetes") -> VisitPreparation:
    visit_records(owner)
    return visit_create(
        user=owner,
        appointment_at=timezone.now() + datetime.timedelta(days=3),
        clinician="Dr Lefebvre, GP",
        reason=reason,
    )
