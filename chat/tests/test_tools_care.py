"""The care-habits tools on the Synthea patient: vaccinations, preventive topics, adherence, sleep, activity, food.

Expected values come from the FHIR file (birth date, immunisations) and the sample formulas of patient_data.py.
"""

from __future__ import annotations

import datetime
import statistics

import pytest

from accounts.services import profile_update
from chat.tools import ToolError, tool_run
from records.routine import dose_log_create
from records.selectors import medications_current_for_user
from records.timeseries import Sample, samples_merge

from .patient_data import TODAY, day_of, of_type, sleep_minutes_of_day, steps_of_day, wear_day

UTC = datetime.UTC


def run(owner, name, **arguments):
    return tool_run(owner=owner, name=name, arguments=arguments)


@pytest.fixture
def dennis_profile(dennis):
    person = of_type("Patient")[0]
    profile_update(
        user=dennis,
        country=person["address"][0]["country"],
        date_of_birth=datetime.date.fromisoformat(person["birthDate"]),
        sex=person["gender"],
    )
    return type(dennis).objects.get(pk=dennis.pk)


def test_vaccinations_due_reads_his_immunisations_against_the_us_schedule(dennis_profile):
    result = run(dennis_profile, "vaccinations_due")
    data = result.data
    by_key = {item["vaccine"]: item for item in data["items"]}
    born = datetime.date.fromisoformat(of_type("Patient")[0]["birthDate"])
    assert data["country"] == "US" and data["birth_date_known"] is True
    assert data["age_years"] == TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))
    # The exact birth date is an identifier: neither it nor a birthday (50th, 75th...) is in what a model is sent.
    assert born.strftime("-%m-%d") not in str(data)
    assert by_key["zoster"]["due_since_month"] == f"{born.year + 50}-{born.month:02d}"
    assert by_key["rsv"]["from_month"] == f"{born.year + 75}-{born.month:02d}"
    flu = sorted(
        day_of(item["occurrenceDateTime"])
        for item in of_type("Immunization")
        if item["vaccineCode"]["coding"][0]["code"] == "140"
    )
    assert by_key["influenza"]["status"] == "up_to_date" and by_key["influenza"]["last_dose"] == flu[-1].isoformat()
    assert by_key["influenza"]["doses_recorded"] == len(flu)
    citation = result.citations[by_key["influenza"]["cite"]]
    assert (citation.kind, citation.date) == ("immunisations", flu[-1].isoformat())
    assert by_key["zoster"]["status"] == "due" and by_key["zoster"]["doses_recorded"] == 0
    assert "cite" not in by_key["zoster"]
    assert any("Adult Immunization Schedule" in source["title"] for source in data["sources"])


def test_preventive_topics_for_a_man_of_his_age(dennis_profile):
    data = run(dennis_profile, "preventive_topics").data
    topics = {item["topic"]: item for item in data["items"]}
    assert data["sex_known"] is True and data["country"] == "US"
    assert {"colorectal", "prostate", "cholesterol", "blood_pressure"} <= set(topics)
    assert "cervical" not in topics and "breast" not in topics
    assert all(item["status"] == "to_discuss" and not item["if_it_applies"] for item in topics.values())
    assert topics["colorectal"]["source"].startswith("U.S. Preventive Services Task Force")


def test_medication_adherence_from_the_dose_log(dennis_profile):
    lasix = next(item for item in medications_current_for_user(user=dennis_profile) if "Lasix" in item.name)
    taken = [day % 3 != 0 for day in range(45)]
    for day, was_taken in enumerate(taken):
        moment = datetime.datetime.combine(TODAY - datetime.timedelta(days=day), datetime.time(8), UTC)
        dose_log_create(user=dennis_profile, medication=lasix, taken=was_taken, at=moment)
    result = run(dennis_profile, "medication_adherence")
    item = next(item for item in result.data["items"] if item["name"] == lasix.name)
    thirty = taken[:30]
    assert item["last_30_days"]["doses_logged"] == 30 and item["last_30_days"]["taken"] == sum(thirty)
    assert item["last_30_days"]["taken_percent"] == round(100 * sum(thirty) / 30)
    assert item["last_90_days"]["doses_logged"] == 45 and item["last_90_days"]["days_with_a_log"] == 45
    assert item["last_log"] == {"at": f"{TODAY.isoformat()}T08:00:00+00:00", "taken": False}
    assert result.citations[item["cite"]].ref == str(lasix.public_id)
    others = [other for other in result.data["items"] if other["name"] != lasix.name]
    assert others and all(other["last_30_days"]["doses_logged"] == 0 for other in others)


