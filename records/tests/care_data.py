"""Synthea patients for the care-habits tests, and how the tests read what to expect from their files.

Dennis Durgan (a man born in 1949, US) and Liz Conn (a woman born in 1986, US) are Synthea R4 bundles
(see data/fhir/README.md), imported with the FHIR importer; their birth date, sex and country go into
the profile as the patient would type them. Expected values are read from the JSON files here, never
from what the code under test returns.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import time_machine

from accounts.services import profile_update
from records.fhir.importer import fhir_import

DATA = Path(__file__).parent / "data" / "fhir"
DENNIS = DATA / "Dennis_Durgan_78f005f3-7b33-4a5b-84d9-28417b36dbab.json"
LIZ = DATA / "Liz_Conn_27c911c6-f045-4ffa-af5d-6eba57ac94b2.json"
BULK_IMMUNIZATIONS = DATA / "Immunization.000.ndjson"
# A few weeks after each patient's last records.
DENNIS_TODAY = datetime.date(2008, 11, 30)
LIZ_TODAY = datetime.date(2019, 3, 1)


def resources(path: Path, kind: str) -> list[dict]:
    return [
        entry["resource"]
        for entry in json.loads(path.read_text())["entry"]
        if entry["resource"]["resourceType"] == kind
    ]


def patient_resource(path: Path) -> dict:
    return resources(path, "Patient")[0]


def immunizations(path: Path, cvx: str | None = None) -> list[tuple[datetime.date, str]]:
    """(date, CVX code) of the file's immunisations, oldest first; only one code's when given."""
    found = [
        (datetime.date.fromisoformat(item["occurrenceDateTime"][:10]), item["vaccineCode"]["coding"][0]["code"])
        for item in resources(path, "Immunization")
    ]
    return sorted(item for item in found if cvx is None or item[1] == cvx)


def add_years(day: datetime.date, years: int) -> datetime.date:
    return day.replace(year=day.year + years)


def import_patient(owner, path: Path, *, today: datetime.date):
    """Import a bundle for the owner and fill in the profile from its Patient, as the patient would."""
    with path.open("rb") as stream:
        report = fhir_import(owner=owner, stream=stream, filename=path.name)
    assert not report.errors
    person = patient_resource(path)
    profile_update(
        user=owner,
        country=person["address"][0]["country"],
        date_of_birth=datetime.date.fromisoformat(person["birthDate"]),
        sex=person["gender"],
    )
    return type(owner).objects.get(pk=owner.pk)  # without the profile cached before the update


@pytest.fixture
def dennis_care(patient):
    with time_machine.travel(datetime.datetime.combine(DENNIS_TODAY, datetime.time(12), datetime.UTC), tick=False):
        yield import_patient(patient, DENNIS, today=DENNIS_TODAY)


@pytest.fixture
def liz_care(patient):
    with time_machine.travel(datetime.datetime.combine(LIZ_TODAY, datetime.time(12), datetime.UTC), tick=False):
        yield import_patient(patient, LIZ, today=LIZ_TODAY)


def page_queries(client, url: str, params: dict | None = None) -> int:
    """How many queries a GET of the page takes (after one request, which does more for a new session)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, params or {})
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params or {}).status_code == 200
    return len(captured)
