"""The offline engine asked real questions about a Synthea patient, in English and French.

Every expected number is computed here from the FHIR files or the sample formulas (patient_data.py), then
written the language's way, and looked for in the answer.
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import translation

from chat import intents
from chat.engine import Finished, TextDelta, ToolUsed, Turn
from chat.offline import OfflineEngine
from records.models import Encounter, Immunization, Medication

from .patient_data import (
    TODAY,
    component,
    date_en,
    date_fr,
    day_of,
    days_between,
    en,
    fr,
    observations,
    of_type,
    plain,
    resting_hr_of_day,
    sleep_minutes_of_day,
    steps_of_day,
    text_of,
    weight_of_day,
)

# What an answer must never say: diagnoses, prescriptions, dose changes, reassurance that replaces a clinician.
FORBIDDEN = [
    "you should",
    "you must",
    "you need to take",
    "double your dose",
    "double the dose",
    "increase your dose",
    "reduce your dose",
    "lower your dose",
    "stop taking",
    "start taking",
    "it is safe",
    "it's safe",
    "you have diabetes",
    "you don't have",
    "you do not have",
    "you probably have",
    "you likely have",
    "you may have",
    "it looks like",
    "your diagnosis is",
    "i recommend",
    "i suggest you",
    "i advise",
    "no need to see",
    "nothing to worry",
    "go ahead",
    "vous devriez",
    "vous devez",
    "doublez",
    "augmentez",
    "diminuez",
    "réduisez",
    "arrêtez",
    "commencez à prendre",
    "sans danger",
    "vous avez du diabète",
    "vous n'avez pas",
    "vous avez probablement",
    "il s'agit probablement",
    "c'est probablement",
    "je vous conseille",
    "je vous recommande",
    "pas besoin de consulter",
    "rien de grave",
    "allez-y",
]


def ask(owner, question: str, *, language: str = "en", memory: list[str] | None = None):
    """(answer text with plain spaces, the tools used, the citations in order)."""
    events = list(
        OfflineEngine().reply(owner=owner, turns=[Turn("user", question)], language=language, memory=memory or [])
    )
    assert isinstance(events[-1], Finished) and events[-1].provider == "offline" and events[-1].sent == []
    assert sum(isinstance(event, Finished) for event in events) == 1
    text = "".join(event.text for event in events if isinstance(event, TextDelta))
    used = [event for event in events if isinstance(event, ToolUsed)]
    citations = [citation for event in used for citation in event.result.citations]
    lowered = text.lower()
    for phrase in FORBIDDEN:
        assert phrase not in lowered, phrase
    # Every marker points at a citation of this reply.
    for number in re.findall(r"\[(\d+)\]", text):
        assert 1 <= int(number) <= len(citations)
    return plain(text), used, citations


def cited(text: str, needle: str, citations) -> list:
    """The citations marked on the line where `needle` appears."""
    line = next(line for line in text.splitlines() if needle in line)
    return [citations[int(number) - 1] for number in re.findall(r"\[(\d+)\]", line)]


# -- measurements -------------------------------------------------------------------------------------------


def test_latest_weight_in_english(dennis):
    weight = observations("29463-7")[-1]

    text, used, citations = ask(dennis, "What is my latest weight?")

    value, day = weight["valueQuantity"]["value"], day_of(weight["effectiveDateTime"])
    assert f"**{en(value, 1)} kg**" in text
    assert date_en(day) in text
    assert [tool.name for tool in used] == ["metric_summary"]
    [citation] = cited(text, en(value, 1), citations)
    assert (citation.kind, citation.label, citation.date) == ("vital-signs", "Body Weight", day.isoformat())


def test_latest_weight_in_french_even_when_the_page_is_in_english(dennis):
    weight = observations("29463-7")[-1]

    text, _used, _citations = ask(dennis, "Quel est mon dernier poids ?", language="en")

    assert f"{fr(weight['valueQuantity']['value'], 1)} kg" in text
    assert date_fr(day_of(weight["effectiveDateTime"])) in text
    assert en(weight["valueQuantity"]["value"], 1) not in text


def test_latest_bmi_and_blood_pressure(dennis):
    bmi, pressure = observations("39156-5")[-1], observations("55284-4")[-1]

    text, used, _citations = ask(dennis, "What is my latest BMI and blood pressure?")

    assert f"{en(bmi['valueQuantity']['value'], 1)} kg/m2" in text
    systolic, diastolic = component(pressure, "8480-6"), component(pressure, "8462-4")
    assert f"**{en(systolic, 0)}/{en(diastolic, 0)} mmHg**" in text
    assert [tool.arguments["metric"] for tool in used] == ["bmi", "blood_pressure"]


def test_how_resting_heart_rate_changed_over_three_months(dennis_wearables):
    text, used, _citations = ask(dennis_wearables, "How has my resting heart rate changed over the last 3 months?")

    start = datetime.date(2008, 8, 31)  # three calendar months back from November 30, the day after
    values = [resting_hr_of_day(i) for i in days_between(start, TODAY)]
    assert used[0].arguments == {"metric": "resting_heart_rate", "start": start.isoformat(), "end": "2008-11-30"}
    assert f"From {date_en(start)} to {date_en(TODAY)}" in text
    assert f"average **{en(sum(values) / len(values), 0)} bpm**, from {min(values)} bpm to {max(values)} bpm" in text
    assert f"on {len(values)} days with data" in text
    first, last = values[:7], values[-7:]
    assert f"first week average {en(sum(first) / 7, 0)} bpm, last week average {en(sum(last) / 7, 0)} bpm" in text
    assert "Resting heart rate down" in text


def test_sleep_last_week_in_hours_and_minutes(dennis_wearables):
    text, _used, _citations = ask(dennis_wearables, "How did I sleep last week?")

    week = [sleep_minutes_of_day(i) for i in days_between(TODAY - datetime.timedelta(days=6), TODAY)]
    mean = round(sum(week) / 7)
    assert f"average **{mean // 60} h {mean % 60:02d} min**" in text


# -- lab tests ----------------------------------------------------------------------------------------------


def test_my_last_hba1c_in_french_with_its_range_and_flags(dennis):
    results = observations("4548-4")

    text, used, citations = ask(dennis, "mon dernier HbA1c", language="fr")

    latest = results[-1]
    value, day = latest["valueQuantity"]["value"], day_of(latest["effectiveDateTime"])
    low = latest["referenceRange"][0]["low"]["value"]
    high = latest["referenceRange"][0]["high"]["value"]
    assert used[0].name == "lab_history"
    assert f"**{fr(value, 1)} %**" in text and date_fr(day) in text
    assert f"({fr(low, 1)}–{fr(high, 1)} %)" in text
    for result in results:
        line = next(
            line for line in text.splitlines() if line.startswith(f"- {date_fr(day_of(result['effectiveDateTime']))}")
        )
        assert fr(result["valueQuantity"]["value"], 1) in line
        # Flagged exactly when above the range, and cited to that result.
        assert ("(4,0–5,6 %)" in line) == (result["valueQuantity"]["value"] > high)
        [citation] = cited(text, line, citations)
        assert citation.date == result["effectiveDateTime"][:10] and citation.kind == "lab-results"


def test_ldl_history_in_one_unit(dennis):
    results = observations("18262-6")

    text, _used, _citations = ask(dennis, "How has my LDL cholesterol changed?")

    values = [r["valueQuantity"]["value"] * (38.665 if r["valueQuantity"]["unit"] == "mmol/L" else 1) for r in results]
    for result, value in zip(results, values, strict=True):
        assert f"- {date_en(day_of(result['effectiveDateTime']))}: {en(value, 1)} mg/dL" in text
    assert (
        f"Change since {date_en(day_of(results[0]['effectiveDateTime']))}: +{en(values[-1] - values[0], 1)} mg/dL"
        in text
    )


# -- lists --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "language"),
    [("Which medications am I taking?", "en"), ("Quels médicaments je prends ?", "fr")],
)
def test_current_medications(dennis, question, language):
    text, used, citations = ask(dennis, question, language=language)

    active = [r for r in of_type("MedicationRequest") if r["status"] == "active"]
    assert used[0].arguments == {"active_only": True}
    for request in active:
        name = text_of(request["medicationCodeableConcept"]).replace("[", "\\[").replace("]", "\\]")
        day = day_of(request["authoredOn"])
        line = next(line for line in text.splitlines() if f"**{name}**" in line)
        assert (date_fr(day) if language == "fr" else date_en(day)) in line
        [citation] = cited(text, f"**{name}**", citations)
        assert citation.kind == "medications" and citation.date == day.isoformat()
    assert f" {len(active)} " in text.splitlines()[0]


def test_am_i_allergic_to_anything(dennis):
    text, used, _citations = ask(dennis, "Am I allergic to anything?")

    assert [tool.name for tool in used] == ["allergies"]
    allergies = of_type("AllergyIntolerance")
    assert f"list {len(allergies)} allergies" in text
    for allergy in allergies:
        assert f"**{text_of(allergy['code'])}**" in text


def test_conditions_and_immunisations(dennis):
    conditions, _used, _c = ask(dennis, "What conditions are in my records?")
    shots, _used, _c = ask(dennis, "Which vaccines have I had?")

    for condition in of_type("Condition"):
        active = condition["clinicalStatus"]["coding"][0]["code"] == "active"
        assert (f"**{text_of(condition['code'])}**" in conditions) == active
    immunizations = of_type("Immunization")
    flu = [s for s in immunizations if s["vaccineCode"]["coding"][0]["code"] == "140"]
    latest = max(day_of(s["occurrenceDateTime"]) for s in flu)
    assert f"list {len(immunizations)} immunisations" in shots
    assert f"**{text_of(flu[0]['vaccineCode'])}** — {len(flu)} doses, latest on {date_en(latest)}" in shots


# -- changes, summaries, visits -----------------------------------------------------------------------------


def _count_since(since: datetime.date, kind: str, field: str) -> int:
    return sum(1 for r in of_type(kind) if r.get(field) and day_of(r[field]) >= since)


def kind_title(model, language: str) -> str:
    """How the answer names a kind of record: its plural name in the answer's language."""
    with translation.override(language):
        return str(model._meta.verbose_name_plural).capitalize()


