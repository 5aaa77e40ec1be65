"""The time-series store: wearable and nutrition samples, one encrypted row per (owner, metric, day).

Units. Every metric has one canonical unit; samples are converted to it on the way in (`Sample`)
and converted values are rounded to 4 decimals. Percentages are stored as percent (0-100): "%"
values of at most 1 are read as fractions, because Apple's export.xml writes 0.97 for 97 % while
Health Auto Export writes 97, and no oxygen saturation or body fat is 1 % or less; "fraction"
always means 0-1. Sleep samples carry a stage code as value (`SLEEP_STAGES`), the duration being
end - start.

Days. A sample belongs to the UTC day of its start (a night's sleep spans two rows: group nights
when reading). Times are kept to the second.

Payload (`payload_encode`). JSON {"v": 1, "m": metric, "s": [sources], "t": [start offsets from
midnight UTC, delta-encoded], "d": [durations in s], "x": [values], "i": [source indices]}, sorted
by (start, duration, source, value), then zlib, then base64; the field then encrypts it. Columns
with delta-encoded starts compress a third better than rows: 550 heart rates of a day take about
2.5 KB (whole numbers) to 8 KB (full-precision floats) before encryption.

Summary {count, min, max, mean, sum, last}, numbers rounded to 4 decimals. count/min/max/mean
are over the exactly deduplicated samples, last is the value of the latest one. For "sum" metrics
the same steps seen by phone and watch must count once: each source's values are spread over the
hours they cover (in proportion to time), and each hour counts only its largest source total;
`sum` adds up those hours. For other metrics `sum` is the plain sum, so rollups can weight means.
Sleep: `sum` is the minutes asleep (asleep, core, deep, rem) by that hour rule over all sources;
count/min/max/mean are over asleep segments (in minutes); `stages` gives the minutes of each
stage; `last` is the stage code of the latest segment.

Merging reads the input in chunks of CHUNK_SAMPLES; input in time order (as exports and Health
Auto Export send it) writes each day about once, while shuffled input rewrites a day for every
chunk that touches it (about ten times slower).
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import math
import operator
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from accounts.models import User

# Models and the ORM are imported where they are used: Apple Health's parser process imports this
# module for its registry and `SampleBatch`, without Django's settings and app registry, and small.

# Samples grouped per round trip: bounds memory whatever the size of the input.
CHUNK_SAMPLES = 50_000
# Days locked and rewritten per transaction: keeps each transaction short (and SQLite's
# 32766-variable limit far away).
DAY_BATCH = 200
# A concurrent merge may create the same day first: the batch is then read again.
MERGE_ATTEMPTS = 3
PAYLOAD_VERSION = 1
SECONDS_PER_DAY = 86_400
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_UTC = datetime.UTC


class TimeSeriesError(ValueError):
    """A sample or payload the store cannot accept; messages never carry a measured value."""


class UnknownMetric(TimeSeriesError):
    """The metric is not in the registry."""


class UnitError(TimeSeriesError):
    """The unit is not accepted for the metric."""


# -- registry --------------------------------------------------------------------------------------

Converter = Callable[[float], float] | None  # None: already canonical


def _scale(factor: float, offset: float = 0.0) -> Callable[[float], float]:
    return lambda value: round(value * factor + offset, 4)


def _percent(value: float) -> float:
    return round(value * 100, 4) if value <= 1 else value


_FRACTION = _scale(100)

SLEEP_STAGES = {"in_bed": 0, "awake": 1, "asleep": 2, "core": 3, "deep": 4, "rem": 5}
SLEEP_STAGE_NAMES = {code: name for name, code in SLEEP_STAGES.items()}
ASLEEP_CODES = frozenset({SLEEP_STAGES["asleep"], SLEEP_STAGES["core"], SLEEP_STAGES["deep"], SLEEP_STAGES["rem"]})


@dataclass(frozen=True, eq=False)
class Metric:
    """A kind of sample: canonical unit, how days aggregate, a label, and the units accepted."""

    key: str
    unit: str
    kind: str  # "sum", "mean" or "last": which summary field a chart plots
    label: Promise
    units: dict[str, Converter] = field(repr=False)
    valid_values: frozenset[float] | None = field(default=None, repr=False)

    @property
    def chart_field(self) -> str:
        """The summary field that represents a day on a chart."""
        return self.kind

    def converter(self, unit: str) -> Converter:
        """The conversion from `unit` to the canonical unit; raises UnitError for an unknown unit."""
        try:
            return self.units[unit]
        except KeyError:
            pass
        try:
            return self.units[_normalise_unit(unit)]
        except KeyError:
            raise UnitError(f"Unit {unit!r} is not accepted for metric {self.key!r}.") from None


def _normalise_unit(unit: str) -> str:
    # Apple writes glucose as "mmol<180.15588000005408>/L": the molar mass is not part of the unit.
    unit = re.sub(r"<[^>]*>", "", str(unit)).strip().lower()
    return unit.replace(" ", "").replace("²", "2").replace("µ", "u").replace("·", "*")


def _units(canonical: str, aliases: Iterable[str] = ()) -> dict[str, Converter]:
    table: dict[str, Converter] = {_normalise_unit(canonical): None}
    table.update((_normalise_unit(alias), None) for alias in aliases)
    return table


def _with(table: dict[str, Converter], conversions: dict[str, Converter]) -> dict[str, Converter]:
    return {**table, **{_normalise_unit(unit): convert for unit, convert in conversions.items()}}


_RATE = _units("bpm", ["count/min", "beats/min", "/min", "1/min", "min^-1"])
_PER_SECOND = {"count/s": _scale(60), "hz": _scale(60)}
_COUNT = _units("count", ["steps", "step", "", "1"])
_LENGTH_M = _with(
    _units("m", ["meter", "meters", "metre", "metres"]),
    {"km": _scale(1000), "mi": _scale(1609.344), "ft": _scale(0.3048), "yd": _scale(0.9144), "cm": _scale(0.01)},
)
_ENERGY = _with(_units("kcal", ["cal", "kilocalories", "calories"]), {"kj": _scale(1 / 4.184), "j": _scale(1 / 4184)})
_MINUTES = _with(
    _units("min", ["mins", "minute", "minutes"]),
    {"s": _scale(1 / 60), "sec": _scale(1 / 60), "h": _scale(60), "hr": _scale(60), "hours": _scale(60)},
)
_MASS_KG = _with(
    _units("kg", ["kilograms"]),
    {"lb": _scale(0.45359237), "lbs": _scale(0.45359237), "g": _scale(0.001), "st": _scale(6.35029318)},
)
_PERCENT = _with(_units("%"), {"%": _percent, "percent": _percent, "fraction": _FRACTION, "ratio": _FRACTION})
_BMI = _units("kg/m2", ["count", "", "kg/m^2", "kg*m^-2"])
_HEIGHT_CM = _with(
    _units("cm", ["centimeters"]),
    {"m": _scale(100), "mm": _scale(0.1), "in": _scale(2.54), "ft": _scale(30.48)},
)
_PRESSURE = _with(_units("mmHg", ["mm[Hg]"]), {"kpa": _scale(7.50062)})
_GLUCOSE = _with(_units("mmol/L"), {"mg/dl": _scale(1 / 18.016)})
_BREATHS = _units("breaths/min", ["count/min", "/min", "1/min", "brpm", "breaths"])
_VO2 = _units("mL/kg/min", ["ml/min*kg", "ml/(kg*min)", "ml/kg*min", "ml*kg^-1*min^-1"])
_GRAMS = _with(_units("g", ["grams"]), {"mg": _scale(0.001), "kg": _scale(1000), "oz": _scale(28.349523125)})
_MILLIGRAMS = _with(_units("mg"), {"g": _scale(1000), "ug": _scale(0.001), "mcg": _scale(0.001)})
_VOLUME_ML = _with(
    _units("mL", ["milliliters"]),
    {
        "l": _scale(1000),
        "dl": _scale(100),
        "fl_oz_us": _scale(29.5735295625),
        "floz": _scale(29.5735295625),
        "cup_us": _scale(236.5882365),
    },
)
_TEMPERATURE = _with(
    _units("degC", ["°c", "c", "celsius"]),
    {"degf": _scale(5 / 9, -160 / 9), "°f": _scale(5 / 9, -160 / 9), "f": _scale(5 / 9, -160 / 9)},
)
_STAGE = _units("stage", ["", "code"])

METRICS: dict[str, Metric] = {
    metric.key: metric
    for metric in [
        Metric("heart_rate", "bpm", "mean", _("heart rate"), {**_RATE, **_PER_SECOND}),
        Metric("resting_heart_rate", "bpm", "mean", _("resting heart rate"), _RATE),
        Metric(
            "heart_rate_variability",
            "ms",
            "mean",
            _("heart rate variability"),
            _with(_units("ms"), {"s": _scale(1000)}),
        ),
        Metric("steps", "count", "sum", _("steps"), _COUNT),
        Metric("distance", "m", "sum", _("distance"), _LENGTH_M),
        Metric("active_energy", "kcal", "sum", _("active energy"), _ENERGY),
        Metric("basal_energy", "kcal", "sum", _("resting energy"), _ENERGY),
        Metric("exercise_time", "min", "sum", _("exercise time"), _MINUTES),
        Metric("weight", "kg", "last", _("weight"), _MASS_KG),
        Metric("body_fat", "%", "last", _("body fat"), _PERCENT),
        Metric("bmi", "kg/m2", "last", _("body mass index"), _BMI),
        Metric("height", "cm", "last", _("height"), _HEIGHT_CM),
        Metric("blood_pressure_systolic", "mmHg", "mean", _("systolic blood pressure"), _PRESSURE),
        Metric("blood_pressure_diastolic", "mmHg", "mean", _("diastolic blood pressure"), _PRESSURE),
        Metric("blood_glucose", "mmol/L", "mean", _("blood glucose"), _GLUCOSE),
        Metric("oxygen_saturation", "%", "mean", _("oxygen saturation"), _PERCENT),
        Metric("respiratory_rate", "breaths/min", "mean", _("respiratory rate"), _BREATHS),
        Metric("vo2max", "mL/kg/min", "last", _("cardio fitness (VO2 max)"), _VO2),
        Metric("sleep", "stage", "sum", _("sleep"), _STAGE, frozenset(SLEEP_STAGES.values())),
        Metric("dietary_energy", "kcal", "sum", _("energy eaten"), _ENERGY),
        Metric("protein", "g", "sum", _("protein"), _GRAMS),
        Metric("carbohydrates", "g", "sum", _("carbohydrates"), _GRAMS),
        Metric("fat", "g", "sum", _("fat"), _GRAMS),
        Metric("sugar", "g", "sum", _("sugar"), _GRAMS),
        Metric("fiber", "g", "sum", _("fibre"), _GRAMS),
        Metric("sodium", "mg", "sum", _("sodium"), _MILLIGRAMS),
        Metric("water", "mL", "sum", _("water"), _VOLUME_ML),
        Metric("mindful_minutes", "min", "sum", _("mindful minutes"), _MINUTES),
        Metric("body_temperature", "degC", "mean", _("body temperature"), _TEMPERATURE),
    ]
}


def metric_get(key: str) -> Metric:
    """The registered metric for a key, or UnknownMetric."""
    try:
        return METRICS[key]
    except KeyError:
        raise UnknownMetric(f"Metric {key!r} is not registered.") from None


def sleep_stage_code(name: str) -> int:
    """The stage code of an Apple or Health Auto Export stage name ("HKCategoryValueSleepAnalysisAsleepCore")."""
    text = re.sub(r"[\s_]", "", str(name)).lower().removeprefix("hkcategoryvaluesleepanalysis")
    text = {"inbed": "in_bed", "asleepunspecified": "asleep", "unspecified": "asleep"}.get(text, text)
    if text != "asleep":
        text = text.removeprefix("asleep")
    try:
        return SLEEP_STAGES[text]
    except KeyError:
        raise TimeSeriesError("Unknown sleep stage name.") from None


# -- samples ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    """One reading or interval, converted to the metric's canonical unit when created."""

    metric: str
    start: datetime.datetime
    end: datetime.datetime
    value: float
    unit: str
    source: str = ""

    def __post_init__(self):
        metric = METRICS.get(self.metric) or metric_get(self.metric)
        # An instant often shares one object for start and end: check it once (this runs per sample).
        if (
            self.start.tzinfo is None
            or self.start.utcoffset() is None
            or (self.end is not self.start and (self.end.tzinfo is None or self.end.utcoffset() is None))
        ):
            raise TimeSeriesError("A sample needs aware start and end datetimes.")
        convert = metric.converter(self.unit)
        value = float(self.value)
        self.value = convert(value) if convert is not None else value
        self.unit = metric.unit


