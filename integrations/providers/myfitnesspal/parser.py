"""MyFitnessPal CSV exports to samples and workouts (pure: no database).

MyFitnessPal Premium exports three CSV files, recognised here by their header row, never by
their name or column order: nutrition (one row per date and meal, holding the meal's totals),
exercise (one row per exercise entry) and measurement (weight and other measurements by date).

Times. MyFitnessPal gives a diary date, with no time and no time zone. Each date becomes the same
UTC day, so the store's day (the UTC day of a sample's start) is the diary day:
- a meal is an instant at a fixed clock time of that day (`MEAL_TIMES`; any other meal name gets
  a stable minute from 20:00 to 23:59 derived from its name), so the meals of a day stay distinct
  samples and importing the same file again adds nothing;
- weights, body fat and workouts are at 12:00 UTC, a time on the same calendar date in nearly
  every time zone;
- steps are the day's total: an interval over the whole UTC day.

Values. An empty cell is an absent value; "1,234" reads as 1234. A row with an unreadable date or
number, or a negative one, is rejected whole and counted by reason in `ParseStats`, never fatal.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from records.timeseries import METRICS, TimeSeriesError, day_total_span, metric_get

from ..items import ParseError, Sample, WorkoutItem

SOURCE = "MyFitnessPal"
NUTRITION, EXERCISE, MEASUREMENT = "nutrition", "exercise", "measurement"
# Ten years of six meals a day is about 22,000 rows: far more than this is not a diary export.
MAX_ROWS = 500_000
# The longest real line is a nutrition row with a long note; a longer one is not an export, and
# reading it whole would hold it all in memory.
MAX_LINE_CHARS = 64 * 1024
PROGRESS_EVERY = 1_000

MEAL_TIMES = {
    "breakfast": datetime.time(8),
    "lunch": datetime.time(12),
    "snack": datetime.time(16),
    "snacks": datetime.time(16),
    "dinner": datetime.time(19),
}
_OTHER_MEALS_FROM_MINUTE = 20 * 60
_OTHER_MEALS_MINUTES = 4 * 60
_NOON = datetime.time(12)

# Header name -> (metric, unit when the header names none). Used only when the metric is registered.
# Vitamin A, vitamin C, calcium and iron are left out: MyFitnessPal gives them as % of a daily value.
NUTRIENT_COLUMNS = {
    "calories": ("dietary_energy", "kcal"),
    "fat": ("fat", "g"),
    "total fat": ("fat", "g"),
    "saturated fat": ("saturated_fat", "g"),
    "polyunsaturated fat": ("polyunsaturated_fat", "g"),
    "monounsaturated fat": ("monounsaturated_fat", "g"),
    "trans fat": ("trans_fat", "g"),
    "cholesterol": ("cholesterol", "mg"),
    "sodium": ("sodium", "mg"),
    "potassium": ("potassium", "mg"),
    "carbohydrates": ("carbohydrates", "g"),
    "carbs": ("carbohydrates", "g"),
    "fiber": ("fiber", "g"),
    "fibre": ("fiber", "g"),
    "sugar": ("sugar", "g"),
    "sugars": ("sugar", "g"),
    "protein": ("protein", "g"),
}
_EXERCISE_NAMES = ("exercise", "exercise name")
_WEIGHT_NAMES = ("weight", "pounds", "lbs", "kilograms", "kg")
_BODY_FAT_NAMES = ("body fat %", "body fat", "body fat percentage")
# Words a header uses for a weight unit -> the unit the weight metric accepts.
_MASS_UNITS = {
    "lb": "lb",
    "lbs": "lb",
    "pounds": "lb",
    "kg": "kg",
    "kgs": "kg",
    "kilograms": "kg",
    "st": "st",
    "stone": "st",
}
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T][\d:.]*)?")
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_FORMULA_START = re.compile(r"^[\s=+\-@]+")

NOT_AN_EXPORT = gettext_lazy(
    "This file is not a MyFitnessPal export: its first row does not have the columns of a nutrition, "
    "exercise or measurement export."
)


@dataclass
class ParseStats:
    """What a parse read: data rows, items yielded, rows rejected or skipped by reason (never values)."""

    kind: str = ""
    filename: str = ""
    read: int = 0
    samples: int = 0
    workouts: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        """Rows refused for an unreadable or impossible value."""
        return sum(self.rejected.values())


class _Rejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _column_name(cell: str) -> tuple[str, str]:
    """(name, unit) of a header cell: "Fat (g)" -> ("fat", "g"); "Body Fat %" -> ("body fat %", "")."""
    text = " ".join(cell.replace("\ufeff", "").lower().split())
    match = re.fullmatch(r"(.+?)\s*\(([^()]*)\)", text)
    return (match[1], match[2].strip()) if match else (text, "")


def _names(header: Sequence[str]) -> list[str]:
    return [_column_name(cell)[0] for cell in header]


def detect_kind(header_row: Sequence[str]) -> str:
    """Which MyFitnessPal export a header row starts: "nutrition", "exercise" or "measurement" (else ParseError)."""
    names = set(_names(header_row))
    if "date" in names:
        if names.intersection(_EXERCISE_NAMES):
            return EXERCISE
        nutrients = names.intersection(NUTRIENT_COLUMNS)
        if nutrients and ("meal" in names or len(nutrients) >= 2):
            return NUTRITION
        if names.intersection(_WEIGHT_NAMES + _BODY_FAT_NAMES):
            return MEASUREMENT
    raise ParseError(NOT_AN_EXPORT)


def iter_samples(
    stream: IO[bytes],
    *,
    filename: str = "",
    stats: ParseStats | None = None,
    weight_unit: str | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> Iterator[Sample | WorkoutItem]:
    """The samples and workouts of one MyFitnessPal CSV export, streamed (re-reading it yields the same items).

    `stats` is filled in as the items are read. `weight_unit` ("kg" or "lb") answers a measurement
    file whose Weight column names no unit. `progress(rows_read, bytes_read, total_bytes)` is
    called every PROGRESS_EVERY rows.
    """
    if weight_unit is not None and _MASS_UNITS.get(weight_unit.lower()) not in ("kg", "lb"):
        raise ValueError("weight_unit is 'kg' or 'lb'.")
    stats = stats if stats is not None else ParseStats()
    stats.filename = filename
    if _is_zip(stream):
        # MyFitnessPal sends its export as a zip of CSV files: the patient may upload the zip itself.
        raise ParseError(_("This file is a zip archive: open it and upload the CSV files inside, one at a time."))
    total = _size(stream)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(_lines(text))
        header = next(reader, None)
        if header is None:
            raise ParseError(_("This file is empty."))
        stats.kind = detect_kind(header)
        report = (lambda: progress(stats.read, _position(stream), total)) if progress else None
        rows = _data_rows(reader, stats, report)
        if stats.kind == NUTRITION:
            items = _nutrition(header, rows, stats)
        elif stats.kind == EXERCISE:
            items = _exercise(header, rows, stats)
        else:
            items = _measurement(header, rows, stats, weight_unit)
        for item in items:
            if isinstance(item, Sample):
                stats.samples += 1
            else:
                stats.workouts += 1
            yield item
    except csv.Error:
        # Includes a field over csv.field_size_limit(): that limit is process-wide, so it is left
        # at its default rather than lowered here.
        raise ParseError(_("This file is not a readable CSV file.")) from None
    except UnicodeDecodeError:
        raise ParseError(_("This file is not UTF-8 text: export it again from MyFitnessPal.")) from None
    finally:
        # The caller owns the binary stream: the wrapper must not close it when collected.
        text.detach()


def _is_zip(stream: IO[bytes]) -> bool:
    try:
        start = stream.tell()
        magic = stream.read(4)
        stream.seek(start)
    except (AttributeError, OSError, ValueError):
        return False
    return magic == b"PK\x03\x04"


def _lines(text: io.TextIOWrapper) -> Iterator[str]:
    while line := text.readline(MAX_LINE_CHARS + 1):
        if len(line) > MAX_LINE_CHARS:
            raise ParseError(_("This file has a line far longer than any in a MyFitnessPal export."))
        yield line


def _data_rows(
    reader: Iterable[list[str]], stats: ParseStats, report: Callable[[], None] | None
) -> Iterator[list[str]]:
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        stats.read += 1
        if stats.read > MAX_ROWS:
            raise ParseError(_("This file has more rows than a MyFitnessPal export can have."))
        if report is not None and stats.read % PROGRESS_EVERY == 0:
            report()
        yield row


def _size(stream: IO[bytes]) -> int:
    try:
        position = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(position)
    except (AttributeError, OSError, ValueError):
        return 0
    return end


def _position(stream: IO[bytes]) -> int:
    try:
        return stream.tell()
    except (AttributeError, OSError, ValueError):
        return 0


# -- cells -----------------------------------------------------------------------------------------


def _index(header: Sequence[str], *names: str) -> int | None:
    found = _names(header)
    return next((position for position, name in enumerate(found) if name in names), None)


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def _date(text: str) -> datetime.date:
    match = _DATE.fullmatch(text)
    if not match:
        raise _Rejected("date")
    try:
        return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise _Rejected("date") from None


def _amount(text: str) -> float | None:
    """A non-negative number, None for an empty cell; _Rejected otherwise."""
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise _Rejected("number")
    value = float(text.replace(",", ""))
    if value < 0:
        raise _Rejected("negative")
    return value


def _at(day: datetime.date, time: datetime.time) -> datetime.datetime:
    return datetime.datetime.combine(day, time, tzinfo=datetime.UTC)


def _meal_start(day: datetime.date, meal: str) -> datetime.datetime:
    name = " ".join(meal.split()).lower()
    time = MEAL_TIMES.get(name)
    if time is None:
        minute = _OTHER_MEALS_FROM_MINUTE + zlib.crc32(name.encode()) % _OTHER_MEALS_MINUTES
        time = datetime.time(*divmod(minute, 60))
    return _at(day, time)


def _unit_checked(metric: str, unit: str, label: str) -> str:
    try:
        metric_get(metric).converter(unit)
    except TimeSeriesError:
        raise ParseError(
            _("The %(column)s column of this file has a unit we cannot read.") % {"column": label}
        ) from None
    return unit


# -- the three exports -----------------------------------------------------------------------------


def _nutrition(header: Sequence[str], rows: Iterable[list[str]], stats: ParseStats) -> Iterator[Sample]:
    date_at, meal_at = _index(header, "date"), _index(header, "meal")
    columns: list[tuple[int, str, str]] = []
    for index, cell in enumerate(header):
        name, unit = _column_name(cell)
        metric, default_unit = NUTRIENT_COLUMNS.get(name, ("", ""))
        if metric in METRICS:
            columns.append((index, metric, _unit_checked(metric, unit or default_unit, name)))
        elif name not in ("date", "meal", ""):
            stats.ignored_columns.append(name[:100])
    for row in rows:
        try:
            day = _date(_cell(row, date_at))
            values = [(metric, unit, _amount(_cell(row, index))) for index, metric, unit in columns]
        except _Rejected as rejected:
            stats.rejected[rejected.reason] += 1
            continue
        start = _meal_start(day, _cell(row, meal_at))
        for metric, unit, value in values:
            if value is not None:
                yield Sample(metric, start, start, value, unit, SOURCE)


def _activity(name: str) -> str:
    # Leading formula characters go, so that the name never runs as a formula in a spreadsheet.
    return _FORMULA_START.sub("", " ".join(name.split())).lower()[:100]


def _load_column(header: Sequence[str]) -> tuple[int | None, str]:
    for index, cell in enumerate(header):
        name, _unit = _column_name(cell)
        if name in ("kilograms", "pounds"):
            return index, _MASS_UNITS[name]
    return None, ""


def _exercise(header: Sequence[str], rows: Iterable[list[str]], stats: ParseStats) -> Iterator[Sample | WorkoutItem]:
    date_at, name_at = _index(header, "date"), _index(header, *_EXERCISE_NAMES)
    calories_at = _index(header, "exercise calories", "exercise calories burned", "calories", "calories burned")
    minutes_at = _index(header, "exercise minutes", "minutes")
    sets_at, reps_at, steps_at = _index(header, "sets"), _index(header, "reps per set", "reps"), _index(header, "steps")
    load_at, load_unit = _load_column(header)
    to_kg = (metric_get("weight").converter(load_unit) if load_at is not None else None) or float
    seen: Counter[tuple[datetime.date, str]] = Counter()
    for row in rows:
        name = _cell(row, name_at)
        # Tracker adjustments (steps synced from a phone or watch) are exercise rows in the export,
        # not workouts: only their steps are kept, and their calories may be negative.
        adjustment = "calorie adjustment" in name.lower()
        calories = minutes = sets = reps = load = None
        try:
            day = _date(_cell(row, date_at))
            steps = _amount(_cell(row, steps_at))
            if not adjustment:
                calories, minutes = _amount(_cell(row, calories_at)), _amount(_cell(row, minutes_at))
                sets, reps, load = (_amount(_cell(row, at)) for at in (sets_at, reps_at, load_at))
        except _Rejected as rejected:
            stats.rejected[rejected.reason] += 1
            continue
        if steps:
            yield Sample("steps", *day_total_span(day), steps, "count", SOURCE)
        activity = "" if adjustment else _activity(name)
        if not activity:
            if not steps:
                stats.skipped["calorie adjustment" if adjustment else "no exercise"] += 1
            continue
        seen[day, activity] += 1
        start = _at(day, _NOON)
        duration = round(minutes * 60) if minutes else None
        statistics = {}
        if sets:
            statistics["sets"] = int(sets)
        if reps:
            statistics["reps_per_set"] = int(reps)
        if load:
            statistics["weight_kg"] = to_kg(load)
        yield WorkoutItem(
            activity=activity,
            start=start,
            end=start + datetime.timedelta(seconds=duration or 0),
            source=SOURCE,
            duration_s=duration,
            energy_kcal=calories or None,
            statistics=statistics,
            # The n-th entry of this exercise on this day: stable when other entries are added.
            source_id=f"{day.isoformat()}:{activity}:{seen[day, activity]}",
        )


def _measurement(
    header: Sequence[str], rows: Iterable[list[str]], stats: ParseStats, weight_unit: str | None
) -> Iterator[Sample]:
    date_at = _index(header, "date")
    weight_at = body_fat_at = None
    unit = ""
    for index, cell in enumerate(header):
        name, header_unit = _column_name(cell)
        if name in _WEIGHT_NAMES and weight_at is None:
            # The header's own unit wins over the one the patient chose.
            unit = _MASS_UNITS.get(header_unit or name, header_unit) if name == "weight" else _MASS_UNITS[name]
            if not unit and weight_unit:
                unit = _MASS_UNITS[weight_unit.lower()]
            if not unit:
                raise ParseError(
                    _(
                        "This MyFitnessPal measurement file does not say whether weights are in kilograms or "
                        "pounds: choose the unit and import it again."
                    )
                )
            weight_at = index
            _unit_checked("weight", unit, "weight")
        elif name in _BODY_FAT_NAMES and body_fat_at is None:
            body_fat_at = index
        elif name not in ("date", ""):
            stats.ignored_columns.append(name[:100])
    for row in rows:
        try:
            day = _date(_cell(row, date_at))
            weight, body_fat = _amount(_cell(row, weight_at)), _amount(_cell(row, body_fat_at))
        except _Rejected as rejected:
            stats.rejected[rejected.reason] += 1
            continue
        start = _at(day, _NOON)
        # A 0 is a measurement not taken: no weight or body fat is 0.
        if weight:
            yield Sample("weight", start, start, weight, unit, SOURCE)
        if body_fat:
            yield Sample("body_fat", start, start, body_fat, "%", SOURCE)
