"""Vaccination history and what a schedule records as due: the pure rules, matching, and the Synthea patients."""

from __future__ import annotations

import datetime
import json

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.services import profile_update
from records import vaccinations
from records.models import Immunization, Source
from records.vaccinations import (
    CVX_SYSTEM,
    DUE,
    LATER,
    OVERDUE,
    UP_TO_DATE,
    Dose,
    schedule_load,
    schedule_status,
    vaccine_keys,
    vaccine_status,
)

from . import care_data
from .care_data import (
    BULK_IMMUNIZATIONS,
    DENNIS,
    DENNIS_TODAY,
    LIZ,
    LIZ_TODAY,
    add_years,
    immunizations,
    page_queries,
    patient_resource,
)

dennis_care = care_data.dennis_care
liz_care = care_data.liz_care
US = schedule_load("US")
FR = schedule_load("FR")
D = datetime.date


def status(schedule, key, *, birth, doses, today):
    return vaccine_status(schedule.vaccine(key), birth=birth, doses=doses, today=today, schedule=schedule)


def dose(day: str, cvx: str = "") -> Dose:
    return Dose(on=D.fromisoformat(day), cvx=cvx)


# -- the files ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("country", ["US", "FR"])
def test_each_schedule_names_its_sources_and_date(country):
    schedule = schedule_load(country)
    assert schedule.country == country
    assert schedule.sources and all(
        source["url"].startswith("https://") and source["year"] >= 2024 for source in schedule.sources.values()
    )
    assert D.fromisoformat(schedule.checked_on)
    used = {rule.source for vaccine in schedule.vaccines for rule in vaccine.rules}
    assert used <= set(schedule.sources)
    for vaccine in schedule.vaccines:
        assert vaccine.labels["en"] and vaccine.labels["fr"]


def test_a_country_without_a_schedule_has_none():
    assert schedule_load("JP") is None
    assert schedule_load("") is None


# -- which vaccine a record is --------------------------------------------------------------------------------------


def test_a_cvx_code_decides_with_or_without_leading_zeros():
    assert vaccine_keys(vaccine="Hep B, adolescent or pediatric", code="08", code_system=CVX_SYSTEM, schedule=US) == (
        {"hepatitis_b"},
        "8",
    )
    # The live shingles vaccine does not count for the recombinant one, whatever its name says.
    assert vaccine_keys(vaccine="zoster vaccine, live", code="121", code_system=CVX_SYSTEM, schedule=US) == (
        set(),
        "121",
    )
    # MMRV counts for both measles-mumps-rubella and chickenpox.
    assert vaccine_keys(vaccine="MMRV", code="94", code_system=CVX_SYSTEM, schedule=US)[0] == {"mmr", "varicella"}


def test_without_a_code_the_name_decides_in_english_and_french():
    def keys(name, schedule):
        return vaccine_keys(vaccine=name, code="", code_system="", schedule=schedule)[0]

    assert keys("Vaccin contre la grippe saisonnière", FR) == {"influenza"}
    assert keys("Repevax (dTcaP)", FR) == {"dtp", "pertussis"}
    assert keys("Shingrix, 1re dose", FR) == {"zoster"}
    assert keys("Flu shot", US) == {"influenza"}
    assert keys("Tétanos", US) == {"td_booster"}
    assert keys("Travel clinic visit", US) == set()
    # A code of another system is not a CVX code: the name decides.
    assert vaccine_keys(vaccine="Influenza", code="86198006", code_system="http://snomed.info/sct", schedule=US) == (
        {"influenza"},
        "",
    )


def test_every_synthea_code_counts_except_the_ones_the_schedules_leave_out():
    codes = {
        (line["vaccineCode"]["coding"][0]["code"], line["vaccineCode"]["coding"][0]["display"])
        for line in map(json.loads, BULK_IMMUNIZATIONS.read_text().splitlines())
    }
    assert len(codes) > 10
    unknown_in_us = {
        code
        for code, name in codes
        if not vaccine_keys(vaccine=name, code=code, code_system=CVX_SYSTEM, schedule=US)[0]
    }
    covid = {"207", "208", "212"}
    # The US file lists no COVID-19 (see its notes) and does not count the live shingles vaccine.
    assert unknown_in_us == {"121"} | (covid & {code for code, _ in codes})
    assert all(
        vaccine_keys(vaccine="", code=code, code_system=CVX_SYSTEM, schedule=FR)[0] == {"covid19"} for code in covid
    )


