"""Habits over time read from what the providers bring in: real Withings nights, a MyFitnessPal food diary.

The Withings `sleep get` payload (eight nights) is real (data/withings/README.md); the MyFitnessPal CSV follows
the documented format (data/myfitnesspal/README.md). Each goes through its provider's parser into the time-series
store, and the habits are computed from the store; the expected numbers are read from the files here.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from integrations.providers.myfitnesspal.parser import iter_samples
from integrations.providers.withings.mapping import SLEEP_STATES, MeasureStats, sleep_samples
from records import habits
from records.timeseries import ASLEEP_CODES, SLEEP_STAGES, Sample, samples_merge

DATA = Path(__file__).parent / "data"


def test_real_withings_nights_give_bedtimes_wake_times_and_their_spread(patient):
    series = json.loads((DATA / "withings" / "sleep.json").read_text())["body"]["series"]
    assert samples_merge(owner=patient, samples=sleep_samples(series, MeasureStats())).rejected == 0
    # Each evening's asleep segments (light, deep, REM), read straight from the payload.
    evenings: dict[datetime.date, list[tuple[int, int]]] = defaultdict(list)
    for item in series:
        if SLEEP_STAGES[SLEEP_STATES[item["state"]]] in ASLEEP_CODES:
            start = datetime.datetime.fromtimestamp(item["startdate"], datetime.UTC)
            evenings[(start - datetime.timedelta(hours=12)).date()].append((item["startdate"], item["enddate"]))
    first, last = min(evenings), max(evenings)

    result = habits.sleep_for_user(user=patient, start=first, today=last + datetime.timedelta(days=1))

    assert result.nights == len(evenings) > 5
    bedtimes = [min(start for start, _end in spans) for spans in evenings.values()]
    wakes = [max(end for _start, end in spans) for spans in evenings.values()]
    noon = {
        evening: datetime.datetime.combine(evening, datetime.time(12), datetime.UTC).timestamp() for evening in evenings
    }
    bed_minutes = [(bed - noon[evening]) / 60 for bed, evening in zip(bedtimes, evenings, strict=True)]
    wake_minutes = [(wake - noon[evening]) / 60 for wake, evening in zip(wakes, evenings, strict=True)]
    assert result.bedtime_mean == pytest.approx(statistics.fmean(bed_minutes))
    assert result.bedtime_spread == pytest.approx(statistics.pstdev(bed_minutes))
    assert result.wake_spread == pytest.approx(statistics.pstdev(wake_minutes))


def test_a_myfitnesspal_diary_gives_daily_energy_and_macronutrients(patient):
    path = DATA / "myfitnesspal" / "nutrition.csv"
    with path.open("rb") as stream:
        items = [item for item in iter_samples(stream, filename=path.name) if isinstance(item, Sample)]
    assert samples_merge(owner=patient, samples=items, replace=True).rejected == 0
    totals: dict[str, dict[datetime.date, float]] = defaultdict(lambda: defaultdict(float))
    columns = {
        "dietary_energy": "Calories",
        "protein": "Protein (g)",
        "carbohydrates": "Carbohydrates (g)",
        "fat": "Fat (g)",
    }
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
        day = datetime.date.fromisoformat(row["Date"])
        for metric, column in columns.items():
            totals[metric][day] += float(row[column].replace(",", ""))
    days = sorted(totals["dietary_energy"])
    today = days[-1]

    result = habits.nutrition_for_user(user=patient, start=days[0], today=today)

    assert result.days == len(days)
    for metric in columns:
        expected = sum(totals[metric].values()) / len(totals[metric])
        assert result.means[metric] == pytest.approx(expected, abs=0.01)
    energy = {metric: sum(totals[metric].values()) * kcal for metric, kcal in habits.KCAL_PER_GRAM.items()}
    assert result.shares["fat"] == pytest.approx(100 * energy["fat"] / sum(energy.values()), abs=0.01)
