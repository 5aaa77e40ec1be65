"""Health Auto Export REST API bodies (JSON, workouts version 2) to samples and workouts (pure: no database).

The body is `{"data": {"metrics": [...], "workouts": [...], ...}}`; only the arrays the
automation selects are there. Other arrays (symptoms, ecg, medications...) are counted as
skipped sections. Batches of one session may arrive twice: every item is derived from the body
alone, so a repeated batch gives the same items and the store adds nothing.

Metrics. `{"name", "units", "data": [{"date": "yyyy-MM-dd HH:mm:ss Z", "qty": ...}]}`; each point
is an instant at its date (the aggregation period is a request header, not in the body). Names
map to METRICS keys through `QUANTITY_METRICS`; an unknown name is skipped and counted, a point
with a bad date or value is rejected and counted, neither is fatal. Special shapes:
- heart_rate `{date, Min, Avg, Max}`: one heart_rate sample with the Avg (Min and Max are left
  out, as extra samples would bend the day's mean);
- blood_pressure `{date, systolic, diastolic}`: one systolic and one diastolic sample;
- sleep_analysis summarised `{date, totalSleep, asleep, core, deep, rem, sleepStart, inBed,
  inBedStart, inBedEnd, ...}`: one sample per stage with time, laid end to end from sleepStart in
  the order of `SUMMARY_STAGE_ORDER` (the stage totals are true, their order in the night is
  not), plus one in-bed sample from inBedStart to inBedEnd; "asleep" (stage unknown) is
  totalSleep minus core, deep and REM;
- sleep_analysis segments `{startDate, endDate, value}`: one sample per segment.

Workouts. One WorkoutItem each, source_id = the workout's id; energy from activeEnergyBurned
(else totalEnergy), distance and elevation converted to metres, heart rate in statistics.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from records.timeseries import METRICS, SLEEP_STAGES, TimeSeriesError, metric_get, sleep_stage_code

from ..items import ParseError, Sample, WorkoutItem

SOURCE = "Health Auto Export"
# A day of minute-level metrics is a few MB; the app splits larger exports when batching is on.
MAX_BODY_BYTES = 32 * 1024 * 1024
_MAX_NAME_CHARS = 100

# Health Auto Export metric name -> METRICS key. Used only when the key is registered.
QUANTITY_METRICS = {
    "heart_rate": "heart_rate",
    "resting_heart_rate": "resting_heart_rate",
    "heart_rate_variability": "heart_rate_variability",
    "blood_oxygen_saturation": "oxygen_saturation",
    "respiratory_rate": "respiratory_rate",
    "vo2_max": "vo2max",
    "weight_body_mass": "weight",
    "body_fat_percentage": "body_fat",
    "body_mass_index": "bmi",
    "height": "height",
    "active_energy": "active_energy",
    "basal_energy_burned": "basal_energy",
    "apple_exercise_time": "exercise_time",
    "step_count": "steps",
    "walking_running_distance": "distance",
    "dietary_energy": "dietary_energy",
    "protein": "protein",
    "carbohydrates": "carbohydrates",
    "total_fat": "fat",
    "saturated_fat": "saturated_fat",
    "dietary_sugar": "sugar",
    "fiber": "fiber",
    "sodium": "sodium",
    "dietary_water": "water",
    "blood_glucose": "blood_glucose",
    "body_temperature": "body_temperature",
    "mindful_minutes": "mindful_minutes",
}
SUMMARY_STAGE_ORDER = ("core", "deep", "rem", "asleep", "awake")
_SECONDS_PER_UNIT = {"hr": 3600, "h": 3600, "hours": 3600, "min": 60, "s": 1, "sec": 1}
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")
# The app names some workouts by place ("Outdoor Run"): the place goes to statistics, the activity
# is named as Apple's activity types are ("running").
_PLACES = ("indoor_", "outdoor_", "pool_", "open_water_")
_ACTIVITIES = {"run": "running", "walk": "walking", "cycle": "cycling", "swim": "swimming", "hike": "hiking"}


@dataclass
class PayloadStats:
    """What a body held: metrics and points read, items made, what was skipped or rejected (never values)."""

    metrics: int = 0
    read: int = 0
    samples: int = 0
    workouts: int = 0
    # Unknown metric name -> points skipped.
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    sections_skipped: list[str] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        """Points and workouts refused for a bad date, value, unit or shape."""
        return sum(self.rejected.values())


@dataclass(frozen=True)
class Payload:
    """A parsed body: its items in body order, and what was read."""

    items: list[Sample | WorkoutItem]
    stats: PayloadStats


class _Rejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_payload(body: bytes) -> Payload:
    """The samples and workouts of one Health Auto Export body (ParseError if it is not one; same body, same items)."""
    if len(body) > MAX_BODY_BYTES:
        raise ParseError(
            _(
                "This data is larger than HealthSpace accepts at once: turn on batch requests in the "
                "Health Auto Export automation."
            )
        )
    if not body.strip():
        raise ParseError(_("The data sent is empty."))
    try:
        # NaN and Infinity are not JSON: a point holding one is rejected like any bad value.
        document = json.loads(body, parse_constant=lambda _name: None)
    except (ValueError, RecursionError):
        raise ParseError(_("The data sent is not valid JSON.")) from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise ParseError(_('The data sent has no "data" object: it does not come from Health Auto Export.'))
    stats = PayloadStats()
    items: list[Sample | WorkoutItem] = []
    for metric in _array(data, "metrics"):
        items.extend(_metric_items(metric, stats))
    for entry in _array(data, "workouts"):
        if not isinstance(entry, dict):
            raise ParseError(_('Each of the "workouts" sent must be an object.'))
        stats.read += 1
        try:
            items.append(_workout(entry, stats))
        except _Rejected as rejected:
            stats.rejected[rejected.reason] += 1
    stats.sections_skipped = sorted(
        str(name)[:_MAX_NAME_CHARS] for name, value in data.items() if name not in ("metrics", "workouts") and value
    )
    stats.samples = sum(isinstance(item, Sample) for item in items)
    stats.workouts = len(items) - stats.samples
    return Payload(items=items, stats=stats)


def _array(data: dict, name: str) -> list:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(_('The "%(name)s" sent must be a list.') % {"name": name})
    return value


# -- values ----------------------------------------------------------------------------------------


def _when(value: object) -> datetime.datetime:
    """A "yyyy-MM-dd HH:mm:ss Z" (or ISO 8601 with an offset) date as an aware UTC datetime."""
    if not isinstance(value, str):
        raise _Rejected("date")
    text = value.strip()
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z").astimezone(datetime.UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _Rejected("date") from None
    if parsed.utcoffset() is None:
        raise _Rejected("date")
    return parsed.astimezone(datetime.UTC)


def _number(value: object) -> float:
    """A finite, non-negative JSON number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _Rejected("value")
    return float(value)


