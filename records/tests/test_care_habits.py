"""Habits over time: sleep regularity, activity days and nutrition, from samples in the time-series store.

The samples follow fixed formulas below, so every expected number is computed here from the formulas.
"""

from __future__ import annotations

import datetime
import statistics

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from records import habits
from records.habits import activity_weeks, nights_from_samples, nutrition_weeks, sleep_regularity, weeks_start
from records.timeseries import SLEEP_STAGES, Sample, samples_merge

from .care_data import page_queries

UTC = datetime.UTC
TODAY = datetime.date(2024, 6, 30)  # a Sunday
DAYS = 84
FIRST = TODAY - datetime.timedelta(days=DAYS - 1)
WATCH = "Test Watch"
DIARY = "Test Diary"


def day(index: int) -> datetime.date:
    return FIRST + datetime.timedelta(days=index)


def bedtime_minutes(index: int) -> int:
    """Minutes after 22:00 the night of day `index` starts: 22:30 to 00:10 in a weekly pattern."""
    return 30 + 20 * (index % 6)


def sleep_minutes(index: int) -> int:
    return 420 + 5 * (index % 3)


def steps(index: int) -> int:
    return 4000 + 1000 * (index % 7)


def energy(index: int) -> int:
    return 1800 + 50 * (index % 5)


def logged(index: int) -> bool:
    return index % 4 != 3  # one day in four without food logged