def test_sleep_regularity_from_the_watch(dennis_wearables):
    result = run(dennis_wearables, "sleep_regularity", weeks=12)
    data = result.data
    start = datetime.date.fromisoformat(data["period"]["start"])
    assert start.weekday() == 0 and (TODAY - start).days == 7 * 11 + TODAY.weekday()
    # Each day's sleep starts at 00:30: the night belongs to the evening before.
    nights = [index for index in range(91) if start <= wear_day(index) - datetime.timedelta(days=1) <= TODAY]
    assert data["nights"] == len(nights)
    assert data["bedtime_spread_minutes"] == 0
    wakes = [30 + sleep_minutes_of_day(index) for index in nights]
    assert data["wake_spread_minutes"] == round(statistics.pstdev(wakes))
    assert data["usual_bedtime"] == "12:30 a.m."
    [citation] = result.citations
    assert (citation.kind, citation.ref, citation.url) == ("series", "sleep", "/care/habits/?weeks=12")


def test_activity_days_over_a_threshold(dennis_wearables):
    data = run(dennis_wearables, "activity_days", weeks=4, steps=7000).data
    start = datetime.date.fromisoformat(data["period"]["start"])
    days = [index for index in range(91) if start <= wear_day(index) <= TODAY]
    active = [index for index in days if steps_of_day(index) >= 7000]
    assert (data["active_days"], data["days_with_data"]) == (len(active), len(days))
    assert data["active_days_per_week"] == round(len(active) * 7 / len(days), 1)
    assert sum(week["active_days"] for week in data["weeks"]) == len(active)


def test_nutrition_from_a_food_diary(dennis):
    start = TODAY - datetime.timedelta(days=13)
    samples = []
    for offset in range(14):
        day = start + datetime.timedelta(days=offset)
        begin = datetime.datetime.combine(day, datetime.time(), UTC)
        end = begin + datetime.timedelta(days=1)
        for metric, value, unit in (
            ("dietary_energy", 2000 + 10 * offset, "kcal"),
            ("protein", 90, "g"),
            ("carbohydrates", 250, "g"),
            ("fat", 70, "g"),
        ):
            samples.append(Sample(metric, begin, end, value, unit, "Test Diary"))
    samples_merge(owner=dennis, samples=samples)
    result = run(dennis, "nutrition", weeks=2)
    data = result.data
    assert data["days_logged"] == 14
    assert data["per_day"]["energy_kcal"] == round(statistics.fmean(2000 + 10 * offset for offset in range(14)))
    total = 90 * 4 + 250 * 4 + 70 * 9
    assert data["energy_share_percent"] == {
        "protein": round(36000 / total),
        "carbohydrates": round(100000 / total),
        "fat": round(63000 / total),
    }
    assert [citation.ref for citation in result.citations] == ["dietary_energy", "protein", "carbohydrates", "fat"]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("sleep_regularity", {"weeks": 0}),
        ("activity_days", {"steps": 10}),
        ("nutrition", {"days": 3}),
        ("vaccinations_due", {"country": "US"}),
    ],
)
def test_invalid_arguments_are_refused(patient, name, arguments):
    with pytest.raises(ToolError):
        run(patient, name, **arguments)


def test_a_very_long_period_is_cut_and_says_so(dennis_wearables):
    data = run(dennis_wearables, "activity_days", weeks=10_000).data
    assert data["period"]["clamped"] is True and data["period"]["weeks"] == 3653 // 7
