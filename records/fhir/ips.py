"""A visit summary as a FHIR R4 document Bundle in the style of the International Patient Summary (IPS).

The Composition (LOINC 60591-5, patient summary document) comes first, then the Patient, then one
resource per line the patient kept in each IPS section: problems, medications, allergies, results,
vital signs, immunisations, and the patient's symptom journal as the history of present illness.
The three sections IPS requires are never left out: when empty they hold the IPS "no information"
code. Built from a snapshot (records/packet.py), so a clinician gets exactly what was shared. A
line the patient reworded keeps their words and drops its codes and values, which described the
original line. Validated with fhir.resources' R4B models, like the rest of records/fhir.
Pure: reads no database. Narratives are written in the active language.
"""

import uuid

from django.utils.html import escape
from django.utils.translation import gettext as _

from records import packet

# The exporter's own small builders: one way to write a concept and to drop empty elements.
from .exporter import (
    ALLERGY_CLINICAL,
    CONDITION_CLINICAL,
    INTERPRETATION,
    OBSERVATION_CATEGORY,
    _concept,
    _drop_empty,
)
from .mapping import LOINC

IPS_COMPOSITION_PROFILE = "http://hl7.org/fhir/uv/ips/StructureDefinition/Composition-uv-ips"
ABSENT_UNKNOWN = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
XHTML = "http://www.w3.org/1999/xhtml"

# (packet section, LOINC section code, its display, IPS "no information" code of a required section)
IPS_SECTIONS = (
    ("conditions", "11450-4", "Problem list - Reported", "no-problem-info"),
    ("medications", "10160-0", "History of Medication use Narrative", "no-medication-info"),
    ("allergies", "48765-2", "Allergies and adverse reactions Document", "no-allergy-info"),
    ("labs", "30954-2", "Relevant diagnostic tests/laboratory data Narrative", None),
    ("vitals", "8716-3", "Vital signs", None),
    ("immunisations", "11369-6", "History of Immunization Narrative", None),
    ("symptoms", "10164-2", "History of Present illness Narrative", None),
)
_ALLERGY_STATUSES = {"active", "inactive", "resolved"}
_CRITICALITIES = {"low", "high", "unable-to-assess"}
_INTERPRETATIONS = {"high": "H", "low": "L"}


def _quantity(value, unit: str) -> dict | None:
    if value is None:
        return None
    return {"value": value, **({"unit": unit} if unit else {})}


def _notes(*texts: str) -> list[dict]:
    return [{"text": text} for text in texts if text]