def _at(moment_day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(moment_day.year, moment_day.month, moment_day.day, hour, minute, tzinfo=UTC)


def samples() -> list[Sample]:
    items = []
    for index in range(DAYS):
        today = day(index)
        bedtime = _at(today, 22) + datetime.timedelta(minutes=bedtime_minutes(index))
        core = bedtime + datetime.timedelta(minutes=sleep_minutes(index) - 30)
        items.append(Sample("sleep", bedtime, core, SLEEP_STAGES["core"], "stage", WATCH))
        # Ten minutes awake, then a last stretch of deep sleep: one sleep, woken once.
        items.append(
            Sample("sleep", core, core + datetime.timedelta(minutes=10), SLEEP_STAGES["awake"], "stage", WATCH)
        )
        wake_start = core + datetime.timedelta(minutes=10)
        items.append(
            Sample(
                "sleep", wake_start, wake_start + datetime.timedelta(minutes=30), SLEEP_STAGES["deep"], "stage", WATCH
            )
        )
        # An afternoon nap that must not count as the night's sleep.
        items.append(Sample("sleep", _at(today, 14), _at(today, 14, 40), SLEEP_STAGES["asleep"], "stage", WATCH))
        items.append(Sample("steps", _at(today, 9), _at(today, 18), steps(index), "count", WATCH))
        if logged(index):
            start, end = _at(today, 0), _at(today, 0) + datetime.timedelta(days=1)
            items.append(Sample("dietary_energy", start, end, energy(index), "kcal", DIARY))
            items.append(Sample("protein", start, end, 80, "g", DIARY))
            items.append(Sample("carbohydrates", start, end, 220, "g", DIARY))
            items.append(Sample("fat", start, end, 60, "g", DIARY))
    return items


@pytest.fixture
def habitual(patient):
    assert samples_merge(owner=patient, samples=samples()).rejected == 0
    with time_machine.travel(datetime.datetime.combine(TODAY, datetime.time(12), UTC), tick=False):
        yield patient


def test_nights_keep_the_main_sleep_and_join_stages_across_a_short_wake():
    nights = nights_from_samples([item for item in samples() if item.metric == "sleep"], UTC)
    assert len(nights) == DAYS
    first = nights[0]
    expected_bed = _at(day(0), 22) + datetime.timedelta(minutes=bedtime_minutes(0))
    assert (first.day, first.bedtime) == (day(0), expected_bed)
    assert first.wake == expected_bed + datetime.timedelta(minutes=sleep_minutes(0) + 10)
    assert first.asleep_minutes == sleep_minutes(0)


def test_sleep_regularity_is_the_spread_of_bedtime_and_wake_time():
    nights = nights_from_samples([item for item in samples() if item.metric == "sleep"], UTC)
    start = weeks_start(TODAY, 12)
    result = sleep_regularity(nights, start=start, today=TODAY)
    indexes = [index for index in range(DAYS) if start <= day(index) <= TODAY]
    # Minutes after noon: 22:00 is 600.
    bedtimes = [600 + bedtime_minutes(index) for index in indexes]
    wakes = [bed + sleep_minutes(index) + 10 for bed, index in zip(bedtimes, indexes, strict=True)]
    assert result.nights == len(indexes)
    assert result.bedtime_spread == pytest.approx(statistics.pstdev(bedtimes))
    assert result.wake_spread == pytest.approx(statistics.pstdev(wakes))
    assert result.bedtime_mean == pytest.approx(statistics.fmean(bedtimes))
    assert len(result.weeks) == 12 and all(week.nights == 7 for week in result.weeks)


def test_active_days_count_days_at_or_over_the_threshold():
    daily = [(day(index), steps(index)) for index in range(DAYS)]
    start = weeks_start(TODAY, 4)
    result = activity_weeks(daily, start=start, today=TODAY, threshold=7000)
    in_period = [index for index in range(DAYS) if day(index) >= start]
    assert result.active_days == sum(1 for index in in_period if steps(index) >= 7000)
    assert result.days_with_data == len(in_period) == result.period_days
    assert result.per_week == pytest.approx(result.active_days * 7 / len(in_period))
    assert [week.active_days for week in result.weeks] == [
        sum(1 for index in in_period if steps(index) >= 7000 and weeks_start(day(index), 1) == week.monday)
        for week in result.weeks
    ]


def test_nutrition_averages_logged_days_and_shares_the_energy_of_macronutrients():
    daily = {
        "dietary_energy": [(day(index), energy(index)) for index in range(DAYS) if logged(index)],
        "protein": [(day(index), 80) for index in range(DAYS) if logged(index)],
        "carbohydrates": [(day(index), 220) for index in range(DAYS) if logged(index)],
        "fat": [(day(index), 60) for index in range(DAYS) if logged(index)],
    }
    result = nutrition_weeks(daily, start=FIRST, today=TODAY)
    logged_days = [index for index in range(DAYS) if logged(index)]
    assert result.days == len(logged_days)
    assert result.means["dietary_energy"] == pytest.approx(statistics.fmean(energy(index) for index in logged_days))
    total = 80 * 4 + 220 * 4 + 60 * 9
    assert result.shares == pytest.approx(
        {"protein": 100 * 320 / total, "carbohydrates": 100 * 880 / total, "fat": 100 * 540 / total}
    )
    assert nutrition_weeks({}, start=FIRST, today=TODAY).shares is None


def test_the_page_shows_a_chart_and_a_sentence_for_each_habit(habitual, client):
    client.force_login(habitual)
    response = client.get(reverse("records:care_habits"), {"weeks": 4, "steps": 8000})
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("<svg") == 2 + 1 + 4  # bedtime and wake time, active days, energy and three macronutrients
    result = habits.habits_for_user(user=habitual, weeks=4, threshold=8000, today=TODAY)
    for sentence in (result.sleep_sentence, result.activity_sentence, result.nutrition_sentence):
        assert sentence in page.replace("&#x27;", "'")
    assert "reached 8,000 steps on" in page
    assert "Protein brought" in page


def test_without_data_each_habit_says_so(patient, client):
    client.force_login(patient)
    page = client.get(reverse("records:care_habits")).content.decode()
    assert "<svg" not in page
    assert "No step data" in page and "No food logged" in page and "Not enough nights" in page


def test_the_page_in_french_writes_times_and_numbers_the_french_way(habitual, client, settings):
    client.force_login(habitual)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get(reverse("records:care_habits")).content.decode().replace("&#x27;", "'")
    with translation.override("fr"):
        french = habits.habits_for_user(user=habitual, today=TODAY).sleep.bedtime
    with translation.override("en"):
        english = habits.habits_for_user(user=habitual, today=TODAY).sleep.bedtime
    # The usual bedtime (about 23:10) on a 24-hour clock in French, "11:10 p.m." in English.
    assert french in page and english not in page
    assert french.startswith("23") and "p.m." in english


def test_another_patients_data_never_shows(habitual, other_patient, client):
    client.force_login(other_patient)
    page = client.get(reverse("records:care_habits")).content.decode()
    assert "<svg" not in page


def test_the_page_reads_in_a_fixed_number_of_queries(habitual, client):
    client.force_login(habitual)
    url = reverse("records:care_habits")
    assert page_queries(client, url, {"weeks": 4}) == page_queries(client, url, {"weeks": 12})


def test_the_form_shows_the_period_and_threshold_in_use(patient_client):
    page = patient_client.get(reverse("records:care_habits"), {"weeks": 26}).content.decode()
    assert '<option value="26" selected>' in page and '<option value="7000" selected>' in page
    page = patient_client.get(reverse("records:care_habits"), {"weeks": 999, "steps": "many"}).content.decode()
    # An unknown choice falls back to the defaults, and the form shows them.
    assert '<option value="12" selected>' in page and '<option value="7000" selected>' in page
    assert "No step data in the last 12 weeks." in page
