"""The patient's whole record as one FHIR R4 Bundle (type collection).

Each record becomes the resource it came from, or the closest one: a medication becomes a
MedicationStatement, a clinical note a DocumentReference holding its text inline, a document a
DocumentReference with its metadata only (the file stays encrypted in HealthSpace). A record
imported from a source carries its source key as an identifier, so importing the export again
into the same account adds nothing. Workouts are not exported: they have no FHIR home here.
"""

import base64
import datetime
import re

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from accounts.models import User
from records.models import (
    Allergy,
    Claim,
    ClinicalNote,
    ClinicalRecord,
    Condition,
    Coverage,
    Document,
    Encounter,
    ExplanationOfBenefit,
    Immunization,
    LabResult,
    Measurement,
    Medication,
    Procedure,
    VitalSign,
)

from .importer import SOURCE_KEY_SYSTEM
from .mapping import LOINC, NULL_FLAVOR, PREMIUM_EXTENSION, SYSTOLIC

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
COPAY_TYPE = "http://terminology.hl7.org/CodeSystem/coverage-copay-type"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CARIN_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
# HL7's adjudication codes where they exist, CARIN Blue Button's for co-insurance and what the patient owed.
_ADJUDICATION_CODES = {
    "billed": ("submitted", ADJUDICATION),
    "allowed": ("eligible", ADJUDICATION),
    "insurer_paid": ("benefit", ADJUDICATION),
    "deductible": ("deductible", ADJUDICATION),
    "copay": ("copay", ADJUDICATION),
    "coinsurance": ("coinsurance", CARIN_ADJUDICATION),
    "patient_owed": ("memberliability", CARIN_ADJUDICATION),
}
_OUTCOMES = {"queued", "complete", "error", "partial"}

# FHIR R4's required value sets: a stored status outside them is left out or mapped.
_CONDITION_STATUSES = {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
_ALLERGY_STATUSES = {"active", "inactive", "resolved"}
_ALLERGY_CATEGORIES = {"food", "medication", "environment", "biologic"}
_CRITICALITIES = {"low", "high", "unable-to-assess"}
_STATEMENT_STATUSES = {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown"}
_REQUEST_TO_STATEMENT = {"cancelled": "stopped", "draft": "intended"}
_IMMUNIZATION_STATUSES = {"completed", "entered-in-error", "not-done"}
_PROCEDURE_STATUSES = {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "unknown"}
_INTEGER = re.compile(r"^-?\d+$")


def fhir_export_bundle(*, owner: User) -> dict:
    """The owner's whole record as a FHIR R4 collection Bundle (a JSON-ready dict); reads only."""
    patient_url = f"urn:uuid:{owner.public_id}"
    subject = {"reference": patient_url}
    entries = [{"fullUrl": patient_url, "resource": _patient(owner)}]
    for model, to_resource in _EXPORTERS:
        for record in model.objects.filter(owner=owner).order_by("effective_at", "id"):
            resource = {"id": str(record.public_id), **to_resource(record, subject)}
            if record.source_key:
                resource["identifier"] = [{"system": SOURCE_KEY_SYSTEM, "value": record.source_key}]
            entries.append({"fullUrl": f"urn:uuid:{record.public_id}", "resource": resource})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": timezone.now().isoformat(),
        "entry": entries,
    }


def _patient(owner: User) -> dict:
    resource = {"resourceType": "Patient", "id": str(owner.public_id)}
    try:
        profile = owner.profile
    except ObjectDoesNotExist:
        return resource
    if profile.display_name:
        resource["name"] = [{"text": profile.display_name}]
    if profile.date_of_birth:
        resource["birthDate"] = profile.date_of_birth.isoformat()
    return resource


def _instant(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _number(text: str) -> int | float | None:
    """A stored number as a JSON number (FHIR decimals are JSON numbers, never strings)."""
    text = (text or "").strip()
    if _INTEGER.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return None


def _concept(text: str, code: str = "", system: str = "") -> dict:
    concept = {"text": text}
    if code:
        concept["coding"] = [{"code": code, **({"system": system} if system else {})}]
    return concept


def _notes(record: ClinicalRecord) -> dict:
    return {"note": [{"text": record.patient_note}]} if record.patient_note else {}


def _drop_empty(resource: dict) -> dict:
    return {key: value for key, value in resource.items() if value not in (None, "", [], {})}


def _condition(record: Condition, subject: dict) -> dict:
    status = record.clinical_status
    return _drop_empty(
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": status}]}
            if status in _CONDITION_STATUSES
            else None,
            "code": _concept(record.name, record.code, record.code_system),
            "subject": subject,
            "onsetDateTime": _instant(record.effective_at),
            "abatementDateTime": record.abated_on.isoformat() if record.abated_on else None,
            **_notes(record),
        }
    )


def _medication(record: Medication, subject: dict) -> dict:
    status = _REQUEST_TO_STATEMENT.get(record.status, record.status)
    period = _drop_empty(
        {"start": _instant(record.effective_at), "end": record.ended_on and record.ended_on.isoformat()}
    )
    return _drop_empty(
        {
            "resourceType": "MedicationStatement",
            "status": status if status in _STATEMENT_STATUSES else "unknown",
            "medicationCodeableConcept": _concept(record.name, record.code, record.code_system),
            "subject": subject,
            "effectivePeriod": period,
            "dosage": [{"text": record.dosage}] if record.dosage else None,
            **_notes(record),
        }
    )


def _allergy(record: Allergy, subject: dict) -> dict:
    categories = [category for category in record.category.split(",") if category in _ALLERGY_CATEGORIES]
    status = record.clinical_status
    return _drop_empty(
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": status}]}
            if status in _ALLERGY_STATUSES
            else None,
            "category": categories,
            "criticality": record.criticality if record.criticality in _CRITICALITIES else None,
            "code": _concept(record.substance, record.code, record.code_system),
            "patient": subject,
            "recordedDate": _instant(record.effective_at),
            "reaction": [{"manifestation": [{"text": record.reaction}]}] if record.reaction else None,
            **_notes(record),
        }
    )


