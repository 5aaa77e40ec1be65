"""Preventive topics by age and sex: the data file, the pure checklist, the pages and the checks at rest."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from accounts.services import profile_update
from records import preventive
from records.models import PreventiveCheck
from records.preventive import DONE, TO_DISCUSS, topic_checklist, topics_load

from . import care_data
from .care_data import LIZ, LIZ_TODAY, page_queries, patient_resource

liz_care = care_data.liz_care
D = datetime.date


def checklist(country, *, birth, sex="", checks=(), today):
    items = topic_checklist(topics_load(country), birth=birth, sex=sex, checks=list(checks), today=today)
    return {item.key: item for item in items}


def check(topic_key, day):
    return PreventiveCheck(topic_key=topic_key, done_on=D.fromisoformat(day))


@pytest.mark.parametrize("country", ["US", "FR"])
def test_every_topic_has_its_source_and_both_languages(country):
    topics = topics_load(country)
    assert topics is not None and len(topics.topics) >= 5
    keys = {topic.key for topic in topics.topics}
    assert {"blood_pressure", "cholesterol", "colorectal", "cervical", "breast"} <= keys
    for topic in topics.topics:
        assert topic.source["url"].startswith("https://") and topic.source["year"] >= 2009
        assert topic.labels["en"] and topic.labels["fr"] and topic.whats["en"] and topic.whats["fr"]
        assert topic.bands


def test_topics_follow_age_and_sex():
    woman = checklist("US", birth=D(1990, 5, 1), sex="female", today=D(2025, 1, 1))
    assert {"cervical", "blood_pressure", "hepatitis_c", "hiv", "depression"} <= set(woman)
    assert not {"breast", "colorectal", "prostate", "aaa"} & set(woman)
    man = checklist("US", birth=D(1960, 5, 1), sex="male", today=D(2025, 1, 1))
    assert {"colorectal", "prostate", "cholesterol", "lung"} <= set(man)
    assert "cervical" not in man and "breast" not in man
    assert all(not item.if_applies for item in man.values())
    # The band for one's age decides the interval: blood pressure every 3 years before 40, every year after.
    assert woman["blood_pressure"].band.interval_months == 36
    assert man["blood_pressure"].band.interval_months == 12


def test_without_a_sex_topics_for_one_sex_are_shown_if_they_apply():
    unknown = checklist("US", birth=D(1960, 5, 1), sex="", today=D(2025, 1, 1))
    assert unknown["cervical"].if_applies and unknown["prostate"].if_applies and unknown["breast"].if_applies
    assert not unknown["colorectal"].if_applies
    # French cholesterol testing: men from 40, women from 50; at 45 it applies to men only.
    assert not checklist("FR", birth=D(1980, 1, 1), sex="male", today=D(2025, 6, 1))["cholesterol"].if_applies
    assert "cholesterol" not in checklist("FR", birth=D(1980, 1, 1), sex="female", today=D(2025, 6, 1))
    assert checklist("FR", birth=D(1980, 1, 1), sex="", today=D(2025, 6, 1))["cholesterol"].if_applies


def test_a_check_is_done_until_its_usual_interval_ends():
    birth, checks = D(1970, 3, 1), [check("breast", "2023-01-10"), check("breast", "2021-01-05")]
    item = checklist("US", birth=birth, sex="female", checks=checks, today=D(2024, 6, 1))["breast"]
    assert (item.status, item.last_done, item.next_on) == (DONE, D(2023, 1, 10), D(2025, 1, 10))
    later = checklist("US", birth=birth, sex="female", checks=checks, today=D(2025, 2, 1))["breast"]
    assert (later.status, later.last_done) == (TO_DISCUSS, D(2023, 1, 10))
    never = checklist("US", birth=birth, sex="female", today=D(2025, 2, 1))["breast"]
    assert (never.status, never.last_done) == (TO_DISCUSS, None)


def test_one_time_topics_stay_done_and_once_per_age_range_ones_come_back():
    assert (
        checklist("US", birth=D(1970, 1, 1), checks=[check("hepatitis_c", "2000-01-01")], today=D(2025, 1, 1))[
            "hepatitis_c"
        ].status
        == DONE
    )
    done_at_46 = [check("prevention_check", "2016-05-01")]
    assert (
        checklist("FR", birth=D(1970, 1, 1), checks=done_at_46, today=D(2019, 1, 1))["prevention_check"].status == DONE
    )
    assert (
        checklist("FR", birth=D(1970, 1, 1), checks=done_at_46, today=D(2031, 1, 1))["prevention_check"].status
        == TO_DISCUSS
    )


def test_topics_to_discuss_come_first():
    items = topic_checklist(
        topics_load("US"),
        birth=D(1970, 1, 1),
        sex="female",
        checks=[check("hiv", "2020-01-01")],
        today=D(2025, 1, 1),
    )
    statuses = [item.status for item in items]
    assert statuses == sorted(statuses, key=lambda status: status != TO_DISCUSS)
    assert statuses[-1] == DONE


def test_liz_checklist_from_her_record_and_profile(liz_care):
    overview = preventive.preventive_overview_for_user(user=liz_care)
    person = patient_resource(LIZ)
    age = (LIZ_TODAY - D.fromisoformat(person["birthDate"])).days // 365
    assert person["gender"] == "female" and overview.sex == "female" and 21 <= age < 40
    keys = {item.key for item in overview.items}
    assert "cervical" in keys and "breast" not in keys
    assert all(item.status == TO_DISCUSS for item in overview.items)


def test_marking_a_topic_done_from_the_page(liz_care, client):
    client.force_login(liz_care)
    url = reverse("records:care_preventive_done", args=["cervical"])
    response = client.post(url, {"done_on": "2018-09-12", "note": "Clinic on Main Street"})
    assert response.status_code == 302 and response.url.endswith("#topic-cervical")
    item = next(item for item in preventive.preventive_overview_for_user(user=liz_care).items if item.key == "cervical")
    assert (item.status, item.last_done, item.next_on) == (DONE, D(2018, 9, 12), D(2021, 9, 12))
    page = client.get(reverse("records:care_preventive")).content.decode()
    assert "Clinic on Main Street" in page and "Done" in page


def test_a_future_date_or_an_unknown_topic_is_refused(liz_care, client):
    client.force_login(liz_care)
    client.post(reverse("records:care_preventive_done", args=["cervical"]), {"done_on": "2030-01-01"})
    client.post(reverse("records:care_preventive_done", args=["astrology"]), {"done_on": "2018-01-01"})
    assert not PreventiveCheck.objects.exists()
    with pytest.raises(ValidationError):
        preventive.preventive_check_create(user=liz_care, topic_key="astrology", done_on=D(2018, 1, 1))


def test_removing_a_check_and_someone_elses_is_a_404(liz_care, other_patient, client):
    mine = preventive.preventive_check_create(user=liz_care, topic_key="hiv", done_on=D(2015, 1, 1))
    client.force_login(other_patient)
    assert client.post(reverse("records:care_check_delete", args=[mine.public_id])).status_code == 404
    assert PreventiveCheck.objects.filter(pk=mine.pk).exists()
    client.force_login(liz_care)
    assert client.post(reverse("records:care_check_delete", args=[mine.public_id])).status_code == 302
    assert not PreventiveCheck.objects.filter(pk=mine.pk).exists()


def test_the_topic_and_date_are_encrypted_at_rest(liz_care):
    saved = preventive.preventive_check_create(user=liz_care, topic_key="hiv", done_on=D(2015, 1, 1), note="private")
    with connection.cursor() as cursor:
        cursor.execute("SELECT topic_key, done_on, note FROM records_preventivecheck WHERE id = %s", [saved.pk])
        row = cursor.fetchone()
    assert "hiv" not in row[0] and "2015" not in row[1] and "private" not in row[2]


def test_without_a_sex_the_page_says_if_this_applies(patient, client):
    profile_update(user=patient, country="US", date_of_birth=D(1960, 1, 1), sex="")
    client.force_login(patient)
    page = client.get(reverse("records:care_preventive")).content.decode()
    assert "if this applies to you" in page and "Cervical cancer screening" in page


def test_the_page_in_french(liz_care, client):
    client.force_login(liz_care)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get(reverse("records:care_preventive") + "?country=FR").content.decode()
    assert "Dépistage du cancer du col de l&#x27;utérus" in page
    assert "Haute Autorité de santé" in page and "Cervical cancer screening" not in page


def test_the_page_reads_in_a_fixed_number_of_queries(liz_care, client):
    client.force_login(liz_care)
    before = page_queries(client, reverse("records:care_preventive"))
    for day in range(1, 20):
        preventive.preventive_check_create(user=liz_care, topic_key="hiv", done_on=D(2015, 1, day))
    assert page_queries(client, reverse("records:care_preventive")) == before


def test_the_profile_form_offers_prefer_not_to_say_and_stores_nothing_for_it(patient):
    from accounts.forms import ProfileForm

    profile = patient.profile
    data = {"display_name": "Alex", "country": "FR", "preferred_language": "en", "date_of_birth": "1980-01-01"}
    form = ProfileForm(data={**data, "sex": ""}, instance=profile)
    assert form.is_valid(), form.errors
    assert [str(label) for _value, label in form.fields["sex"].choices] == ["Prefer not to say", "Female", "Male"]
    profile_update(user=patient, **form.cleaned_data)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sex FROM accounts_profile WHERE id = %s", [profile.pk])
        assert cursor.fetchone()[0] is None
    form = ProfileForm(data={**data, "sex": "female"}, instance=profile)
    assert form.is_valid()
    profile_update(user=patient, **form.cleaned_data)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sex FROM accounts_profile WHERE id = %s", [profile.pk])
        assert "female" not in cursor.fetchone()[0]  # encrypted
    assert preventive.preventive_overview_for_user(user=type(patient).objects.get(pk=patient.pk)).sex == "female"