def test_records_not_given_do_not_count(patient):
    moment = datetime.datetime(2024, 10, 20, 9, tzinfo=datetime.UTC)
    given = Immunization.objects.create(owner=patient, vaccine="Grippe", effective_at=moment, status="completed")
    Immunization.objects.create(owner=patient, vaccine="Grippe", effective_at=moment, status="not-done")
    Immunization.objects.create(owner=patient, vaccine="Grippe", effective_at=moment, status="entered-in-error")
    doses, counted = vaccinations.doses_by_vaccine(Immunization.objects.filter(owner=patient), FR)
    assert [item.record for item in doses["influenza"]] == [given]
    assert sorted(len(keys) for keys in counted.values()) == [0, 0, 1]


# -- the rules ------------------------------------------------------------------------------------------------------


def test_a_seasonal_vaccine_counts_from_the_season_start_and_is_due_during_the_campaign():
    birth = D(1950, 1, 1)
    last_season = [dose("2023-10-20")]
    assert status(US, "influenza", birth=birth, doses=last_season, today=D(2024, 10, 1)).status == DUE
    current = status(US, "influenza", birth=birth, doses=[dose("2024-08-19")], today=D(2024, 10, 1))
    assert (current.status, current.next_on) == (UP_TO_DATE, D(2025, 9, 1))
    # In June last autumn's dose still counts; without one, nothing is due before the next campaign.
    assert status(US, "influenza", birth=birth, doses=last_season, today=D(2024, 6, 15)).status == UP_TO_DATE
    summer = status(US, "influenza", birth=birth, doses=[], today=D(2024, 6, 15))
    assert (summer.status, summer.due_on) == (LATER, D(2024, 9, 1))
    assert status(FR, "influenza", birth=birth, doses=[], today=D(2025, 1, 15)).status == DUE
    assert status(FR, "influenza", birth=birth, doses=[], today=D(2025, 3, 1)).due_on == D(2025, 10, 14)
    # Under 65 the French schedule lists flu for people at risk only.
    assert status(FR, "influenza", birth=D(1990, 1, 1), doses=[], today=D(2025, 1, 15)).status == LATER


def test_a_ten_year_booster_is_due_then_overdue_a_year_later():
    birth, doses = D(1960, 5, 5), [dose("2000-07-04", "113")]
    assert status(US, "td_booster", birth=birth, doses=doses, today=D(2010, 7, 3)).next_on == D(2010, 7, 4)
    assert status(US, "td_booster", birth=birth, doses=doses, today=D(2010, 7, 4)).status == DUE
    assert status(US, "td_booster", birth=birth, doses=doses, today=D(2011, 7, 4)).status == OVERDUE


def test_a_series_waits_for_its_interval_between_doses():
    birth = D(1960, 1, 1)
    one_dose = [dose("2024-05-01", "187")]
    waiting = status(US, "zoster", birth=birth, doses=one_dose, today=D(2024, 6, 1))
    assert (waiting.status, waiting.next_on, waiting.needed) == (UP_TO_DATE, D(2024, 7, 1), 2)
    assert status(US, "zoster", birth=birth, doses=one_dose, today=D(2024, 7, 1)).status == DUE
    assert (
        status(US, "zoster", birth=birth, doses=[*one_dose, dose("2024-07-15", "187")], today=D(2025, 1, 1)).status
        == UP_TO_DATE
    )
    # A first adult dose is due, never called overdue.
    assert status(US, "zoster", birth=birth, doses=[], today=D(2030, 1, 1)).status == DUE


