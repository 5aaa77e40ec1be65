"""Withings payloads -> samples.

- Measure groups (`getmeas`): value x 10^unit, the group's date as start and end.
- Activity (`getactivity`): one whole-day sample per kept field, filed under its calendar date
  (`day_total_span`), so a day's total replaces itself as it grows and shows on the patient's day.
- Sleep (`sleep get`): one sleep-stage sample per segment (`state`), plus one in-bed sample per night
  from the night's summary (`getsummary`).
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from records.timeseries import SLEEP_STAGES, Sample, TimeSeriesError, day_total_span

SOURCE = "Withings"
# meastype -> (metric, unit the value is in). 5 fat-free mass and 8 fat mass have no metric: skipped.
MEASURE_TYPES = {
    1: ("weight", "kg"),
    4: ("height", "m"),
    6: ("body_fat", "%"),
    9: ("blood_pressure_diastolic", "mmHg"),
    10: ("blood_pressure_systolic", "mmHg"),
    11: ("heart_rate", "bpm"),
    54: ("oxygen_saturation", "%"),
}
REQUESTED_TYPES = "1,4,5,6,8,9,10,11,54"
# getactivity field -> (metric, unit). `calories` is the active energy; `totalcalories` adds the basal part.
ACTIVITY_FIELDS = {"steps": ("steps", "count"), "distance": ("distance", "m"), "calories": ("active_energy", "kcal")}
# Sleep get `state` -> stage: 0 awake, 1 light (Apple's "core"), 2 deep, 3 REM, 4 manual and 5 unspecified (asleep).
SLEEP_STATES = {0: "awake", 1: "core", 2: "deep", 3: "rem", 4: "asleep", 5: "asleep"}


@dataclass
class MeasureStats:
    read: int = 0
    skipped: int = 0  # measures of a type HealthSpace does not keep
    rejected: int = 0  # malformed measures
    skipped_types: dict = field(default_factory=dict)


def measure_value(value, unit) -> float:
    """value x 10^unit, computed in decimal so 118003 x 10^-3 is exactly 118.003."""
    return float(Decimal(int(value)).scaleb(int(unit)))


def measure_samples(groups: list, stats: MeasureStats) -> list[Sample]:
    samples = []
    for group in groups or []:
        if not isinstance(group, dict):
            stats.rejected += 1
            continue
        try:
            when = datetime.datetime.fromtimestamp(int(group["date"]), tz=datetime.UTC)
        except (KeyError, TypeError, ValueError, OverflowError):
            stats.rejected += len(group.get("measures") or []) or 1
            continue
        for measure in group.get("measures") or []:
            stats.read += 1
            kind = measure.get("type") if isinstance(measure, dict) else None
            if kind not in MEASURE_TYPES:
                stats.skipped += 1
                stats.skipped_types[kind] = stats.skipped_types.get(kind, 0) + 1
                continue
            metric, unit = MEASURE_TYPES[kind]
            try:
                value = measure_value(measure["value"], measure["unit"])
                samples.append(Sample(metric=metric, start=when, end=when, value=value, unit=unit, source=SOURCE))
            except (KeyError, TypeError, ValueError, InvalidOperation, TimeSeriesError):
                stats.rejected += 1
    return samples


def _epoch(value) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(value), tz=datetime.UTC)


def _span(item: dict) -> tuple[datetime.datetime, datetime.datetime]:
    start, end = _epoch(item["startdate"]), _epoch(item["enddate"])
    if end < start:
        raise ValueError("ends before it starts")
    return start, end


def activity_samples(activities: list, stats: MeasureStats) -> list[Sample]:
    """Whole-day samples of each day's steps, distance and active energy, filed under their date."""
    samples = []
    for activity in activities or []:
        try:
            start, end = day_total_span(datetime.date.fromisoformat(activity["date"]))
        except (KeyError, TypeError, ValueError):
            stats.rejected += 1
            continue
        for name, (metric, unit) in ACTIVITY_FIELDS.items():
            if activity.get(name) is None:
                continue
            stats.read += 1
            try:
                samples.append(Sample(metric, start, end, float(activity[name]), unit, SOURCE))
            except (TypeError, ValueError, TimeSeriesError):
                stats.rejected += 1
    return samples


def sleep_samples(series: list, stats: MeasureStats) -> list[Sample]:
    """One sleep-stage sample per segment of `sleep get`."""
    samples = []
    for segment in series or []:
        stats.read += 1
        try:
            stage = SLEEP_STAGES[SLEEP_STATES[segment["state"]]]
            samples.append(Sample("sleep", *_span(segment), stage, "stage", SOURCE))
        except (KeyError, TypeError, ValueError, OverflowError, TimeSeriesError):
            stats.rejected += 1
    return samples


def in_bed_sample(night: dict, stats: MeasureStats) -> list[Sample]:
    """The in-bed period of a night's summary (`getsummary`), as one sleep sample."""
    stats.read += 1
    try:
        return [Sample("sleep", *_span(night), SLEEP_STAGES["in_bed"], "stage", SOURCE)]
    except (KeyError, TypeError, ValueError, OverflowError, TimeSeriesError):
        stats.rejected += 1
        return []
