"""The visit summary as an IPS-style FHIR document Bundle, validated with fhir.resources (R4B models)."""

import json

import pytest
from django.urls import reverse
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from records import packet, visits
from records.fhir.importer import fhir_import
from records.fhir.ips import ABSENT_UNKNOWN, ips_bundle
from records.tests.test_fhir import DENNIS
from records.tests.visit_factories import prepared_visit

SECTION_CODES = {
    "11450-4": "conditions",
    "10160-0": "medications",
    "48765-2": "allergies",
    "30954-2": "labs",
    "8716-3": "vitals",
    "11369-6": "immunisations",
    "10164-2": "symptoms",
}


def _validate(bundle: dict) -> None:
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


def _sections(bundle: dict) -> dict[str, dict]:
    composition = bundle["entry"][0]["resource"]
    return {SECTION_CODES[section["code"]["coding"][0]["code"]]: section for section in composition["section"]}


def _resources(bundle: dict, section: dict) -> list[dict]:
    by_url = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}
    return [by_url[reference["reference"]] for reference in section["entry"]]


def test_the_bundle_is_a_valid_ips_style_document(patient):
    visit = prepared_visit(patient)
    bundle = ips_bundle(packet.visit_snapshot(visit=visit))
    _validate(bundle)
    assert bundle["type"] == "document" and bundle["identifier"]["value"].startswith("urn:uuid:")
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition" and composition["status"] == "final"
    assert composition["type"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "60591-5",
        "display": "Patient summary Document",
    }
    assert bundle["entry"][1]["resource"]["resourceType"] == "Patient"
    assert composition["subject"]["reference"] == bundle["entry"][1]["fullUrl"]
    sections = _sections(bundle)
    assert set(sections) == set(SECTION_CODES.values())
    urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(urls) == len(set(urls))
    medications = _resources(bundle, sections["medications"])
    assert {resource["resourceType"] for resource in medications} == {"MedicationStatement"}
    metformin = next(r for r in medications if r["medicationCodeableConcept"]["text"] == "Metformin 1000 mg")
    assert metformin["note"][0]["text"] == "Your records give different doses: 1 tablet twice daily; 1 tablet daily."
    lisinopril = next(r for r in medications if r["medicationCodeableConcept"]["text"].startswith("Lisinopril"))
    assert lisinopril["medicationCodeableConcept"]["coding"] == [
        {"code": "314076", "system": "http://www.nlm.nih.gov/research/umls/rxnorm"}
    ]
    (glucose,) = _resources(bundle, sections["labs"])
    assert glucose["code"]["coding"][0]["code"] == "2345-7" and glucose["valueQuantity"] == {
        "value": 131.0,
        "unit": "mg/dL",
    }
    assert glucose["interpretation"][0]["coding"][0]["code"] == "H"
    assert glucose["referenceRange"] == [
        {"low": {"value": 70.0, "unit": "mg/dL"}, "high": {"value": 99.0, "unit": "mg/dL"}}
    ]
    (allergy,) = _resources(bundle, sections["allergies"])
    assert allergy["criticality"] == "high" and allergy["reaction"][0]["manifestation"][0]["text"] == "hives"
    assert "Penicillin — hives" in sections["allergies"]["text"]["div"]
    assert sections["allergies"]["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')


def test_a_reworded_line_keeps_its_words_and_drops_its_codes_and_a_hidden_one_is_left_out(patient):
    visit = prepared_visit(patient)
    sections = visit.packet["sections"]
    lisinopril = next(item for item in sections["medications"] if item["data"]["name"].startswith("Lisinopril"))
    lisinopril["text"] = "Lisinopril 5 mg, my GP halved it"
    sections["allergies"][0]["include"] = False
    visit.packet = visit.packet
    visit.save()
    bundle = ips_bundle(packet.visit_snapshot(visit=visit))
    _validate(bundle)
    medications = _resources(bundle, _sections(bundle)["medications"])
    reworded = next(
        r for r in medications if r["medicationCodeableConcept"]["text"] == "Lisinopril 5 mg, my GP halved it"
    )
    assert "coding" not in reworded["medicationCodeableConcept"]
    # The allergies section is required by IPS: with nothing shown it says "no information".
    (absent,) = _resources(bundle, _sections(bundle)["allergies"])
    assert absent["code"]["coding"] == [{"system": ABSENT_UNKNOWN, "code": "no-allergy-info"}]
    assert "Penicillin" not in json.dumps(bundle)


def test_a_real_record_gives_a_valid_bundle(patient):
    with DENNIS.open("rb") as stream:
        fhir_import(owner=patient, stream=stream, filename=DENNIS.name)
    visit = visits.visit_create(user=patient, appointment_at=patient.date_joined, clinician="GP")
    bundle = ips_bundle(packet.visit_snapshot(visit=visit))
    _validate(bundle)
    sections = _sections(bundle)
    pressure = next(
        r for r in _resources(bundle, sections["vitals"]) if r["code"].get("coding", [{}])[0].get("code") == "55284-4"
    )
    assert [component["code"]["text"] for component in pressure["component"]] == [
        "Systolic Blood Pressure",
        "Diastolic Blood Pressure",
    ]
    assert "valueQuantity" not in pressure
    assert len(_resources(bundle, sections["conditions"])) == len(visit.packet["sections"]["conditions"])


def test_an_empty_record_still_has_the_three_required_sections(patient):
    visit = visits.visit_create(user=patient, appointment_at=patient.date_joined, clinician="GP")
    bundle = ips_bundle(packet.visit_snapshot(visit=visit))
    _validate(bundle)
    sections = _sections(bundle)
    assert set(sections) == {"conditions", "medications", "allergies"}
    codes = {
        _resources(bundle, section)[0]["code" if name != "medications" else "medicationCodeableConcept"]["coding"][0][
            "code"
        ]
        for name, section in sections.items()
    }
    assert codes == {"no-problem-info", "no-medication-info", "no-allergy-info"}


@pytest.mark.parametrize(("language", "title"), [("en", "Current medications"), ("fr", "Traitements en cours")])
def test_the_patient_downloads_the_bundle_in_a_language(patient_client, patient, language, title):
    visit = prepared_visit(patient)
    response = patient_client.get(reverse("records:visit_fhir", args=[visit.public_id]), {"lang": language})
    assert response["Content-Type"] == "application/fhir+json" and "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith("attachment")
    bundle = response.json()
    _validate(bundle)
    assert _sections(bundle)["medications"]["title"] == title