@pytest.mark.parametrize(
    ("question", "language"),
    [("What changed since May 1?", "en"), ("Qu'est-ce qui a changé depuis le 1er mai ?", "fr")],
)
def test_what_changed_since_a_date(dennis, question, language):
    text, used, _citations = ask(dennis, question, language=language)

    since = datetime.date(2008, 5, 1)
    assert used[0].arguments == {"date": "2008-05-01"}
    assert (date_fr(since) if language == "fr" else date_en(since)) in text
    medications = _count_since(since, "MedicationRequest", "authoredOn")
    assert f"**{kind_title(Medication, language)}** ({medications})" in text
    shots = _count_since(since, "Immunization", "occurrenceDateTime")
    assert f"**{kind_title(Immunization, language)}** ({shots})" in text
    visits = sum(1 for r in of_type("Encounter") if day_of(r["period"]["start"]) >= since)
    assert f"**{kind_title(Encounter, language)}** ({visits})" in text


@pytest.mark.parametrize(
    ("question", "language", "write"),
    [("Summarise my last 30 days", "en", en), ("Résume mes 30 derniers jours", "fr", fr)],
)
def test_a_summary_of_the_last_thirty_days(dennis_wearables, question, language, write):
    text, used, _citations = ask(dennis_wearables, question, language="en")

    month = days_between(TODAY - datetime.timedelta(days=29), TODAY)
    steps = [steps_of_day(i) for i in month]
    assert used[0].arguments == {"days": 30}
    assert f"**{write(sum(steps) / 30, 0)} " in text  # "steps", or "pas" in French
    if language == "en":
        assert f"from {write(min(steps), 0)} steps to {write(max(steps), 0)} steps (30 days" in text
    sleep = round(sum(sleep_minutes_of_day(i) for i in month) / 30)
    assert f"**{sleep // 60} h {sleep % 60:02d} min**" in text
    hr = [resting_hr_of_day(i) for i in month]
    assert f"**{write(sum(hr) / 30, 0)} bpm**" in text
    weights = [(i, weight_of_day(i)) for i in month if weight_of_day(i) is not None]
    assert f"**{write(weights[-1][1], 1)} kg**" in text
    new = sum(1 for r in of_type("Encounter") if day_of(r["period"]["start"]) >= TODAY - datetime.timedelta(days=29))
    assert f"**{kind_title(Encounter, language)}** ({new})" in text