@dataclass
class MergeResult:
    """What a merge did: new samples, samples already stored (or repeated), samples refused."""

    added: int = 0
    already_present: int = 0
    rejected: int = 0
    # With `replace=True`: stored samples whose value changed (a growing daily total, an edited meal).
    replaced: int = 0
    days_created: int = 0
    days_updated: int = 0

    @property
    def days_written(self) -> int:
        return self.days_created + self.days_updated

    def __add__(self, other: MergeResult) -> MergeResult:
        return MergeResult(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(MergeResult)))


# A sample inside a day: (start offset s, duration s, value, source).
Row = tuple[int, int, float, str]
# The order of rows in a payload and for summaries: (start, duration, source, value).
_ROW_ORDER = operator.itemgetter(0, 1, 3, 2)


@dataclass(slots=True)
class SampleBatch:
    """Samples already converted to their metric's unit, as the store's rows by (metric, UTC day number).

    What `samples_merge` builds from `Sample` objects, built ahead by a parser that reads millions of
    samples (a row is one tuple where a sample is an object and two datetimes). `sample_batch_merge`
    writes one; `read` counts the samples it stands for, `rejected` those refused while building it.
    """

    groups: dict[tuple[str, int], list[Row]] = field(default_factory=dict)
    read: int = 0
    rejected: int = 0
    # What the rows' source names already start with (`with_source_prefix`, or the parser that built them).
    source_prefix: str = ""

    def add(self, metric: str, start: float, end: float, value: float, source: str) -> None:
        """Add a sample of a registered metric, value converted, start and end in epoch seconds."""
        self.read += 1
        # NaN fails every comparison; no registered metric has negative values.
        if not (0 <= value < math.inf) or end < start:
            self.rejected += 1
            return
        valid = METRICS[metric].valid_values
        if valid is not None and value not in valid:
            self.rejected += 1
            return
        # The store keeps whole seconds: a fraction is floored, at the start and at the end.
        first = math.floor(start)
        day, offset = divmod(first, SECONDS_PER_DAY)
        rows = self.groups.get((metric, day))
        if rows is None:
            rows = self.groups[metric, day] = []
        rows.append((offset, math.floor(end) - first, value, source))

    def samples(self) -> Iterator[Sample]:
        """The batch as `Sample` objects in UTC, day by day (for readers that want objects, not for speed)."""
        for (metric, day), rows in self.groups.items():
            yield from _rows_to_samples(METRICS[metric], _day_date(day), rows)

    def with_source_prefix(self, prefix: str) -> SampleBatch:
        """The batch with every source name prefixed (a provider's slug), or itself if they already are."""
        if not prefix or self.source_prefix == prefix:
            return self
        names: dict[str, str] = {}
        groups = {}
        for key, rows in self.groups.items():
            for source in {row[3] for row in rows}.difference(names):
                names[source] = f"{prefix}{source}"
            groups[key] = [(offset, duration, value, names[source]) for offset, duration, value, source in rows]
        return SampleBatch(groups, self.read, self.rejected, f"{prefix}{self.source_prefix}")