def _immunization(record: Immunization, subject: dict) -> dict:
    occurrence = (
        {"occurrenceDateTime": _instant(record.effective_at)}
        if record.effective_at
        else {"occurrenceString": "unknown"}
    )
    return _drop_empty(
        {
            "resourceType": "Immunization",
            "status": record.status if record.status in _IMMUNIZATION_STATUSES else "completed",
            "vaccineCode": _concept(record.vaccine, record.code, record.code_system),
            "patient": subject,
            **occurrence,
            "lotNumber": record.lot_number,
            **_notes(record),
        }
    )


def _procedure(record: Procedure, subject: dict) -> dict:
    return _drop_empty(
        {
            "resourceType": "Procedure",
            "status": record.status if record.status in _PROCEDURE_STATUSES else "unknown",
            "code": _concept(record.name, record.code, record.code_system),
            "subject": subject,
            "performedDateTime": _instant(record.effective_at),
            **_notes(record),
        }
    )


def _encounter_status(record: Encounter) -> str:
    now = timezone.now()
    if record.ended_at or (record.effective_at and record.effective_at <= now):
        return "finished"
    return "planned" if record.effective_at else "unknown"


def _encounter(record: Encounter, subject: dict) -> dict:
    encounter_class = {"system": ACT_CODE, "code": record.encounter_class}
    if not record.encounter_class:
        encounter_class = {"system": NULL_FLAVOR, "code": "UNK"}
    return _drop_empty(
        {
            "resourceType": "Encounter",
            "status": _encounter_status(record),
            "class": encounter_class,
            "type": [{"text": record.name}],
            "subject": subject,
            "period": _drop_empty({"start": _instant(record.effective_at), "end": _instant(record.ended_at)}),
            "reasonCode": [{"text": record.reason}] if record.reason else None,
            "serviceProvider": {"display": record.provider} if record.provider else None,
        }
    )