def _source(point: dict, *keys: str) -> str:
    for key in (*keys, "source"):
        value = point.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return SOURCE


# -- metrics ---------------------------------------------------------------------------------------


def _metric_items(metric: object, stats: PayloadStats) -> Iterator[Sample]:
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise ParseError(_('Each of the "metrics" sent must be an object with a name.'))
    points = metric.get("data")
    if not isinstance(points, list):
        raise ParseError(_('Each of the "metrics" sent must have a "data" list.'))
    name, units = metric["name"].strip(), metric.get("units")
    units = units.strip() if isinstance(units, str) else ""
    stats.metrics += 1
    stats.read += len(points)
    if name == "sleep_analysis":
        convert = _point_sleep
    elif name == "blood_pressure":
        convert = _point_blood_pressure
    elif name == "heart_rate":
        convert = _point_heart_rate
    elif QUANTITY_METRICS.get(name) in METRICS:
        convert = _point_quantity
    else:
        stats.skipped[name[:_MAX_NAME_CHARS]] += len(points)
        return
    if name != "sleep_analysis" and not _unit_accepted(name, units):
        stats.rejected["unit"] += len(points)
        return
    for point in points:
        try:
            if not isinstance(point, dict):
                raise _Rejected("shape")
            yield from convert(name, units, point)
        except _Rejected as rejected:
            stats.rejected[rejected.reason] += 1


def _unit_accepted(name: str, units: str) -> bool:
    key = "blood_pressure_systolic" if name == "blood_pressure" else QUANTITY_METRICS[name]
    try:
        metric_get(key).converter(units)
    except TimeSeriesError:
        return False
    return True


def _point_quantity(name: str, units: str, point: dict) -> list[Sample]:
    at = _when(point.get("date"))
    return [Sample(QUANTITY_METRICS[name], at, at, _number(point.get("qty")), units, _source(point))]


def _point_heart_rate(name: str, units: str, point: dict) -> list[Sample]:
    at = _when(point.get("date"))
    value = next((point[key] for key in ("Avg", "avg", "qty") if point.get(key) is not None), None)
    return [Sample("heart_rate", at, at, _number(value), units, _source(point))]


def _point_blood_pressure(name: str, units: str, point: dict) -> list[Sample]:
    at = _when(point.get("date"))
    systolic, diastolic = _number(point.get("systolic")), _number(point.get("diastolic"))
    source = _source(point)
    return [
        Sample("blood_pressure_systolic", at, at, systolic, units, source),
        Sample("blood_pressure_diastolic", at, at, diastolic, units, source),
    ]


def _point_sleep(name: str, units: str, point: dict) -> list[Sample]:
    if "startDate" in point:
        return [_sleep_segment(point)]
    if "totalSleep" in point or "sleepStart" in point:
        return _sleep_summary(units, point)
    raise _Rejected("shape")