def _day_number(day: datetime.date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


def _day_date(number: int) -> datetime.date:
    return datetime.date.fromordinal(number + _EPOCH_ORDINAL)


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, tzinfo=_UTC)


# -- payload ---------------------------------------------------------------------------------------


def _encode_rows(metric: str, rows: list[Row]) -> str:
    rows = sorted(rows, key=_ROW_ORDER)
    sources = sorted({row[3] for row in rows})
    index = {source: position for position, source in enumerate(sources)}
    starts = [row[0] for row in rows]
    document = {
        "v": PAYLOAD_VERSION,
        "m": metric,
        "s": sources,
        "t": [b - a for a, b in zip([0, *starts], starts, strict=False)],
        "d": [row[1] for row in rows],
        "x": [row[2] for row in rows],
        "i": [index[row[3]] for row in rows],
    }
    packed = zlib.compress(json.dumps(document, separators=(",", ":")).encode("ascii"), 6)
    return base64.b64encode(packed).decode("ascii")


def _decode_document(text: str) -> dict:
    try:
        document = json.loads(zlib.decompress(base64.b64decode(text)))
    except (ValueError, zlib.error):
        raise TimeSeriesError("A day's payload cannot be decoded.") from None
    if document.get("v") != PAYLOAD_VERSION:
        raise TimeSeriesError("A day's payload has an unknown version.")
    return document