def test_pneumococcal_vaccines_complete_the_series_only_in_the_combinations_the_schedule_gives():
    birth, today = D(1950, 1, 1), D(2025, 1, 1)
    assert status(US, "pneumococcal", birth=birth, doses=[dose("2020-01-01", "33")], today=today).status == DUE
    assert status(US, "pneumococcal", birth=birth, doses=[dose("2022-01-01", "216")], today=today).status == UP_TO_DATE
    both = [dose("2021-01-01", "215"), dose("2022-01-01", "33")]
    assert status(US, "pneumococcal", birth=birth, doses=both, today=today).status == UP_TO_DATE
    # A childhood conjugate dose does not count for the adult series.
    assert status(US, "pneumococcal", birth=birth, doses=[dose("1951-01-01", "216")], today=today).status == DUE


def test_hpv_needs_fewer_doses_when_started_young():
    birth, today = D(2004, 1, 1), D(2024, 6, 1)
    young = [dose("2017-03-01", "165"), dose("2017-10-01", "165")]
    late = [dose("2020-03-01", "165"), dose("2020-10-01", "165")]
    assert status(US, "hpv", birth=birth, doses=young, today=today).status == UP_TO_DATE
    late_status = status(US, "hpv", birth=birth, doses=late, today=today)
    assert (late_status.status, late_status.needed) == (DUE, 3)


def test_french_boosters_at_fixed_ages_count_a_dose_given_up_to_five_years_before():
    birth = D(1980, 3, 10)
    early = status(FR, "dtp", birth=birth, doses=[dose("2023-01-05")], today=D(2026, 1, 1))
    assert (early.status, early.next_on) == (UP_TO_DATE, D(2045, 3, 10))
    old = [dose("2018-01-05")]
    missed = status(FR, "dtp", birth=birth, doses=old, today=D(2026, 1, 1))
    assert (missed.status, missed.due_on) == (DUE, D(2025, 3, 10))
    assert status(FR, "dtp", birth=birth, doses=old, today=D(2026, 3, 10)).status == OVERDUE
    # After 65, every ten years.
    assert status(FR, "dtp", birth=D(1950, 1, 1), doses=[dose("2015-06-01")], today=D(2024, 1, 1)).next_on == D(
        2025, 1, 1
    )


def test_a_childs_series_is_overdue_after_the_age_the_schedule_gives():
    birth = D(2025, 1, 10)
    two = [dose("2025-03-10"), dose("2025-05-12")]
    assert status(FR, "hepatitis_b", birth=birth, doses=two, today=D(2025, 11, 1)).next_on == D(2025, 12, 10)
    assert status(FR, "hepatitis_b", birth=birth, doses=two, today=D(2025, 12, 20)).status == DUE
    assert status(FR, "hepatitis_b", birth=birth, doses=two, today=D(2026, 2, 11)).status == OVERDUE


def test_who_a_rule_is_for_by_birth_year():
    today = D(2025, 1, 1)
    assert status(US, "mmr", birth=D(1950, 1, 1), doses=[], today=today).status == vaccinations.NOT_APPLICABLE
    assert status(US, "mmr", birth=D(1960, 1, 1), doses=[], today=today).status == DUE
    assert status(US, "mmr", birth=D(1960, 1, 1), doses=[dose("1961-06-01", "3")], today=today).status == UP_TO_DATE


def test_the_list_leaves_out_what_does_not_apply_and_puts_overdue_and_due_first():
    statuses = schedule_status(
        US, birth=D(1990, 6, 1), doses={"td_booster": [dose("2010-01-01", "113")]}, today=D(2025, 1, 1)
    )
    keys = [item.key for item in statuses]
    assert "dtap" not in keys and "rotavirus" not in keys  # children's vaccines
    assert "rsv" not in keys  # more than twenty years away
    order = [vaccinations.ORDER[item.status] for item in statuses]
    assert order == sorted(order)
    assert statuses[0].key == "td_booster" and statuses[0].status == OVERDUE


# -- the Synthea patients -------------------------------------------------------------------------------------------