def test_activity_is_phrased_with_what_the_patient_told(dennis_wearables):
    text, _used, _citations = ask(
        dennis_wearables, "How many steps did I take last week?", memory=["I am training for the Paris marathon"]
    )

    week = [steps_of_day(i) for i in days_between(TODAY - datetime.timedelta(days=6), TODAY)]
    assert f"average per day **{en(sum(week) / 7, 0)} steps**" in text
    assert "“I am training for the Paris marathon”" in text


@pytest.mark.parametrize(
    ("question", "language", "write", "on"),
    [
        ("Help me prepare my visit with my cardiologist", "en", en, date_en),
        ("Aide-moi à préparer mon rendez-vous chez le cardiologue", "fr", fr, date_fr),
    ],
)
def test_preparing_a_visit(dennis_wearables, question, language, write, on):
    text, used, citations = ask(dennis_wearables, question, language=language)

    assert used[0].name == "visit_preparation"
    assert used[0].arguments["reason"] in ("cardiologist", "cardiologue")
    ldl = observations("18262-6")
    before, after = ldl[-2]["valueQuantity"]["value"], ldl[-1]["valueQuantity"]["value"] * 38.665
    line = next(
        line
        for line in text.splitlines()
        if "Low Density Lipoprotein Cholesterol" in line
        and f"{write(before, 1)} mg/dL" in line
        and f"{write(after, 1)} mg/dL" in line
    )
    assert on(day_of(ldl[-2]["effectiveDateTime"])) in line
    if language == "en":
        assert (
            f"Low Density Lipoprotein Cholesterol has risen from {write(before, 1)} mg/dL to {write(after, 1)} mg/dL"
            in line
        )
    assert sorted(c.date for c in cited(text, line, citations)) == [r["effectiveDateTime"][:10] for r in ldl[-2:]]
    for request in of_type("MedicationRequest"):
        assert text_of(request["medicationCodeableConcept"]).split(" [")[0] in text
    for allergy in of_type("AllergyIntolerance"):
        assert text_of(allergy["code"]) in text
    if language == "en":
        assert "Resting heart rate went down by" in text