def _decode_rows(text: str, document: dict | None = None) -> list[Row]:
    document = document or _decode_document(text)
    sources = document["s"]
    return list(
        zip(
            itertools.accumulate(document["t"]),
            document["d"],
            document["x"],
            [sources[i] for i in document["i"]],
            strict=True,
        )
    )


def payload_encode(samples: Iterable[Sample]) -> str:
    """The compact payload of one metric's samples of one UTC day (pure; raises if they span days or metrics)."""
    rows: list[Row] = []
    metrics, days = set(), set()
    for sample in samples:
        start = math.floor(sample.start.timestamp())
        day, offset = divmod(start, SECONDS_PER_DAY)
        rows.append((offset, math.floor(sample.end.timestamp()) - start, sample.value, sample.source))
        metrics.add(sample.metric)
        days.add(day)
    if len(metrics) > 1 or len(days) > 1:
        raise TimeSeriesError("A payload holds one metric of one UTC day.")
    return _encode_rows(metrics.pop() if metrics else "", rows)


def payload_decode(text: str, day: datetime.date) -> list[Sample]:
    """The samples of a payload for its UTC day, in canonical units, in time order (pure)."""
    document = _decode_document(text)
    return _rows_to_samples(metric_get(document["m"]), day, _decode_rows(text, document))