def test_dennis_history_against_the_us_schedule(dennis_care):
    overview = vaccinations.vaccination_overview_for_user(user=dennis_care)
    birth = D.fromisoformat(patient_resource(DENNIS)["birthDate"])
    by_key = {item.key: item for item in overview.statuses}
    assert overview.country == "US" and overview.birth_date == birth
    assert len(overview.history) == len(immunizations(DENNIS))

    flu = immunizations(DENNIS, "140")
    assert [item.on for item in by_key["influenza"].doses] == [day for day, _code in flu]
    season_start = D(DENNIS_TODAY.year, 7, 1)
    assert flu[-1][0] >= season_start and by_key["influenza"].status == UP_TO_DATE

    last_td = immunizations(DENNIS, "113")[-1][0]
    assert (by_key["td_booster"].status, by_key["td_booster"].next_on) == (UP_TO_DATE, add_years(last_td, 10))
    # No Tdap (CVX 115) in his record: the once-as-an-adult dose is recorded as due.
    assert not immunizations(DENNIS, "115") and by_key["tdap"].status == DUE
    # Past 50, no recombinant shingles vaccine nor pneumococcal vaccine recorded.
    assert by_key["zoster"].status == DUE and by_key["zoster"].due_on == add_years(birth, 50)
    assert by_key["pneumococcal"].status == DUE
    assert (by_key["rsv"].status, by_key["rsv"].due_on) == (LATER, add_years(birth, 75))
    # Born before 1957: no measles catch-up is listed.
    assert "mmr" not in by_key


def test_liz_history_against_the_us_schedule(liz_care):
    overview = vaccinations.vaccination_overview_for_user(user=liz_care)
    by_key = {item.key: item for item in overview.statuses}
    last_td = immunizations(LIZ, "113")[-1][0]
    assert by_key["td_booster"].next_on == add_years(last_td, 10)
    # Born in 1986: two doses of chickenpox vaccine and one of MMR unless immune; none is in her record.
    assert by_key["varicella"].status == DUE and by_key["varicella"].needed == 2
    assert by_key["mmr"].status == DUE
    assert "hpv" not in by_key  # past 26
    assert by_key["zoster"].due_on > LIZ_TODAY


def test_the_page_shows_the_history_what_is_due_and_the_sources(dennis_care, client):
    client.force_login(dennis_care)
    response = client.get(reverse("records:care_vaccinations"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "To discuss with your clinician" in page
    assert 'id="vaccine-zoster"' in page and "recorded as due" in page
    assert page.count("Influenza, seasonal, injectable, preservative free") == len(immunizations(DENNIS, "140"))
    assert "Adult Immunization Schedule by Age" in page and "https://www.cdc.gov/" in page
    for word in ("must", "you need", "prescri"):
        assert word not in page.lower().split("<main")[1]


def test_the_page_in_french_and_another_schedule_on_request(dennis_care, client):
    client.force_login(dennis_care)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get(reverse("records:care_vaccinations") + "?country=FR").content.decode()
    assert "Calendrier des vaccinations et recommandations vaccinales 2025" in page
    # At 59 the French schedule lists shingles from 65, in French.
    assert "Zona (vaccin recombinant)" in page and "Shingles" not in page


def test_without_a_birth_date_the_page_asks_for_it(patient, client):
    Immunization.objects.create(
        owner=patient,
        vaccine="Grippe",
        effective_at=datetime.datetime(2024, 10, 20, tzinfo=datetime.UTC),
        source=Source.MANUAL,
    )
    client.force_login(patient)
    page = client.get(reverse("records:care_vaccinations")).content.decode()
    assert "Add your date of birth" in page and "Grippe" in page


def test_another_patients_immunisations_never_count(dennis_care, other_patient, client):
    profile_update(user=other_patient, country="US", date_of_birth=D(1949, 4, 19))
    client.force_login(other_patient)
    page = client.get(reverse("records:care_vaccinations")).content.decode()
    assert "Influenza, seasonal" not in page
    assert "No immunisation in your records yet." in page


def test_the_page_reads_in_a_fixed_number_of_queries(dennis_care, client):
    client.force_login(dennis_care)
    before = page_queries(client, reverse("records:care_vaccinations"))
    for day in range(30):
        Immunization.objects.create(
            owner=dennis_care, vaccine="Flu", effective_at=datetime.datetime(2008, 1, 1 + day, tzinfo=datetime.UTC)
        )
    assert page_queries(client, reverse("records:care_vaccinations")) == before
