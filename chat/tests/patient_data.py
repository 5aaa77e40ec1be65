"""The patient the chat's tools and offline engine are asked about, and how the tests compute what to expect.

Dennis Durgan is a Synthea patient (R4 bundle, see data/README.md) imported with the FHIR importer, plus a
hand-written lab supplement (HbA1c with a reference range and flags, an LDL in mmol/L). The "wearables"
fixture adds 91 days of steps, resting heart rate, sleep and weekly weight from fixed formulas. Time is
frozen on TODAY, a few weeks after his last records. Expected values are computed here from the JSON files
and the formulas, never from what the tools return.
"""

from __future__ import annotations

import datetime
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import time_machine

from records.fhir.importer import fhir_import
from records.timeseries import SLEEP_STAGES, Sample, samples_merge

UTC = datetime.UTC
DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "Dennis_Durgan_78f005f3-7b33-4a5b-84d9-28417b36dbab.json"
SUPPLEMENT = DATA / "dennis-lab-supplement.json"
TODAY = datetime.date(2008, 11, 30)
NOW = datetime.datetime(2008, 11, 30, 12, 0, tzinfo=UTC)
WEAR_START = datetime.date(2008, 9, 1)
WEAR_DAYS = (TODAY - WEAR_START).days + 1  # 91
WATCH = "Test Watch"
SCALE = "Test Scale"


# -- the FHIR files -----------------------------------------------------------------------------------------


def resources(path: Path = BUNDLE) -> list[dict]:
    return [entry["resource"] for entry in json.loads(path.read_text())["entry"]]


def all_resources() -> list[dict]:
    return resources(BUNDLE) + resources(SUPPLEMENT)


def day_of(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text[:10])


def observations(loinc: str) -> list[dict]:
    """The Observations of a LOINC code, oldest first."""
    found = [
        resource
        for resource in all_resources()
        if resource["resourceType"] == "Observation"
        and any(coding.get("code") == loinc for coding in resource["code"]["coding"])
    ]
    return sorted(found, key=lambda resource: resource["effectiveDateTime"])


def component(resource: dict, loinc: str) -> float:
    return next(
        item["valueQuantity"]["value"] for item in resource["component"] if item["code"]["coding"][0]["code"] == loinc
    )


def of_type(kind: str) -> list[dict]:
    return [resource for resource in all_resources() if resource["resourceType"] == kind]


def text_of(concept: dict) -> str:
    return concept.get("text") or concept["coding"][0]["display"]


# -- wearables ----------------------------------------------------------------------------------------------


def wear_day(index: int) -> datetime.date:
    return WEAR_START + datetime.timedelta(days=index)


def steps_of_day(index: int) -> int:
    return 6000 + 50 * index


def resting_hr_of_day(index: int) -> int:
    return 64 - index // 10


def sleep_minutes_of_day(index: int) -> int:
    return 400 + (index % 5) * 10


def weight_of_day(index: int) -> float | None:
    """A weekly weighing, Mondays from September 1st."""
    return round(71.0 - 0.1 * (index // 7), 1) if index % 7 == 0 else None


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def wearable_samples() -> list[Sample]:
    samples = []
    for index in range(WEAR_DAYS):
        day = wear_day(index)
        for hour in range(8, 18):  # the day's steps spread over ten hours
            samples.append(
                Sample("steps", _at(day, hour), _at(day, hour, 59), steps_of_day(index) / 10, "count", WATCH)
            )
        morning = _at(day, 6)
        samples.append(Sample("resting_heart_rate", morning, morning, resting_hr_of_day(index), "bpm", WATCH))
        bedtime = _at(day, 0, 30)
        wake = bedtime + datetime.timedelta(minutes=sleep_minutes_of_day(index))
        samples.append(Sample("sleep", bedtime, wake, SLEEP_STAGES["core"], "stage", WATCH))
        weight = weight_of_day(index)
        if weight is not None:
            weighing = _at(day, 7)
            samples.append(Sample("weight", weighing, weighing, weight, "kg", SCALE))
    return samples


def days_between(start: datetime.date, end: datetime.date) -> list[int]:
    """The wearable day indexes from start to end inclusive."""
    return [index for index in range(WEAR_DAYS) if start <= wear_day(index) <= end]


# -- how numbers are written --------------------------------------------------------------------------------


def rounded(value: float, decimals: int) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def en(value: float, decimals: int) -> str:
    return f"{rounded(value, decimals):,}"


def fr(value: float, decimals: int) -> str:
    return en(value, decimals).replace(",", " ").replace(".", ",")


MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")  # fmt: skip
MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre")  # fmt: skip


def date_en(day: datetime.date) -> str:
    return f"{MONTHS_EN[day.month - 1]} {day.day}, {day.year}"


def date_fr(day: datetime.date) -> str:
    return f"{'1er' if day.day == 1 else day.day} {MONTHS_FR[day.month - 1]} {day.year}"


def plain(text: str) -> str:
    """Text with its no-break spaces as plain spaces, for comparing with expected values."""
    return text.replace("\N{NO-BREAK SPACE}", " ").replace("\N{NARROW NO-BREAK SPACE}", " ")


# -- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def dennis(patient, frozen):
    """The patient, with the Synthea bundle and the lab supplement imported."""
    for path in (BUNDLE, SUPPLEMENT):
        with path.open("rb") as stream:
            report = fhir_import(owner=patient, stream=stream, filename=path.name)
        assert not report.errors
    return patient


@pytest.fixture
def dennis_wearables(dennis):
    """The patient with his records and 91 days of wearable and scale samples."""
    result = samples_merge(owner=dennis, samples=wearable_samples())
    assert result.rejected == 0
    return dennis