def _rows_to_samples(metric: Metric, day: datetime.date, rows: list[Row]) -> list[Sample]:
    midnight = _midnight(day)
    samples = []
    for offset, duration, value, source in rows:
        start = midnight + datetime.timedelta(seconds=offset)
        samples.append(
            Sample(metric.key, start, start + datetime.timedelta(seconds=duration), value, metric.unit, source)
        )
    return samples


# -- summaries -------------------------------------------------------------------------------------


def _hourly_max_total(rows: Iterable[tuple[int, int, float, str]]) -> float:
    """Σ over hours of the largest source total in that hour; a value is spread over the hours it covers."""
    totals: dict[tuple[str, int], float] = defaultdict(float)
    for offset, duration, value, source in rows:
        hour, into = divmod(offset, 3600)
        if duration <= 0 or into + duration <= 3600:
            totals[source, hour] += value
            continue
        remaining, position = duration, offset
        while remaining > 0:
            hour, into = divmod(position, 3600)
            span = min(3600 - into, remaining)
            totals[source, hour] += value * span / duration
            remaining -= span
            position += span
    best: dict[int, float] = {}
    for (_source, hour), total in totals.items():
        if total > best.get(hour, -math.inf):
            best[hour] = total
    return math.fsum(best.values())


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    rounded = round(float(value), 4)
    return int(rounded) if rounded.is_integer() else rounded


def _stats(values: list[float]) -> dict:
    if not values:
        return {"min": None, "max": None, "mean": None}
    return {"min": _round(min(values)), "max": _round(max(values)), "mean": _round(math.fsum(values) / len(values))}


def summary_compute(metric: Metric, rows: list[Row]) -> dict:
    """The daily summary of one day's deduplicated rows (pure)."""
    rows = sorted(rows, key=_ROW_ORDER)
    if not rows:
        return {"count": 0, "min": None, "max": None, "mean": None, "sum": 0, "last": None}
    if metric.key == "sleep":
        asleep = [row for row in rows if row[2] in ASLEEP_CODES]
        minutes = [(o, d, d / 60, s) for o, d, _v, s in asleep]
        stages = {
            name: _round(_hourly_max_total((o, d, d / 60, s) for o, d, v, s in rows if v == code))
            for name, code in SLEEP_STAGES.items()
            if any(row[2] == code for row in rows)
        }
        return {
            "count": len(minutes),
            **_stats([row[2] for row in minutes]),
            "sum": _round(_hourly_max_total(minutes)),
            "last": _round(rows[-1][2]),
            "stages": stages,
        }
    values = [row[2] for row in rows]
    total = _hourly_max_total(rows) if metric.kind == "sum" else math.fsum(values)
    return {"count": len(rows), **_stats(values), "sum": _round(total), "last": _round(rows[-1][2])}