# -- what the data cannot answer ----------------------------------------------------------------------------

CANNOT_ANSWER = [
    ("Should I double my dose?", "en"),
    ("Can I stop taking my metoprolol?", "en"),
    ("Is it safe to take naproxen with Lasix?", "en"),
    ("How much furosemide should I take?", "en"),
    ("Do I have diabetes?", "en"),
    ("What is this rash on my arm?", "en"),
    ("Is it serious?", "en"),
    ("Dois-je doubler ma dose ?", "fr"),
    ("Puis-je arrêter mon traitement ?", "fr"),
    ("Est-ce que je peux augmenter mes comprimés de Lasix ?", "fr"),
    ("Est-ce que j'ai du diabète ?", "fr"),
    ("C'est quoi ce bouton sur mon bras ?", "fr"),
    ("Est-ce grave ?", "fr"),
]


@pytest.mark.parametrize(("question", "language"), CANNOT_ANSWER)
def test_questions_the_data_cannot_answer_get_questions_for_a_clinician(dennis, question, language):
    text, used, _citations = ask(dennis, question, language=language)

    assert used == []  # nothing read, nothing cited
    suggestions = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(suggestions) == 3 and all(line.endswith("?") for line in suggestions)
    # No medicine, dose or condition from the records is named back.
    for request in of_type("MedicationRequest"):
        assert text_of(request["medicationCodeableConcept"]) not in text
    assert "diabet" not in text.lower()