def _quantity(value: str, unit: str) -> dict | None:
    number = _number(value)
    if number is None:
        return None
    return {"value": number, **({"unit": unit} if unit else {})}


def _observation(record: Measurement, subject: dict) -> dict:
    category = "vital-signs" if isinstance(record, VitalSign) else "laboratory"
    coding = [{"system": LOINC, "code": record.loinc_code, "display": record.name}] if record.loinc_code else None
    components = []
    for item in record.components or []:
        component_coding = [{"system": LOINC, "code": item["loinc_code"]}] if item.get("loinc_code") else None
        value = _quantity(item.get("value", ""), item.get("unit", ""))
        components.append(
            _drop_empty(
                {
                    "code": _drop_empty({"coding": component_coding, "text": item.get("name") or "Component"}),
                    "valueQuantity": value,
                    "valueString": item.get("value_text") if value is None else None,
                }
            )
        )
    # On import a blood pressure's value is its systolic component: it is not sent twice.
    derived = any(item.get("loinc_code") == SYSTOLIC for item in record.components or [])
    value = None if derived else _quantity(record.value, record.unit)
    reference = _drop_empty(
        {
            "low": _quantity(record.reference_low, record.unit),
            "high": _quantity(record.reference_high, record.unit),
            "text": record.reference_text,
        }
    )
    return _drop_empty(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}],
            "code": _drop_empty({"coding": coding, "text": record.name}),
            "subject": subject,
            "effectiveDateTime": _instant(record.effective_at),
            "valueQuantity": value,
            "valueString": record.value_text if value is None and not derived else None,
            "interpretation": [{"coding": [{"system": INTERPRETATION, "code": record.interpretation}]}]
            if record.interpretation
            else None,
            "referenceRange": [reference] if reference else None,
            "component": components,
            **_notes(record),
        }
    )


def _clinical_note(record: ClinicalNote, subject: dict) -> dict:
    attachment = {"contentType": "text/plain; charset=utf-8", "title": record.title}
    if record.text:
        attachment["data"] = base64.b64encode(record.text.encode("utf-8")).decode("ascii")
    return _drop_empty(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": subject,
            "date": _instant(record.effective_at),
            "author": [{"display": record.author}] if record.author else None,
            "description": record.title,
            "content": [{"attachment": attachment}],
        }
    )


def _document(record: Document, subject: dict) -> dict:
    return _drop_empty(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": subject,
            "date": _instant(record.effective_at),
            "description": record.title,
            "content": [
                {"attachment": {"contentType": record.content_type, "title": record.title, "size": record.size}}
            ],
        }
    )


def _money_element(text: str, currency: str) -> dict | None:
    number = _number(text)
    if number is None:
        return None
    return {"value": number, **({"currency": currency} if currency else {})}


def _key_reference(key: str) -> dict | None:
    # A link by source key: importing the export finds the same visit, claim or plan again.
    return {"identifier": {"system": SOURCE_KEY_SYSTEM, "value": key}} if key else None


def _coverage(record: Coverage, subject: dict) -> dict:
    costs = [
        {
            "type": {"coding": [{"system": COPAY_TYPE, "code": code}]},
            **(
                {"valueQuantity": {"value": _number(value), "unit": "%"}}
                if code == "copaypct"
                else {"valueMoney": _money_element(value, record.currency)}
            ),
        }
        for code, value in (
            ("deductible", record.deductible),
            ("maxoutofpocket", record.out_of_pocket_max),
            ("copaypct", record.coinsurance_percent),
        )
        if _number(value) is not None
    ]
    premium = _money_element(record.premium_monthly, record.currency)
    return _drop_empty(
        {
            "resourceType": "Coverage",
            "status": record.status or "active",
            "type": {"text": record.coverage_type} if record.coverage_type else None,
            "subscriberId": record.member_number,
            "policyHolder": {"display": record.payer} if record.payer else None,
            "beneficiary": subject,
            "period": _drop_empty(
                {"start": _instant(record.effective_at), "end": record.ends_on.isoformat() if record.ends_on else None}
            ),
            "payor": [{"display": record.insurer}],
            "class": [{"type": {"coding": [{"system": COVERAGE_CLASS, "code": "plan"}]}, "value": record.plan_name}]
            if record.plan_name
            else None,
            "costToBeneficiary": costs,
            "extension": [{"url": PREMIUM_EXTENSION, "valueMoney": premium}] if premium else None,
        }
    )