def summaries_combine(summaries: Iterable[dict]) -> dict:
    """Several days' summaries as one period's (pure): sums add up, the mean is weighted by count."""
    summaries = [summary for summary in summaries if summary]
    if not summaries:
        return {"count": 0, "min": None, "max": None, "mean": None, "sum": 0, "last": None, "days": 0}
    count = sum(summary["count"] for summary in summaries)
    with_stats = [summary for summary in summaries if summary.get("mean") is not None]
    weighted = math.fsum(summary["mean"] * summary["count"] for summary in with_stats)
    combined = {
        "count": count,
        "min": _round(min((summary["min"] for summary in with_stats), default=None)),
        "max": _round(max((summary["max"] for summary in with_stats), default=None)),
        "mean": _round(weighted / sum(summary["count"] for summary in with_stats)) if with_stats else None,
        "sum": _round(math.fsum(summary["sum"] for summary in summaries)),
        "last": summaries[-1]["last"],
        "days": len(summaries),
    }
    if any("stages" in summary for summary in summaries):
        stages: dict[str, float] = defaultdict(float)
        for summary in summaries:
            for name, minutes in summary.get("stages", {}).items():
                stages[name] += minutes
        combined["stages"] = {name: _round(minutes) for name, minutes in stages.items()}
    return combined


# -- merge -----------------------------------------------------------------------------------------


def _group_chunk(iterator: Iterator[Sample], size: int) -> SampleBatch:
    """Read up to `size` samples into a batch (its `read` is 0 once the iterator is exhausted)."""
    batch = SampleBatch()
    add = batch.add
    for sample in itertools.islice(iterator, size):
        start = sample.start.timestamp()
        end = start if sample.end is sample.start else sample.end.timestamp()
        add(sample.metric, start, end, sample.value, sample.source)
    return batch


def _merge_days(owner: User, groups: dict[tuple[str, int], list[Row]], replace: bool) -> MergeResult:
    for _attempt in range(MERGE_ATTEMPTS - 1):
        try:
            with transaction.atomic():
                return _merge_days_once(owner, groups, replace)
        except IntegrityError:
            # Another merge created one of these days after we read: read them again.
            continue
    with transaction.atomic():
        return _merge_days_once(owner, groups, replace)


def _rows_union(stored: list[Row], incoming: list[Row]) -> tuple[list[Row], int, int]:
    """Exact dedupe: (rows, added, 0)."""
    rows = set(stored)
    before = len(rows)
    rows.update(incoming)
    return list(rows), len(rows) - before, 0


def _rows_replace(stored: list[Row], incoming: list[Row]) -> tuple[list[Row], int, int]:
    """Keyed by (start, duration, source): the incoming value wins. (rows, added, replaced)."""
    rows = {(row[0], row[1], row[3]): row for row in stored}
    added = replaced = 0
    for row in incoming:
        key = (row[0], row[1], row[3])
        previous = rows.get(key)
        if previous is None:
            added += 1
        elif previous[2] != row[2]:
            replaced += 1
        else:
            continue
        rows[key] = row
    return list(rows.values()), added, replaced