def test_a_question_about_a_result_and_a_diagnosis_shows_the_result_without_judging(dennis):
    text, used, _citations = ask(dennis, "Do I have high cholesterol?")

    assert [tool.name for tool in used] == ["lab_history"]
    assert text.startswith("I can't tell you whether you have an illness")
    total = observations("2093-3")[-1]["valueQuantity"]["value"]
    assert f"**{en(total, 1)} mg/dL**" in text


def test_an_unrelated_question_gets_examples(dennis):
    text, used, _citations = ask(dennis, "Tell me a joke")

    assert used == []
    assert "What is my latest weight?" in text


# -- safety of what is shown --------------------------------------------------------------------------------


def test_record_text_cannot_make_links_or_markup(dennis):
    Medication.objects.create(owner=dennis, name="[Click here](https://evil.example) **now**", status="active")

    text, _used, _citations = ask(dennis, "What medications do I take?")

    assert "\\[Click here\\](https://evil.example) \\*\\*now\\*\\*" in text
    assert "[Click here](" not in text


def test_another_patients_records_never_appear(dennis, other_patient):
    Medication.objects.create(owner=other_patient, name="Othermed 5 MG", status="active")

    for question in ("Which medications am I taking?", "What changed since January 1?", "find Othermed"):
        text, _used, citations = ask(dennis, question)
        assert "Othermed" not in text.replace("“Othermed”", "")
        assert all(citation.label != "Othermed 5 MG" for citation in citations)


def test_the_same_question_gets_the_same_answer(dennis_wearables):
    first = ask(dennis_wearables, "Help me prepare my visit with my cardiologist")[0]
    again = ask(dennis_wearables, "Help me prepare my visit with my cardiologist")[0]

    assert first == again


# -- reading questions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("last week", TODAY - datetime.timedelta(days=6)),
        ("over the past 6 months", datetime.date(2008, 5, 31)),
        ("in the last 3 months", datetime.date(2008, 8, 31)),
        ("last 30 days", TODAY - datetime.timedelta(days=29)),
        ("mes 30 derniers jours", TODAY - datetime.timedelta(days=29)),
        ("les trois dernières semaines", TODAY - datetime.timedelta(days=20)),
        ("la semaine dernière", TODAY - datetime.timedelta(days=6)),
        ("cette année", datetime.date(2008, 1, 1)),
        ("this month", datetime.date(2008, 11, 1)),
        ("depuis le 1er mars", datetime.date(2008, 3, 1)),
        ("since March 1", datetime.date(2008, 3, 1)),
        ("since 12 December", datetime.date(2007, 12, 12)),
        ("depuis le 12 mars 2005", datetime.date(2005, 3, 12)),
        ("since 2008-02-29", datetime.date(2008, 2, 29)),
        ("in 2007", datetime.date(2007, 1, 1)),
    ],
)
def test_periods_in_english_and_french(text, start):
    normalised = intents.vocabulary.normalise(text)

    period = intents.period_in(normalised, today=TODAY, language=intents.language_of(text, "en"))

    assert period is not None and period.start == start
    assert period.end == (datetime.date(2007, 12, 31) if text == "in 2007" else TODAY)


@pytest.mark.parametrize(
    ("text", "default", "language"),
    [
        ("mon dernier HbA1c", "en", "fr"),
        ("quels médicaments je prends", "en", "fr"),
        ("am I allergic to anything", "fr", "en"),
        ("HbA1c?", "fr", "fr"),
        ("HbA1c?", "en", "en"),
    ],
)
def test_the_answer_language_follows_a_plainly_other_language(text, default, language):
    assert intents.language_of(text, default) == language


@pytest.mark.parametrize(
    "question",
    [
        "What is my latest weight?",
        "How has my resting heart rate changed over the last 3 months?",
        "mon dernier HbA1c",
        "Which medications am I taking?",
        "Am I allergic to anything?",
        "What changed since March 1?",
        "Summarise my last 30 days",
        "Help me prepare my visit with my cardiologist",
        "find insulin",
    ],
)
def test_a_patient_without_records_is_told_so(patient, frozen, question):
    text, _used, citations = ask(patient, question)

    assert text and citations == []
    assert "[1]" not in text