def _sleep_segment(point: dict) -> Sample:
    start, end = _when(point.get("startDate")), _when(point.get("endDate"))
    if end < start:
        raise _Rejected("date")
    try:
        stage = sleep_stage_code(point.get("value", ""))
    except TimeSeriesError:
        raise _Rejected("stage") from None
    return Sample("sleep", start, end, stage, "stage", _source(point))


def _sleep_summary(units: str, point: dict) -> list[Sample]:
    per_unit = _SECONDS_PER_UNIT.get(units.lower() or "hr")
    if per_unit is None:
        raise _Rejected("unit")

    def seconds(key: str) -> int:
        value = point.get(key)
        return 0 if value is None else round(_number(value) * per_unit)

    staged = seconds("core") + seconds("deep") + seconds("rem")
    durations = {stage: seconds(stage) for stage in ("core", "deep", "rem", "awake")}
    # "asleep" is the time asleep in no known stage: older versions wrote the total there.
    total = seconds("totalSleep") if point.get("totalSleep") is not None else seconds("asleep") + staged
    durations["asleep"] = max(0, total - staged)
    samples = []
    if any(durations.values()):
        position = _when(point.get("sleepStart"))
        source = _source(point, "sleepSource")
        for stage in SUMMARY_STAGE_ORDER:
            if durations[stage]:
                end = position + datetime.timedelta(seconds=durations[stage])
                samples.append(Sample("sleep", position, end, SLEEP_STAGES[stage], "stage", source))
                position = end
    in_bed = seconds("inBed")
    if in_bed:
        start = _when(point.get("inBedStart") or point.get("sleepStart"))
        end = _when(point["inBedEnd"]) if point.get("inBedEnd") else start + datetime.timedelta(seconds=in_bed)
        if end < start:
            raise _Rejected("date")
        samples.append(Sample("sleep", start, end, SLEEP_STAGES["in_bed"], "stage", _source(point, "inBedSource")))
    if not samples:
        raise _Rejected("value")
    return samples


# -- workouts --------------------------------------------------------------------------------------


def _quantity(value: object, metric: str, stats: PayloadStats) -> float | None:
    """A `{qty, units}` object (or a bare number in the metric's unit) in the metric's unit; None if absent."""
    if value is None:
        return None
    units = metric_get(metric).unit
    if isinstance(value, dict):
        units, value = value.get("units", units), value.get("qty")
    try:
        convert = metric_get(metric).converter(units if isinstance(units, str) else "")
        number = _number(value)
    except (TimeSeriesError, _Rejected):
        stats.rejected["workout field"] += 1
        return None
    return convert(number) if convert is not None else number


def _workout(entry: dict, stats: PayloadStats) -> WorkoutItem:
    start, end = _when(entry.get("start")), _when(entry.get("end"))
    if end < start:
        raise _Rejected("date")
    name = entry.get("name")
    activity = _NOT_A_WORD.sub("_", name.lower()).strip("_")[:_MAX_NAME_CHARS] if isinstance(name, str) else ""
    for place in _PLACES:
        activity = activity.removeprefix(place)
    activity = _ACTIVITIES.get(activity, activity)
    duration = entry.get("duration")
    try:
        duration_s = round(_number(duration))
    except _Rejected:
        duration_s = round((end - start).total_seconds())
    statistics: dict = {}
    if isinstance(entry.get("isIndoor"), bool):
        statistics["indoor"] = entry["isIndoor"]
    heart_rate = entry.get("heartRate") if isinstance(entry.get("heartRate"), dict) else {}
    heart_rate = {
        key: _quantity(heart_rate.get(key) or entry.get(fallback), "heart_rate", stats)
        for key, fallback in (("min", "minHeartRate"), ("avg", "avgHeartRate"), ("max", "maxHeartRate"))
    }
    if any(value is not None for value in heart_rate.values()):
        statistics["heart_rate"] = heart_rate
    total_energy = _quantity(entry.get("totalEnergy"), "active_energy", stats)
    if total_energy is not None:
        statistics["total_energy_kcal"] = total_energy
    elevation = _quantity(entry.get("elevationUp"), "distance", stats)
    if elevation is not None:
        statistics["elevation_up_m"] = elevation
    workout_id = entry.get("id")
    return WorkoutItem(
        activity=activity or "other",
        start=start,
        end=end,
        source=_source(entry),
        duration_s=duration_s,
        distance_m=_quantity(entry.get("distance"), "distance", stats),
        energy_kcal=_quantity(entry.get("activeEnergyBurned"), "active_energy", stats) or total_energy,
        statistics=statistics,
        source_id=workout_id.strip()[:_MAX_NAME_CHARS] if isinstance(workout_id, str) else "",
    )