def _merge_days_once(owner: User, groups: dict[tuple[str, int], list[Row]], replace: bool) -> MergeResult:
    from django.db.models import Q

    from .models import SampleDay

    days_by_metric: dict[str, list[datetime.date]] = defaultdict(list)
    for metric, day in groups:
        days_by_metric[metric].append(_day_date(day))
    query = Q()
    for metric, days in days_by_metric.items():
        query |= Q(metric=metric, day__in=days)
    # Rows are locked in one order by every merge, so two merges wait rather than deadlock.
    # (SQLite ignores FOR UPDATE: its IMMEDIATE transactions already serialise writers.)
    # Only the payload is read (and decrypted): summary and count are computed again when a day changes.
    stored_days = SampleDay.objects.filter(query, owner=owner).only("id", "metric", "day", "payload")
    existing = {
        (row.metric, _day_number(row.day)): row for row in stored_days.order_by("metric", "day").select_for_update()
    }
    now = timezone.now()
    counts = MergeResult()
    created, updated = [], []
    for key in sorted(groups):
        incoming = groups[key]
        metric = METRICS[key[0]]
        row = existing.get(key)
        stored = _decode_rows(row.payload) if row is not None else []
        # A categorical value (a sleep stage) is part of what the sample is: never replaced.
        merge = _rows_replace if replace and metric.valid_values is None else _rows_union
        rows, added, replaced = merge(stored, incoming)
        counts.added += added
        counts.replaced += replaced
        counts.already_present += len(incoming) - added - replaced
        if not (added or replaced):
            continue
        if row is None:
            row = SampleDay(owner=owner, metric=metric.key, day=_day_date(key[1]))
            created.append(row)
        else:
            row.updated_at = now
            updated.append(row)
        # Sorted once here: the payload and the summary sort again, which costs little on sorted rows.
        rows.sort(key=_ROW_ORDER)
        row.payload = _encode_rows(metric.key, rows)
        row.summary = summary_compute(metric, rows)
        row.sample_count = len(rows)
    if created:
        SampleDay.objects.bulk_create(created, batch_size=DAY_BATCH)
    if updated:
        SampleDay.objects.bulk_update(updated, ["payload", "summary", "sample_count", "updated_at"], batch_size=50)
    counts.days_created, counts.days_updated = len(created), len(updated)
    return counts