def _cost_items(record, *, adjudicated: bool) -> list[dict]:
    items = []
    for sequence, line in enumerate(record.items or [], start=1):
        item = {
            "sequence": sequence,
            "productOrService": _concept(line.get("name") or "Care", line.get("code", "")),
            "net": _money_element(line.get("billed", ""), record.currency),
        }
        if adjudicated:
            item["adjudication"] = [
                {
                    "category": _adjudication_category(name),
                    "amount": _money_element(line.get(name, ""), record.currency),
                }
                for name in ("billed", "allowed", "insurer_paid", "deductible", "copay", "coinsurance")
                if _number(line.get(name, "")) is not None
            ]
        items.append(_drop_empty(item))
    if items and record.encounter_key:
        items[0]["encounter"] = [_key_reference(record.encounter_key)]
    return items


def _adjudication_category(name: str) -> dict:
    code, system = _ADJUDICATION_CODES[name]
    return {"coding": [{"system": system, "code": code}]}


def _cost_common(record, subject: dict) -> dict:
    created = _instant(record.effective_at) or _instant(record.created_at)
    return {
        "status": "active",
        "type": {"coding": [{"system": CLAIM_TYPE, "code": record.claim_type or "professional"}]},
        "use": "claim",
        "patient": subject,
        "billablePeriod": {"start": _instant(record.effective_at)} if record.effective_at else None,
        "created": created,
        "provider": {"display": record.provider or "Unknown"},
    }


def _insurance(record) -> list[dict]:
    coverage = _key_reference(record.coverage_key) or {}
    if record.insurer:
        coverage["display"] = record.insurer
    return [{"sequence": 1, "focal": True, "coverage": coverage or {"display": "Unknown"}}]


def _claim(record: Claim, subject: dict) -> dict:
    return _drop_empty(
        {
            "resourceType": "Claim",
            **_cost_common(record, subject),
            "priority": {"coding": [{"code": "normal"}]},
            "insurance": _insurance(record),
            "item": _cost_items(record, adjudicated=False),
            "total": _money_element(record.billed, record.currency),
            **_notes(record),
        }
    )


def _explanation_of_benefit(record: ExplanationOfBenefit, subject: dict) -> dict:
    common = _cost_common(record, subject)
    paid = _money_element(record.insurer_paid, record.currency)
    insurance = _insurance(record)
    for entry in insurance:
        entry.pop("sequence")
    totals = [
        {"category": _adjudication_category(name), "amount": _money_element(getattr(record, name), record.currency)}
        for name in ("billed", "allowed", "insurer_paid", "deductible", "copay", "coinsurance", "patient_owed")
        if _number(getattr(record, name)) is not None
    ]
    return _drop_empty(
        {
            "resourceType": "ExplanationOfBenefit",
            **common,
            "insurer": {"display": record.insurer or "Unknown"},
            "claim": _key_reference(record.claim_key),
            "outcome": record.outcome if record.outcome in _OUTCOMES else "complete",
            "insurance": insurance,
            "item": _cost_items(record, adjudicated=True),
            "total": totals,
            "payment": {"amount": paid} if paid else None,
        }
    )


_EXPORTERS = (
    (Condition, _condition),
    (Medication, _medication),
    (Allergy, _allergy),
    (Immunization, _immunization),
    (Procedure, _procedure),
    (Encounter, _encounter),
    (LabResult, _observation),
    (VitalSign, _observation),
    (ClinicalNote, _clinical_note),
    (Document, _document),
    (Coverage, _coverage),
    (Claim, _claim),
    (ExplanationOfBenefit, _explanation_of_benefit),
)