class _Document:
    """One snapshot turned into resources, with ids stable within the document."""

    def __init__(self, snapshot: dict):
        self.snapshot = snapshot
        self.document_id = uuid.UUID(snapshot["id"]) if snapshot.get("id") else uuid.uuid4()
        self.patient_url = f"urn:uuid:{snapshot['patient'].get('id') or self.uuid_for('patient')}"
        self.subject = {"reference": self.patient_url}

    def uuid_for(self, name: str) -> uuid.UUID:
        return uuid.uuid5(self.document_id, name)

    def entry(self, name: str, resource: dict) -> dict:
        url = f"urn:uuid:{self.uuid_for(name)}"
        return {"fullUrl": url, "resource": {"id": str(self.uuid_for(name)), **resource}}

    # -- one resource per kind of line ---------------------------------------------------------

    def condition(self, item: dict, line: str, note: str) -> dict:
        data = item["data"]
        coded = item["text"] is None and item["kind"] == "condition"
        status = data.get("status") if coded else "active"
        return _drop_empty(
            {
                "resourceType": "Condition",
                "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": status or "active"}]},
                "code": _concept(data["name"], data.get("code", ""), data.get("system", ""))
                if coded
                else _concept(line),
                "subject": self.subject,
                "onsetDateTime": data.get("since") if coded else None,
                "note": _notes(note),
            }
        )

    def medication(self, item: dict, line: str, note: str) -> dict:
        data = item["data"]
        coded = item["text"] is None and item["kind"] == "medication"
        concept = _concept(data["name"], data.get("code", ""), data.get("system", "")) if coded else _concept(line)
        return _drop_empty(
            {
                "resourceType": "MedicationStatement",
                "status": "active",
                "medicationCodeableConcept": concept,
                "subject": self.subject,
                "effectivePeriod": {"start": data["started"]} if coded and data.get("started") else None,
                "dosage": [{"text": data["dosage"]}] if coded and data.get("dosage") else None,
                "note": _notes(note),
            }
        )

    def allergy(self, item: dict, line: str, note: str) -> dict:
        data = item["data"]
        coded = item["text"] is None and item["kind"] == "allergy"
        status = data.get("status") if coded else ""
        return _drop_empty(
            {
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": status}]}
                if status in _ALLERGY_STATUSES
                else None,
                "criticality": data.get("criticality") if coded and data.get("criticality") in _CRITICALITIES else None,
                "code": _concept(data["substance"], data.get("code", ""), data.get("system", ""))
                if coded
                else _concept(line),
                "patient": self.subject,
                "reaction": [{"manifestation": [{"text": data["reaction"]}]}]
                if coded and data.get("reaction")
                else None,
                "note": _notes(note),
            }
        )

    def observation(self, item: dict, line: str, note: str, *, category: str) -> dict:
        data = item["data"]
        coded = item["text"] is None and item["kind"] in ("lab", "vital")
        if not coded:
            code = _concept(line)
        else:
            coding = [{"system": LOINC, "code": data["loinc"], "display": data["name"]}] if data.get("loinc") else None
            code = _drop_empty({"coding": coding, "text": data["name"]})
        components = [
            _drop_empty(
                {
                    "code": {"text": component.get("name") or data["name"]},
                    "valueQuantity": _quantity(_number(component.get("value")), component.get("unit", "")),
                }
            )
            for component in (data.get("components") or [] if coded else [])
        ]
        components = [component for component in components if "valueQuantity" in component]
        value = _quantity(data.get("value"), data.get("unit", "")) if coded and len(components) < 2 else None
        reference = (
            _drop_empty(
                {
                    "low": _quantity(data.get("low"), data.get("unit", "")),
                    "high": _quantity(data.get("high"), data.get("unit", "")),
                }
            )
            if coded
            else {}
        )
        interpretation = _INTERPRETATIONS.get(data.get("flag", "")) if coded else None
        return _drop_empty(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}],
                "code": code,
                "subject": self.subject,
                "effectiveDateTime": data.get("date"),
                "valueQuantity": value,
                "valueString": data.get("value_text") if coded and value is None and len(components) < 2 else None,
                "interpretation": [{"coding": [{"system": INTERPRETATION, "code": interpretation}]}]
                if interpretation
                else None,
                "referenceRange": [reference] if reference else None,
                "component": components if len(components) >= 2 else None,
                "note": _notes(note),
            }
        )

    def immunization(self, item: dict, line: str, note: str) -> dict:
        data = item["data"]
        coded = item["text"] is None and item["kind"] == "immunisation"
        occurrence = {"occurrenceDateTime": data["date"]} if data.get("date") else {"occurrenceString": "unknown"}
        return _drop_empty(
            {
                "resourceType": "Immunization",
                "status": "completed",
                "vaccineCode": _concept(data["vaccine"], data.get("code", ""), data.get("system", ""))
                if coded
                else _concept(line),
                "patient": self.subject,
                **occurrence,
                "note": _notes(note),
            }
        )

    def symptom(self, item: dict, line: str, note: str) -> dict:
        data = item["data"]
        return _drop_empty(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": data.get("what") or line},
                "subject": self.subject,
                "effectiveDateTime": data.get("onset"),
                "valueString": line,
                "note": _notes(note, _("Reported by the patient.")),
            }
        )

    def absent(self, section: str, code: str) -> dict:
        concept = {"coding": [{"system": ABSENT_UNKNOWN, "code": code}], "text": _("No information")}
        if section == "conditions":
            return {"resourceType": "Condition", "code": concept, "subject": self.subject}
        if section == "medications":
            return {
                "resourceType": "MedicationStatement",
                "status": "unknown",
                "medicationCodeableConcept": concept,
                "subject": self.subject,
            }
        return {"resourceType": "AllergyIntolerance", "code": concept, "patient": self.subject}

    def resource(self, section: str, item: dict, line: str, note: str) -> dict:
        if section == "conditions":
            return self.condition(item, line, note)
        if section == "medications":
            return self.medication(item, line, note)
        if section == "allergies":
            return self.allergy(item, line, note)
        if section == "labs":
            return self.observation(item, line, note, category="laboratory")
        if section == "vitals":
            return self.observation(item, line, note, category="vital-signs")
        if section == "immunisations":
            return self.immunization(item, line, note)
        return self.symptom(item, line, note)


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def _narrative(lines: list[str]) -> dict:
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    body = f"<ul>{items}</ul>" if lines else f"<p>{escape(_('No information'))}</p>"
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


def _patient(snapshot: dict, url: str) -> dict:
    patient = snapshot["patient"]
    return _drop_empty(
        {
            "resourceType": "Patient",
            "id": url.removeprefix("urn:uuid:"),
            "name": [{"text": patient["name"]}] if patient.get("name") else None,
            "birthDate": patient.get("birth_date"),
        }
    )


def ips_bundle(snapshot: dict) -> dict:
    """The snapshot as a FHIR R4 document Bundle (a JSON-ready dict): Composition, Patient, then the entries."""
    document = _Document(snapshot)
    labels = dict(packet.SECTIONS)
    sections, entries = [], []
    for name, code, display, absent_code in IPS_SECTIONS:
        items = [item for item in snapshot["packet"].get("sections", {}).get(name, []) if item["include"]]
        views = packet.section_items_view(name, items, charts=False)
        references, lines = [], []
        for index, (item, view) in enumerate(zip(items, views, strict=True)):
            entry = document.entry(f"{name}:{index}", document.resource(name, item, view.line, view.note))
            entries.append(entry)
            references.append({"reference": entry["fullUrl"]})
            lines.append(f"{view.line} — {view.note}" if view.note else view.line)
        if not items and absent_code is None:
            continue
        if not items:
            entry = document.entry(f"{name}:absent", document.absent(name, absent_code))
            entries.append(entry)
            references.append({"reference": entry["fullUrl"]})
        sections.append(
            {
                "title": str(labels[name]),
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "text": _narrative(lines),
                "entry": references,
            }
        )
    taken_at = snapshot["taken_at"]
    composition = document.entry(
        "composition",
        {
            "resourceType": "Composition",
            "meta": {"profile": [IPS_COMPOSITION_PROFILE]},
            "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{document.document_id}"},
            "status": "final",
            "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
            "subject": document.subject,
            "date": taken_at,
            # The patient prepared the summary: they are its author.
            "author": [document.subject],
            "title": _("Patient summary"),
            "section": sections,
        },
    )
    patient = {"fullUrl": document.patient_url, "resource": _patient(snapshot, document.patient_url)}
    return {
        "resourceType": "Bundle",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{document.uuid_for('bundle')}"},
        "type": "document",
        "timestamp": taken_at,
        "entry": [composition, patient, *entries],
    }