def day_total_span(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """Where a whole-day total (a day's steps from a wearable or a food diary) is kept: its calendar date.

    The store files samples under the UTC day of their start; a total for 20 October in Paris starts at
    22:00 UTC on the 19th and would be shown on the wrong day. Whole-day totals are therefore stored as
    the UTC day of their calendar date, whatever the patient's time zone.
    """
    start = datetime.datetime.combine(day, datetime.time(), _UTC)
    return start, start + datetime.timedelta(days=1)


def samples_merge(
    *, owner: User, samples: Iterable[Sample], replace: bool = False, chunk_size: int = CHUNK_SAMPLES
) -> MergeResult:
    """Merge the owner's samples into their days (streams any iterable; re-running with the same input adds nothing).

    By default a sample is new unless exactly the same one is stored. With `replace`, a stored sample with
    the same start, duration and source takes the incoming value: for sources that report a value that
    changes after the fact (a day's steps so far, an edited meal) and must not count twice.
    """
    result = MergeResult()
    iterator = iter(samples)
    while True:
        batch = _group_chunk(iterator, chunk_size)
        if not batch.read:
            return result
        result += sample_batch_merge(owner=owner, batch=batch, replace=replace)
        # Let this chunk go before the next one is read: memory holds one chunk at a time.
        del batch


def sample_batch_merge(*, owner: User, batch: SampleBatch, replace: bool = False) -> MergeResult:
    """Merge a batch of the owner's samples into their days, as `samples_merge` does (idempotent likewise)."""
    result = MergeResult(rejected=batch.rejected)
    groups = batch.groups
    keys = sorted(groups)
    for start in range(0, len(keys), DAY_BATCH):
        result += _merge_days(owner, {key: groups[key] for key in keys[start : start + DAY_BATCH]}, replace)
    return result


# -- reads -----------------------------------------------------------------------------------------


def daily_summaries(
    *, owner: User, metric: str, start: datetime.date, end: datetime.date
) -> list[tuple[datetime.date, dict]]:
    """The owner's daily summaries of one metric from start to end inclusive (one query; payloads untouched)."""
    from .models import SampleDay

    metric_get(metric)
    rows = (
        SampleDay.objects.filter(owner=owner, metric=metric, day__gte=start, day__lte=end)
        .order_by("day")
        .values_list("day", "summary")
    )
    return list(rows)


def day_samples(*, owner: User, metric: str, day: datetime.date) -> list[Sample]:
    """The owner's samples of one metric on one UTC day, in time order (one query; [] if none)."""
    from .models import SampleDay

    definition = metric_get(metric)
    payload = SampleDay.objects.filter(owner=owner, metric=metric, day=day).values_list("payload", flat=True).first()
    if payload is None:
        return []
    return _rows_to_samples(definition, day, _decode_rows(payload))


def samples_between(*, owner: User, metric: str, start: datetime.date, end: datetime.date) -> list[Sample]:
    """The owner's samples of one metric on the UTC days start to end inclusive, in time order (one query)."""
    from .models import SampleDay

    definition = metric_get(metric)
    rows = (
        SampleDay.objects.filter(owner=owner, metric=metric, day__gte=start, day__lte=end)
        .order_by("day")
        .values_list("day", "payload")
    )
    return [sample for day, payload in rows for sample in _rows_to_samples(definition, day, _decode_rows(payload))]


def samples_by_day(*, owner: User) -> Iterator[tuple[str, datetime.date, list[Sample]]]:
    """Every sample of the owner as (metric, day, samples), metric by metric and day by day (the export).

    Streams: a few days' payloads are held at a time, whatever the number of samples.
    """
    from .models import SampleDay

    rows = SampleDay.objects.filter(owner=owner).order_by("metric", "day").values_list("metric", "day", "payload")
    for metric, day, payload in rows.iterator(chunk_size=20):
        yield metric, day, _rows_to_samples(metric_get(metric), day, _decode_rows(payload))


def metrics_for_user(*, owner: User) -> list[str]:
    """The metrics the owner has samples of, sorted (one query)."""
    from .models import SampleDay

    return list(SampleDay.objects.filter(owner=owner).order_by("metric").values_list("metric", flat=True).distinct())


def _period_start(day: datetime.date, bucket: str) -> datetime.date:
    if bucket == "week":
        return day - datetime.timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def summaries_rollup(days: list[tuple[datetime.date, dict]], bucket: str) -> list[tuple[datetime.date, dict]]:
    """Daily summaries merged per day, ISO week (from Monday) or month (pure; no empty periods)."""
    if bucket not in ("day", "week", "month"):
        raise ValueError("bucket is day, week or month.")
    if bucket == "day":
        return days
    return [
        (period, summaries_combine(summary for _day, summary in group))
        for period, group in itertools.groupby(days, key=lambda item: _period_start(item[0], bucket))
    ]


def series_rollup(
    *, owner: User, metric: str, start: datetime.date, end: datetime.date, bucket: str = "day"
) -> list[tuple[datetime.date, dict]]:
    """The owner's summaries per day, ISO week (from Monday) or month, start to end (one query; no empty periods)."""
    if bucket not in ("day", "week", "month"):
        raise ValueError("bucket is day, week or month.")
    return summaries_rollup(daily_summaries(owner=owner, metric=metric, start=start, end=end), bucket)


def samples_delete_source(*, owner: User, source_prefix: str) -> int:
    """Remove the owner's samples whose source starts with the prefix (a disconnected provider's); idempotent."""
    from .models import SampleDay

    removed = 0
    days = SampleDay.objects.filter(owner=owner).order_by("metric", "day").values_list("pk", flat=True)
    for start in range(0, len(days := list(days)), DAY_BATCH):
        with transaction.atomic():
            changed, emptied = [], []
            batch = SampleDay.objects.filter(pk__in=days[start : start + DAY_BATCH]).select_for_update()
            for row in batch:
                rows = _decode_rows(row.payload)
                kept = [item for item in rows if not item[3].startswith(source_prefix)]
                if len(kept) == len(rows):
                    continue
                removed += len(rows) - len(kept)
                if not kept:
                    emptied.append(row.pk)
                    continue
                metric = METRICS[row.metric]
                row.payload = _encode_rows(metric.key, kept)
                row.summary = summary_compute(metric, kept)
                row.sample_count = len(kept)
                changed.append(row)
            SampleDay.objects.filter(pk__in=emptied).delete()
            if changed:
                SampleDay.objects.bulk_update(changed, ["payload", "summary", "sample_count"], batch_size=50)
    return removed
