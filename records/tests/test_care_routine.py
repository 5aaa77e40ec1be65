"""The medication routine: reading a dose line, matching the medication, logging doses and adherence."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404
from django.urls import reverse

from records import routine, vaccinations
from records.models import DoseLog, Medication, Source
from records.routine import adherence_compute, dose_log_parse, medications_matching
from records.selectors import medications_current_for_user

from . import care_data
from .care_data import DENNIS, DENNIS_TODAY, page_queries, resources

dennis_care = care_data.dennis_care
UTC = datetime.UTC
NOW = datetime.datetime(2008, 11, 30, 12, 0, tzinfo=UTC)


def at(day: datetime.date, hour: int = 8) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), UTC)


# -- reading a line --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "language", "taken", "words", "moment"),
    [
        ("I took my metformin at 8am", "en", True, "metformin", datetime.datetime(2008, 11, 30, 8, 0, tzinfo=UTC)),
        ("took Lasix this morning", "en", True, "lasix", datetime.datetime(2008, 11, 30, 8, 0, tzinfo=UTC)),
        (
            "I forgot to take my Lasix yesterday evening",
            "en",
            False,
            "lasix",
            datetime.datetime(2008, 11, 29, 19, 0, tzinfo=UTC),
        ),
        ("I skipped my metoprolol", "en", False, "metoprolol", NOW),
        (
            "I took metformin 500 mg at 21:30",
            "en",
            True,
            "metformin 500 mg",
            datetime.datetime(2008, 11, 29, 21, 30, tzinfo=UTC),
        ),
        (
            "j'ai pris ma metformine ce matin",
            "fr",
            True,
            "metformine",
            datetime.datetime(2008, 11, 30, 8, 0, tzinfo=UTC),
        ),
        ("J’ai oublié mon Lasix hier soir", "fr", False, "lasix", datetime.datetime(2008, 11, 29, 19, 0, tzinfo=UTC)),
        ("je n'ai pas pris mon traitement", "fr", False, "traitement", NOW),
        ("pris Lasix à 8h", "fr", True, "lasix", datetime.datetime(2008, 11, 30, 8, 0, tzinfo=UTC)),
    ],
)
def test_a_dose_line_reads_in_english_and_french(line, language, taken, words, moment):
    parsed = dose_log_parse(line, language, now=NOW)
    assert (parsed["taken"], parsed["medication_text"], parsed["at"]) == (taken, words, moment)


@pytest.mark.parametrize("line", ["What is my latest weight?", "", "x" * 300, "I took"])
def test_what_is_not_a_dose_line(line):
    assert dose_log_parse(line, "en", now=NOW) is None


def test_the_medication_is_found_by_a_distinctive_word_of_its_name(dennis_care):
    current = medications_current_for_user(user=dennis_care)
    names = [medication.name for medication in current]

    def matched(text):
        return [medication.name for medication in medications_matching(current, text)]

    lasix = next(name for name in names if "Lasix" in name)
    toprol = next(name for name in names if "Toprol" in name)
    assert matched("lasix") == [lasix]
    # The brand in brackets and the generic name both find metoprolol; "oral tablet" alone finds nothing.
    assert matched("toprol this morning") == matched("metoprolol") == [toprol]
    assert matched("oral tablet") == []
    # "My pills" names one medication only when there is only one.
    assert matched("my pills") == []
    assert medications_matching(current[:1], "my pills") == current[:1]


def test_a_proposal_names_one_current_medication_or_nothing(dennis_care):
    proposal = routine.dose_proposal_for_user(user=dennis_care, text="I took my Lasix at 8am", languages=["en", "fr"])
    medication = Medication.objects.get(public_id=proposal["medication"])
    assert medication.owner == dennis_care and "Lasix" in proposal["name"] == medication.name
    assert (proposal["taken"], proposal["at"]) == (True, "2008-11-30T08:00:00+00:00")
    assert routine.dose_proposal_for_user(user=dennis_care, text="I took my aspirin", languages=["en"]) == {}


# -- adherence ---------------------------------------------------------------------------------------------------


def test_adherence_counts_doses_taken_of_those_logged_and_days_with_a_log():
    today = datetime.date(2024, 3, 31)
    logs = [(at(today - datetime.timedelta(days=offset)), offset % 4 != 0) for offset in range(0, 60, 2)]
    logs += [(at(today, 20), True)]  # a second log on the same day
    thirty = adherence_compute(logs, days=30, today=today)
    in_thirty = [taken for moment, taken in logs if (today - moment.date()).days < 30]
    assert (thirty.days, thirty.logged, thirty.taken) == (30, len(in_thirty), sum(in_thirty))
    assert thirty.logged_days == 15 and thirty.logged_days_percent == 50
    assert thirty.taken_percent == round(100 * sum(in_thirty) / len(in_thirty))
    ninety = adherence_compute(logs, days=90, today=today)
    assert (ninety.logged, ninety.logged_days) == (len(logs), 30)


def test_a_medication_started_during_the_period_counts_its_own_days():
    today = datetime.date(2024, 3, 31)
    result = adherence_compute([(at(today), True)], days=90, today=today, started=datetime.date(2024, 3, 22))
    assert (result.days, result.logged_days_percent) == (10, 10)
    assert adherence_compute([], days=30, today=today).taken_ratio is None


# -- the page and its forms --------------------------------------------------------------------------------------


def _lasix(owner) -> Medication:
    return next(medication for medication in medications_current_for_user(user=owner) if "Lasix" in medication.name)


def test_logging_doses_from_the_page_shows_adherence(dennis_care, client):
    client.force_login(dennis_care)
    lasix = _lasix(dennis_care)
    prefix = f"dose-{lasix.public_id.hex[:8]}"
    url = reverse("records:care_dose_log", args=[lasix.public_id])
    for day, taken in ((DENNIS_TODAY, "1"), (DENNIS_TODAY - datetime.timedelta(days=1), "0")):
        response = client.post(url, {f"{prefix}-taken": taken, f"{prefix}-at": f"{day.isoformat()}T08:00"})
        assert response.status_code == 302 and response.url.endswith(f"#medication-{lasix.public_id}")
    assert [(log.taken, log.at.date()) for log in DoseLog.objects.order_by("at")] == [
        (False, DENNIS_TODAY - datetime.timedelta(days=1)),
        (True, DENNIS_TODAY),
    ]
    page = client.get(reverse("records:care_routine")).content.decode()
    assert "1 taken of 2 doses logged" in page and "(50&nbsp;%)" in page
    assert page.count('name="' + prefix + '-at"') == 1
    # Every current medication of his record has its own form.
    current = [item for item in resources(DENNIS, "MedicationRequest") if item["status"] == "active"]
    assert page.count("Log this dose") == len(current)


def test_days_with_a_log_agree_with_the_number_of_logged_days(dennis_care, client, settings):
    client.force_login(dennis_care)
    lasix = _lasix(dennis_care)
    prefix = f"dose-{lasix.public_id.hex[:8]}"
    url = reverse("records:care_dose_log", args=[lasix.public_id])
    client.post(url, {f"{prefix}-taken": "1", f"{prefix}-at": f"{DENNIS_TODAY.isoformat()}T08:00"})
    page = " ".join(client.get(reverse("records:care_routine")).content.decode().split())
    assert "1 day with a log out of 30" in page and "1 days" not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = " ".join(client.get(reverse("records:care_routine")).content.decode().split())
    assert "1 jour renseigné sur 30" in page and "1 jours" not in page


def test_a_dose_cannot_be_logged_in_the_future_or_for_a_stopped_medication(dennis_care, client):
    client.force_login(dennis_care)
    lasix = _lasix(dennis_care)
    prefix = f"dose-{lasix.public_id.hex[:8]}"
    client.post(
        reverse("records:care_dose_log", args=[lasix.public_id]),
        {f"{prefix}-taken": "1", f"{prefix}-at": "2030-01-01T08:00"},
    )
    assert not DoseLog.objects.exists()
    stopped = Medication.objects.create(
        owner=dennis_care, name="Old pill", status="stopped", effective_at=at(DENNIS_TODAY), source=Source.MANUAL
    )
    assert client.post(reverse("records:care_dose_log", args=[stopped.public_id])).status_code == 404
    with pytest.raises(ValidationError):
        routine.dose_log_create(
            user=dennis_care, medication=lasix, taken=True, at=at(DENNIS_TODAY) + datetime.timedelta(days=2)
        )


def test_another_patients_medication_and_logs_are_404(dennis_care, other_patient, client):
    lasix = _lasix(dennis_care)
    log = routine.dose_log_create(user=dennis_care, medication=lasix, taken=True, at=at(DENNIS_TODAY))
    client.force_login(other_patient)
    assert client.post(reverse("records:care_dose_log", args=[lasix.public_id]), {}).status_code == 404
    assert client.post(reverse("records:care_dose_delete", args=[log.public_id])).status_code == 404
    assert "Lasix" not in client.get(reverse("records:care_routine")).content.decode()
    with pytest.raises(Http404):
        routine.dose_log_create(user=other_patient, medication=lasix, taken=True, at=at(DENNIS_TODAY))
    client.force_login(dennis_care)
    assert client.post(reverse("records:care_dose_delete", args=[log.public_id])).status_code == 302
    assert not DoseLog.objects.exists()


def test_the_note_is_encrypted_at_rest(dennis_care):
    log = routine.dose_log_create(
        user=dennis_care, medication=_lasix(dennis_care), taken=False, at=at(DENNIS_TODAY), note="felt dizzy"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT note FROM records_doselog WHERE id = %s", [log.pk])
        assert "dizzy" not in cursor.fetchone()[0]


def test_the_page_reads_in_a_fixed_number_of_queries(dennis_care, client):
    client.force_login(dennis_care)
    before = page_queries(client, reverse("records:care_routine"))
    lasix = _lasix(dennis_care)
    for day in range(40):
        routine.dose_log_create(
            user=dennis_care, medication=lasix, taken=day % 3 > 0, at=at(DENNIS_TODAY - datetime.timedelta(days=day))
        )
    assert page_queries(client, reverse("records:care_routine")) == before


def test_the_care_overview_sums_up_each_page(dennis_care, client):
    lasix = _lasix(dennis_care)
    for day, taken in enumerate((True, False, True, True)):
        routine.dose_log_create(
            user=dennis_care, medication=lasix, taken=taken, at=at(DENNIS_TODAY - datetime.timedelta(days=day))
        )
    client.force_login(dennis_care)
    page = client.get(reverse("records:care")).content.decode()
    assert f"{lasix.name} · 75 % taken over 30 days" in page
    due = vaccinations.vaccination_overview_for_user(user=dennis_care).due_count
    assert due > 0 and f"{due} vaccines recorded as due: to discuss with your clinician." in page
    assert reverse("records:care_habits") in page and reverse("records:care_preventive") in page


@pytest.mark.parametrize(
    "name",
    [
        "records:care",
        "records:care_vaccinations",
        "records:care_preventive",
        "records:care_routine",
        "records:care_habits",
    ],
)
def test_every_care_page_opens_for_a_new_patient_and_not_for_anyone_signed_out(name, patient_client, client):
    response = patient_client.get(reverse(name))
    assert response.status_code == 200
    assert reverse("records:care") in response.content.decode()  # linked from the records menu
    client.logout()
    assert client.get(reverse(name)).status_code == 302
