"""The offline engine asked about care habits, in English and French: vaccinations, screenings, doses, habits.

Expected numbers and dates are computed from the FHIR file and the sample formulas (patient_data.py).
"""

from __future__ import annotations

import datetime
import re

import pytest

from chat import intents
from records.habits import weeks_start
from records.routine import dose_log_create
from records.selectors import medications_current_for_user

from . import test_tools_care
from .patient_data import MONTHS_FR, TODAY, en, of_type, steps_of_day, wear_day
from .test_offline import ask

UTC = datetime.UTC
dennis_profile = test_tools_care.dennis_profile  # the fixture: his profile filled in from his record


def read(text, language="en"):
    return intents.question_read(text, language=language, today=TODAY).intents


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Which vaccines are due?", ["vaccines_due"]),
        ("Am I up to date with my vaccinations?", ["vaccines_due"]),
        ("Should I get the shingles vaccine?", ["vaccines_due"]),
        ("Quels vaccins dois-je faire ?", ["vaccines_due"]),
        ("Which vaccines have I had?", ["immunizations"]),
        ("Which screenings should I have at my age?", ["preventive"]),
        ("Quels dépistages sont recommandés pour moi ?", ["preventive"]),
        ("Should I stop my statin before my colonoscopy?", ["advice"]),
        ("Help me prepare my check-up with my GP", ["visit"]),
        ("Did I miss any doses this month?", ["adherence"]),
        ("Est-ce que j'oublie des prises de médicaments ?", ["adherence"]),
        ("How regular is my sleep?", ["sleep_regularity"]),
        ("What time do I usually go to bed?", ["sleep_regularity"]),
        ("Mon sommeil est-il régulier ?", ["sleep_regularity"]),
        ("How many days did I walk 10,000 steps?", ["activity_days"]),
        ("Combien de jours actifs ces 4 dernières semaines ?", ["activity_days"]),
        ("How is my nutrition?", ["nutrition"]),
        ("Que dit mon alimentation des macronutriments ?", ["nutrition"]),
        ("How did I sleep last week?", ["metrics"]),
    ],
)
def test_care_questions_are_read_in_english_and_french(text, expected):
    assert read(text) == expected


def test_the_steps_a_question_names():
    assert intents.question_read("How many days over 10,000 steps?", language="en", today=TODAY).steps == 10000
    assert intents.question_read("combien de jours à 8 000 pas ?", language="fr", today=TODAY).steps == 8000


def test_vaccines_due_in_english(dennis_profile):
    text, used, citations = ask(dennis_profile, "Which vaccines are due?")

    assert [tool.name for tool in used] == ["vaccinations_due"]
    assert "CDC immunization schedules, United States, 2025" in text
    born = datetime.date.fromisoformat(of_type("Patient")[0]["birthDate"])
    assert "**Shingles (recombinant zoster vaccine)** — recorded as due; no dose recorded here" in text
    assert f"Respiratory syncytial virus (RSV) from {born.strftime('%B')} {born.year + 75}" in text
    flu = [item for item in of_type("Immunization") if item["vaccineCode"]["coding"][0]["code"] == "140"]
    assert f"Influenza (flu) (next from September {TODAY.year + 1})" in text
    assert any(
        citation.kind == "immunisations" and citation.date == flu[-1]["occurrenceDateTime"][:10]
        for citation in citations
    )
    assert "to discuss with your clinician" in text.lower()


def test_vaccines_due_in_french(dennis_profile):
    text, _used, _citations = ask(dennis_profile, "Quels vaccins dois-je faire ?", language="en")

    # His profile says US: the CDC schedule, with its vaccines and months in French.
    assert "Zona (vaccin recombinant)" in text and "Grippe" in text and "Shingles" not in text
    born = datetime.date.fromisoformat(of_type("Patient")[0]["birthDate"])
    assert f"{MONTHS_FR[born.month - 1]} {born.year + 75}" in text
    assert f"septembre {TODAY.year + 1}" in text


def test_without_a_birth_date_the_engine_says_what_it_needs(dennis):
    text, _used, _citations = ask(dennis, "Which vaccines are due?")
    assert "date of birth" in text and "recorded as due" not in text


def test_screenings_for_a_man_of_his_age_in_both_languages(dennis_profile):
    text, used, _citations = ask(dennis_profile, "Which screenings should I have?")
    assert [tool.name for tool in used] == ["preventive_topics"]
    assert "**Colorectal cancer screening**" in text and "Cervical" not in text
    french, _used, _citations = ask(dennis_profile, "Quels dépistages sont recommandés pour moi ?", language="en")
    # His profile says US: the USPSTF topics, in French.
    assert "**Dépistage du cancer colorectal**" in french


def test_adherence_from_the_dose_log(dennis_profile):
    lasix = next(item for item in medications_current_for_user(user=dennis_profile) if "Lasix" in item.name)
    for day in range(10):
        moment = datetime.datetime.combine(TODAY - datetime.timedelta(days=day), datetime.time(8), UTC)
        dose_log_create(user=dennis_profile, medication=lasix, taken=day != 3, at=moment)

    text, used, citations = ask(dennis_profile, "Did I miss any doses?")

    assert [tool.name for tool in used] == ["medication_adherence"]
    line = next(line for line in text.splitlines() if "Lasix" in line)
    assert "last 30 days: 9 taken of 10 doses logged (90 %), on 10 days of 30" in line
    marked = [citations[int(number) - 1] for number in re.findall(r"\[(\d+)\]", line)]
    assert [citation.ref for citation in marked] == [str(lasix.public_id)]


def test_sleep_regularity_in_english_and_french(dennis_profile, dennis_wearables):
    text, used, citations = ask(dennis_profile, "How regular is my sleep?")
    assert used[0].name == "sleep_regularity" and used[0].arguments == {"weeks": 12}
    start = weeks_start(TODAY, 12)
    nights = [index for index in range(91) if start <= wear_day(index) - datetime.timedelta(days=1) <= TODAY]
    assert f"Over {len(nights)} nights in the last 12 weeks, you usually fell asleep around 12:30 a.m." in text
    assert citations[0].ref == "sleep"
    french, _used, _citations = ask(dennis_profile, "Mon sommeil est-il régulier ?", language="en")
    assert "00:30" in french and "12:30 a.m." not in french


def test_active_days_with_the_threshold_and_period_asked(dennis_profile, dennis_wearables):
    text, used, _citations = ask(dennis_profile, "How many days did I walk 10,000 steps in the last 4 weeks?")
    assert used[0].arguments == {"weeks": 4, "steps": 10000}
    start = weeks_start(TODAY, 4)
    days = [index for index in range(91) if start <= wear_day(index) <= TODAY]
    active = sum(1 for index in days if steps_of_day(index) >= 10000)
    assert f"you reached 10,000 steps on {active} days, {en(active * 7 / len(days), 1)} days a week" in text


def test_nutrition_without_food_logged_says_so(dennis_profile, dennis_wearables):
    text, used, citations = ask(dennis_profile, "How is my nutrition?")
    assert used[0].name == "nutrition" and citations == []
    assert "No food logged in the last 12 weeks." in text
