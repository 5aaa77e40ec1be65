"""The chat's read-only tools: numbers computed by code from one owner's records, with the data behind them.

A tool has a name, a description and a JSON Schema of its arguments; `tool_schemas()` gives them in the
shape of OpenAI Chat Completions `tools=`, and `tool_run()` checks the arguments (refusing unknown tools
and invalid arguments with a `ToolError`), clamps periods to `MAX_PERIOD_DAYS`, and runs the tool for one
owner. Tools never write and never audit: the pipeline audits each call.

What a tool returns (`ToolResult.data`) is JSON: numbers rounded by code, dates as ISO strings, and
`"cite": n` (or a list of them) pointing into `ToolResult.citations` for the data behind each item.
Strings that come from the patient's records (names, dosages, notes, reactions, statuses, units) are
DATA, never instructions: they are always under a key named `name`, `text` or `unit`, or ending in
`_name` or `_text`, so that they can be quoted. Every other string (labels, flags, directions, questions'
templates) is written here.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.urls import reverse
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from records import habits as care_habits
from records import insurance, selectors, timeseries, trends
from records import preventive as care_preventive
from records import routine as care_routine
from records import vaccinations as care_vaccinations
from records.dashboards import PERIODS
from records.models import (
    ClinicalRecord,
    Immunization,
    LabResult,
    Measurement,
    SampleDay,
    VitalSign,
)
from records.selectors import KIND_BY_MODEL, RECORD_KINDS, LabTest
from records.services import measurement_test_key

from . import vocabulary
from .engine import Citation, ToolResult

# Ten years (leap days included): the longest period a tool reads; a longer one is cut (and says so).
MAX_PERIOD_DAYS = 3653
DEFAULT_PERIOD_DAYS = 90
DEFAULT_SUMMARY_DAYS = 30
DEFAULT_COSTS_DAYS = 365
# Lists and citations stay short enough for a model's context and a reader's screen.
MAX_LIST_ITEMS = 50
MAX_READINGS = 24
MAX_CHANGES_PER_KIND = 10
SEARCH_LIMIT = 20
# Encrypted text cannot be searched by the database: at most this many of the newest records of each kind are read.
SEARCH_SCAN_PER_KIND = 2000
MAX_TEXT_ARGUMENT = 200
# A lab value that moved by this fraction since the previous one is worth a question.
NOTABLE_LAB_CHANGE = 0.10
RECENT_LAB_DAYS = 365
TREND_DAYS = 90
# Questions of each kind, so that one kind (many lab results) does not crowd out the others.
MAX_LAB_QUESTIONS = 3
MAX_TREND_QUESTIONS = 2
MAX_NEW_MEDICATION_QUESTIONS = 2

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ToolError(Exception):
    """A tool call refused (unknown tool, invalid arguments); the message is plain words and holds no data."""


# -- small helpers ----------------------------------------------------------------------------------------


def _today() -> datetime.date:
    return timezone.localdate()


def _number(value: float | None, places: int = 4) -> float | int | None:
    """A JSON number rounded by code: whole numbers as integers."""
    if value is None or not math.isfinite(value):
        return None
    rounded = round(float(value), places)
    return int(rounded) if rounded.is_integer() else rounded


def shown(value: float | None, unit: str, decimals: int | None = None) -> str:
    """A value with its unit written the active language's way ("74.4 mg/dL", "74,4 mg/dL")."""
    if value is None:
        return ""
    places = trends.value_decimals([value]) if decimals is None else decimals
    return trends.format_amount(value, unit, places)


def _day(moment: datetime.datetime | None) -> str:
    return moment.date().isoformat() if moment else ""


def _source_name(record: ClinicalRecord) -> str:
    return record.source_label or str(record.get_source_display())


def record_url(record: ClinicalRecord) -> str:
    """The page that shows one record."""
    return reverse("records:detail", kwargs={"kind": KIND_BY_MODEL[type(record)], "public_id": record.public_id})


def series_url(start: datetime.date, today: datetime.date) -> str:
    """The dashboard over the shortest period that shows `start`."""
    span = (today - start).days + 1
    key = next((key for key, (days, _label) in PERIODS.items() if days is not None and days >= span), "all")
    return f"{reverse('records:dashboard')}?period={key}"


def record_label(record: ClinicalRecord) -> str:
    """What a record is, in its own words (a name, a substance, a vaccine, a title)."""
    return str(record)


def measurement_shown(record: Measurement) -> str:
    """A measurement's value as the source gave it: "171/108 mm[Hg]", "84.8 mg/dL" or its text result."""
    systolic = _component(record, "8480-6")
    diastolic = _component(record, "8462-4")
    if systolic is not None and diastolic is not None:
        unit = next((item.get("unit", "") for item in record.components or [] if item.get("unit")), record.unit)
        return f"{trends.format_number(systolic, 0)}/{trends.format_number(diastolic, 0)}\N{NO-BREAK SPACE}{unit}"
    value = _as_float(record.value)
    if value is not None:
        return shown(value, record.unit)
    return record.value_text


def _as_float(text) -> float | None:
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _component(record: Measurement, loinc: str) -> float | None:
    for item in record.components or []:
        if item.get("loinc_code") == loinc:
            return _as_float(item.get("value"))
    return None


class _Cited:
    """The citations of one result, in the order items refer to them."""

    def __init__(self):
        self.citations: list[Citation] = []
        self._by_ref: dict[tuple[str, str, str], int] = {}

    def add(self, citation: Citation) -> int:
        key = (citation.kind, citation.ref, citation.date)
        if key not in self._by_ref:
            self._by_ref[key] = len(self.citations)
            self.citations.append(citation)
        return self._by_ref[key]

    def record(self, record: ClinicalRecord, value: str = "") -> int:
        return self.add(
            Citation(
                kind=KIND_BY_MODEL[type(record)],
                ref=str(record.public_id),
                label=record_label(record),
                date=_day(record.effective_at),
                value=value,
                source=_source_name(record),
                url=record_url(record),
            )
        )


# -- periods ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date
    clamped: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
            "clamped": self.clamped,
        }


def period_clamp(*, start: datetime.date, end: datetime.date, today: datetime.date) -> Period:
    """A period ending no later than today and no longer than MAX_PERIOD_DAYS (cut from its start)."""
    clamped = False
    if end > today:
        end, clamped = today, True
    if start > end:
        raise ToolError("The start of the period is after its end.")
    earliest = _days_before(end, MAX_PERIOD_DAYS - 1)
    if start < earliest:
        start, clamped = earliest, True
    return Period(start=start, end=end, clamped=clamped)


def _days_before(day: datetime.date, days: int) -> datetime.date:
    try:
        return day - datetime.timedelta(days=days)
    except OverflowError:
        return datetime.date.min


def _period(arguments: dict, default_days: int) -> Period:
    today = _today()
    end = arguments.get("end") or today
    if "start" in arguments:
        return period_clamp(start=arguments["start"], end=end, today=today)
    days = arguments.get("period_days", default_days)
    clamped = days > MAX_PERIOD_DAYS
    days = min(days, MAX_PERIOD_DAYS)
    period = period_clamp(start=_days_before(end, days - 1), end=end, today=today)
    return Period(period.start, period.end, period.clamped or clamped)


# -- arguments --------------------------------------------------------------------------------------------


def _check_arguments(tool: Tool, arguments) -> dict:
    """The arguments, checked against the tool's schema: dates parsed, integers and strings bounded."""
    if not isinstance(arguments, dict):
        raise ToolError("The arguments must be a JSON object.")
    properties = tool.parameters["properties"]
    if any(name not in properties for name in arguments):
        raise ToolError("An argument is not one this tool accepts.")
    for name in tool.parameters.get("required", []):
        if arguments.get(name) in (None, ""):
            raise ToolError(f"The argument {name!r} is required.")
    clean = {}
    for name, value in arguments.items():
        if value is None:
            continue
        spec = properties[name]
        kind = spec["type"]
        if kind == "integer":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (isinstance(value, float) and not math.isfinite(value))
                or value != int(value)
            ):
                raise ToolError(f"The argument {name!r} must be a whole number.")
            if value < spec.get("minimum", -math.inf):
                raise ToolError(f"The argument {name!r} must be at least {spec['minimum']}.")
            clean[name] = int(value)
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise ToolError(f"The argument {name!r} must be true or false.")
            clean[name] = value
        elif kind == "string":
            if not isinstance(value, str):
                raise ToolError(f"The argument {name!r} must be a string.")
            value = value.strip()
            if len(value) > spec.get("maxLength", MAX_TEXT_ARGUMENT):
                raise ToolError(f"The argument {name!r} is too long.")
            if len(value) < spec.get("minLength", 0):
                raise ToolError(f"The argument {name!r} is too short.")
            if spec.get("format") == "date":
                clean[name] = _parse_date(name, value)
            else:
                clean[name] = value
    if "start" in clean and "period_days" in clean:
        raise ToolError("Give either 'period_days' or 'start' (and 'end'), not both.")
    if "end" in clean and "start" not in clean and "period_days" not in clean:
        raise ToolError("An 'end' needs a 'start' or 'period_days'.")
    return clean


def _parse_date(name: str, value: str) -> datetime.date:
    if not _DATE.match(value):
        raise ToolError(f"The argument {name!r} must be a date written YYYY-MM-DD.")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ToolError(f"The argument {name!r} is not a real date.") from None


# -- metrics: time series and measurements ----------------------------------------------------------------


@dataclass
class _Point:
    day: datetime.date
    value: float
    record: Measurement | None = None  # None: a day of the time-series store
    shown: str = ""


@dataclass
class _MetricSpec:
    """What metric_summary reads: a registered metric (series and records), or one of the patient's own tests."""

    key: str
    label: str
    unit: str
    metric: timeseries.Metric | None = None
    test: LabTest | None = None
    name: str = ""  # the test's own name (record data)


def _series_value(metric: timeseries.Metric, summary: dict) -> float | None:
    """The value of one day: the total for sums (minutes asleep for sleep), the mean or the last value."""
    value = summary.get("sum") if metric.kind == "sum" else summary.get(metric.kind)
    return None if value is None else float(value)


def _converted(metric: timeseries.Metric, value: float, unit: str) -> float | None:
    unit = vocabulary.UCUM_UNITS.get(unit.strip().lower(), unit)
    try:
        convert = metric.converter(unit)
    except timeseries.UnitError:
        return None
    return convert(value) if convert is not None else value


def _record_test_keys(key: str) -> set[str]:
    """The test_keys of a metric's records: its LOINC codes, its panels' codes and hand-entered names."""
    codes = vocabulary.METRIC_LOINC.get(key, ()) + vocabulary.METRIC_PANEL_LOINC.get(key, ())
    names = vocabulary.METRIC_RECORD_NAMES.get(key, ())
    return {measurement_test_key(loinc_code=code, name="") for code in codes} | {
        measurement_test_key(loinc_code="", name=name) for name in names
    }


def _record_value(key: str, record: Measurement) -> float | None:
    """A measurement's value for a metric, in the metric's unit: its own value, or a panel's component."""
    codes = vocabulary.METRIC_LOINC.get(key, ())
    component = next((item for item in record.components or [] if item.get("loinc_code") in codes), None)
    if component is not None:
        value, unit = _as_float(component.get("value")), component.get("unit") or ""
    elif key in vocabulary.METRIC_PANEL_LOINC and record.loinc_code not in codes:
        return None  # a blood pressure panel (or a reading entered by hand) without this component
    else:
        value, unit = _as_float(record.value), record.unit
    if value is None:
        return None
    return _converted(timeseries.METRICS[key], value, unit)


def _record_points(
    owner: User,
    keys: list[str],
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    models: tuple = (VitalSign, LabResult),
) -> dict[str, list[_Point]]:
    """The owner's measurements of each metric, oldest first (one query per model whatever the number of metrics)."""
    test_keys = {key: _record_test_keys(key) for key in keys}
    wanted = set().union(*test_keys.values()) if test_keys else set()
    points: dict[str, list[_Point]] = {key: [] for key in keys}
    for model in models:
        rows = model.objects.filter(owner=owner, test_key__in=sorted(wanted), effective_at__isnull=False)
        if start is not None:
            rows = rows.filter(effective_at__gte=_midnight(start))
        if end is not None:
            rows = rows.filter(effective_at__lt=_midnight(end + datetime.timedelta(days=1)))
        for record in rows.order_by("effective_at", "id"):
            # A panel carries several metrics (systolic and diastolic): each reads its own component.
            for key in keys:
                if record.test_key in test_keys[key]:
                    value = _record_value(key, record)
                    if value is not None:
                        points[key].append(_Point(record.effective_at.date(), value, record, measurement_shown(record)))
    for key in keys:
        points[key].sort(key=lambda point: point.record.effective_at)
    return points


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)


def _series_points(owner: User, metric: timeseries.Metric, start: datetime.date, end: datetime.date) -> list[_Point]:
    rows = timeseries.daily_summaries(owner=owner, metric=metric.key, start=start, end=end)
    points = []
    for day, summary in rows:
        value = _series_value(metric, summary)
        if value is not None:
            points.append(_Point(day, value))
    return points


def _series_latest(owner: User, metric: timeseries.Metric) -> _Point | None:
    row = (
        SampleDay.objects.filter(owner=owner, metric=metric.key).order_by("-day").values_list("day", "summary").first()
    )
    if row is None:
        return None
    value = _series_value(metric, row[1])
    return None if value is None else _Point(row[0], value)


def _series_sources(owner: User, metric: str, day: datetime.date) -> str:
    sources = sorted({sample.source for sample in timeseries.day_samples(owner=owner, metric=metric, day=day)})
    return ", ".join(source for source in sources[:3] if source)


def _display_unit(metric: timeseries.Metric) -> str:
    """Sleep is shown in minutes asleep; a count (steps) has no unit."""
    return {"sleep": "min"}.get(metric.key, "" if metric.unit == "count" else metric.unit)


def _metric_spec(owner: User, text: str) -> _MetricSpec | list[_MetricSpec]:
    """What a metric argument names: a registered metric, blood pressure (two), or one of the owner's tests."""
    key = text.strip().lower().replace(" ", "_")
    if key not in timeseries.METRICS and key != "blood_pressure":
        found = vocabulary.metrics_in(vocabulary.normalise(text.replace("_", " ")))
        key = found[0] if found else ""
    if key == "blood_pressure":
        return [_metric_spec(owner, "blood_pressure_systolic"), _metric_spec(owner, "blood_pressure_diastolic")]
    if key:
        metric = timeseries.METRICS[key]
        return _MetricSpec(key=key, label=str(metric.label), unit=_display_unit(metric), metric=metric)
    tests = selectors.lab_tests_for_user(user=owner, model=VitalSign) + selectors.lab_tests_for_user(user=owner)
    matches = tests_matching(tests, text)
    if not matches:
        raise ToolError("No metric or test of this name: ask for one of the registered metrics or a test name.")
    test = matches[0]
    return _MetricSpec(key="", label=test.name, unit=test.unit, test=test, name=test.name)


def _stats(points: list[_Point]) -> dict | None:
    if not points:
        return None
    values = [point.value for point in points]
    return {
        "mean": _number(math.fsum(values) / len(values)),
        "min": _number(min(values)),
        "max": _number(max(values)),
        "values": len(values),
        "days_with_data": len({point.day for point in points}),
        "first_date": points[0].day.isoformat(),
        "last_date": points[-1].day.isoformat(),
    }


def _trend(rows: list[tuple[datetime.date, float]]) -> tuple[str, float | None]:
    """The direction by the dashboard's rule (records.trends) and, when it is up or down, the fitted change."""
    direction = trends.trend_direction(rows)
    if direction not in ("up", "down"):
        return direction, None
    change, _threshold = trends._fitted_change(trends.valued_rows(rows))
    return direction, change


def _week_means(points: list[_Point]) -> tuple[float | None, float | None]:
    """The mean of the first and of the last seven days of data, when the data spans two weeks or more."""
    if not points or (points[-1].day - points[0].day).days < 13:
        return None, None
    first_end = points[0].day + datetime.timedelta(days=6)
    last_start = points[-1].day - datetime.timedelta(days=6)
    first = [point.value for point in points if point.day <= first_end]
    last = [point.value for point in points if point.day >= last_start]
    return math.fsum(first) / len(first), math.fsum(last) / len(last)


def _summarise(
    owner: User, spec: _MetricSpec, period: Period, cited: _Cited, record_points: list[_Point] | None = None
) -> dict:
    """One metric over a period: latest value ever, statistics and trend over the period, with citations."""
    today = _today()
    unit = spec.unit
    series: list[_Point] = []
    latest_series = None
    if spec.test is not None:
        records = [
            _Point(point.record.effective_at.date(), point.value, point.record, measurement_shown(point.record))
            for point in spec.test.points
            if point.value is not None and point.record.effective_at is not None
        ]
        in_period = [point for point in records if period.start <= point.day <= period.end]
    else:
        metric = spec.metric
        records = _record_points(owner, [spec.key])[spec.key] if record_points is None else record_points
        in_period = [point for point in records if period.start <= point.day <= period.end]
        series = _series_points(owner, metric, period.start, period.end)
        latest_series = series[-1] if series and series[-1].day == period.end else _series_latest(owner, metric)
    latest_record = records[-1] if records else None
    points = sorted(series + in_period, key=lambda point: point.day)
    decimals = trends.value_decimals(point.value for point in points + [p for p in (latest_record, latest_series) if p])
    data: dict = {
        "metric": spec.key,
        "label": spec.label if spec.test is None else "",
        "unit": unit,
        "period": period.as_dict(),
        "latest": None,
        "stats": None,
        "readings": [],
    }
    if spec.test is not None:
        data["name"] = spec.name
    label = spec.label[:1].upper() + spec.label[1:]
    # The latest value ever, from the series or a record, whichever is newer.
    if latest_record and (latest_series is None or latest_record.day >= latest_series.day):
        index = cited.record(latest_record.record, latest_record.shown or shown(latest_record.value, unit, decimals))
        data["latest"] = {"date": latest_record.day.isoformat(), "value": _number(latest_record.value), "cite": index}
    elif latest_series:
        index = cited.add(
            Citation(
                kind="series",
                ref=spec.key,
                label=label,
                date=latest_series.day.isoformat(),
                value=shown(latest_series.value, unit, decimals),
                source=_series_sources(owner, spec.key, latest_series.day),
                url=series_url(latest_series.day, today),
            )
        )
        data["latest"] = {"date": latest_series.day.isoformat(), "value": _number(latest_series.value), "cite": index}
    stats = _stats(points)
    if stats:
        cites = []
        if series:
            cites.append(
                cited.add(
                    Citation(
                        kind="series",
                        ref=spec.key,
                        label=label,
                        date=f"{series[0].day.isoformat()}/{series[-1].day.isoformat()}",
                        value=shown(stats["mean"], unit, decimals),
                        source=_series_sources(owner, spec.key, series[-1].day),
                        url=series_url(period.start, today),
                    )
                )
            )
        for point in in_period[-MAX_READINGS:]:
            index = cited.record(point.record, point.shown or shown(point.value, unit, decimals))
            cites.append(index)
            data["readings"].append({"date": point.day.isoformat(), "value": _number(point.value), "cite": index})
        first_week, last_week = _week_means(points)
        direction, change = _trend([(point.day, point.value) for point in points])
        stats.update(
            {
                "first_week_mean": _number(first_week),
                "last_week_mean": _number(last_week),
                "week_change": _number(last_week - first_week) if first_week is not None else None,
                "direction": direction,
                "fitted_change": _number(change),
                "trend": trends.trend_sentence(
                    [(point.day, point.value) for point in points],
                    metric_label=label,
                    unit=unit,
                    period_days=period.days,
                ),
                "cite": cites,
            }
        )
        if spec.metric is not None and spec.metric.kind == "sum":
            stats["total"] = _number(math.fsum(point.value for point in series))
        data["stats"] = stats
    data["decimals"] = decimals
    return data


def metric_summary(owner: User, *, metric: str, **period_arguments) -> ToolResult:
    """Latest value, mean/min/max and trend of one metric (or blood pressure, or one of the owner's tests)."""
    period = _period(period_arguments, DEFAULT_PERIOD_DAYS)
    cited = _Cited()
    spec = _metric_spec(owner, metric)
    if isinstance(spec, list):
        points = _record_points(owner, [part.key for part in spec])
        parts = {part.key: _summarise(owner, part, period, cited, points[part.key]) for part in spec}
        systolic, diastolic = parts["blood_pressure_systolic"], parts["blood_pressure_diastolic"]
        data = {
            "metric": "blood_pressure",
            "label": _("blood pressure"),
            "unit": "mmHg",
            "period": period.as_dict(),
            "systolic": systolic,
            "diastolic": diastolic,
        }
    else:
        data = _summarise(owner, spec, period, cited)
    return ToolResult(name="metric_summary", data=data, citations=cited.citations)


# -- lab tests --------------------------------------------------------------------------------------------

_STOPWORDS = {"my", "the", "of", "in", "mon", "ma", "mes", "le", "la", "les", "de", "du", "des", "test", "level"}


def tests_matching(tests: list[LabTest], text: str) -> list[LabTest]:
    """The owner's tests a name means, best first: by LOINC code, by a known EN/FR name, by words, by spelling."""
    query = vocabulary.normalise(text)
    if not query:
        return []
    if re.fullmatch(r"\d{1,7}-\d", query):
        return [test for test in tests if test.loinc_code == query]
    term = vocabulary.lab_term_for(text)
    if term is not None:
        by_code = [test for test in tests if test.loinc_code in term.loinc]
        if by_code:
            return sorted(by_code, key=lambda test: (term.loinc.index(test.loinc_code), -len(test.points)))
        by_words = [test for test in tests if any(word in vocabulary.normalise(test.name) for word in term.name_words)]
        if by_words:
            return sorted(by_words, key=lambda test: len(test.name))
    names = {id(test): vocabulary.normalise(test.name) for test in tests}
    exact = [test for test in tests if names[id(test)] == query]
    if exact:
        return exact
    words = [word for word in query.split() if len(word) > 1 and word not in _STOPWORDS]
    if words:
        containing = [test for test in tests if all(vocabulary.find_phrase(word, names[id(test)]) for word in words)]
        if containing:
            return sorted(containing, key=lambda test: len(test.name))
    close = difflib.get_close_matches(query, list(names.values()), n=3, cutoff=0.8)
    return [test for name in close for test in tests if names[id(test)] == name]


def _range_dict(low: float | None, high: float | None) -> dict:
    return {"low": _number(low), "high": _number(high)}


def lab_history(owner: User, *, test: str, start=None, end=None) -> ToolResult:
    """One lab test's results over time in one unit, with its reference range and the results outside it."""
    cited = _Cited()
    tests = selectors.lab_tests_for_user(user=owner)
    matches = tests_matching(tests, test)
    if not matches:
        vitals = selectors.lab_tests_for_user(user=owner, model=VitalSign)
        matches = tests_matching(vitals, test)
        tests = tests + vitals
    if not matches:
        available = [{"name": item.name} for item in tests[:MAX_LIST_ITEMS]]
        data = {"found": False, "query_text": test, "available": available}
        return ToolResult(name="lab_history", data=data, citations=[])
    found = matches[0]
    points = found.points
    period = None
    if start is not None:
        period = period_clamp(start=start, end=end or _today(), today=_today())
        points = [
            p for p in points if p.record.effective_at and period.start <= p.record.effective_at.date() <= period.end
        ]
    decimals = trends.value_decimals(p.value for p in points if p.value is not None)
    items = []
    for point in points[-MAX_READINGS:]:
        value = shown(point.value, found.unit, decimals) if point.value is not None else point.record.value_text
        index = cited.record(point.record, value)
        items.append(
            {
                "date": _day(point.record.effective_at),
                "value": _number(point.value),
                "value_text": point.record.value_text if point.value is None else "",
                "flag": point.flag,
                "reference": _range_dict(point.low, point.high),
                "cite": index,
            }
        )
    numeric = [item for item in items if item["value"] is not None]
    latest = found.latest
    data = {
        "found": True,
        "query_text": test,
        "name": found.name,
        "loinc": found.loinc_code,
        "unit": found.unit,
        "period": period.as_dict() if period else None,
        "count": len(points),
        "shown": len(items),
        "results": items,
        "out_of_range": sum(1 for item in items if item["flag"]),
        "reference": _range_dict(latest.low, latest.high) if latest else _range_dict(None, None),
        "reference_text": latest.record.reference_text if latest else "",
        "latest": items[-1] if items else None,
        "first": numeric[0] if numeric else None,
        "change": _number(numeric[-1]["value"] - numeric[0]["value"]) if len(numeric) > 1 else None,
        "not_converted": found.unconverted,
        "decimals": decimals,
        "other_matches": [{"name": other.name} for other in matches[1:6]],
    }
    return ToolResult(name="lab_history", data=data, citations=cited.citations)


# -- lists ------------------------------------------------------------------------------------------------


def _listing(name: str, records: list, cited: _Cited, item: Callable[[object], dict], **extra) -> ToolResult:
    items = []
    for record in records[:MAX_LIST_ITEMS]:
        items.append({**item(record), "cite": cited.record(record)})
    data = {**extra, "count": len(records), "shown": len(items), "items": items}
    return ToolResult(name=name, data=data, citations=cited.citations)


def medications(owner: User, *, active_only: bool = True) -> ToolResult:
    """The owner's medications: current ones (default) or all, newest first."""
    if active_only:
        rows = selectors.medications_current_for_user(user=owner)
    else:
        rows = list(selectors.record_list_for_user(user=owner, kind="medications"))
    return _listing(
        "medications",
        rows,
        _Cited(),
        lambda row: {
            "name": row.name,
            "dosage_text": row.dosage,
            "status_text": row.status,
            "started": _day(row.effective_at),
            "ended": row.ended_on.isoformat() if row.ended_on else None,
        },
        active_only=active_only,
    )


def allergies(owner: User) -> ToolResult:
    """The owner's allergies and intolerances not marked resolved or refuted."""
    return _listing(
        "allergies",
        selectors.allergies_for_user(user=owner),
        _Cited(),
        lambda row: {
            "name": row.substance,
            "category_text": row.category,
            "criticality_text": row.criticality,
            "reaction_text": row.reaction,
            "status_text": row.clinical_status,
            "recorded": _day(row.effective_at),
        },
    )


def conditions(owner: User, *, active_only: bool = True) -> ToolResult:
    """The owner's conditions: active ones (default) or all, newest first."""
    if active_only:
        rows = selectors.conditions_active_for_user(user=owner)
    else:
        rows = list(selectors.record_list_for_user(user=owner, kind="conditions"))
    return _listing(
        "conditions",
        rows,
        _Cited(),
        lambda row: {
            "name": row.name,
            "status_text": row.clinical_status,
            "since": _day(row.effective_at),
            "resolved": row.abated_on.isoformat() if row.abated_on else None,
        },
        active_only=active_only,
    )


def immunizations(owner: User) -> ToolResult:
    """The owner's immunisations, newest first, and per vaccine how many doses and the latest date."""
    rows = list(Immunization.objects.filter(owner=owner).order_by("-effective_at", "-id"))
    cited = _Cited()
    by_vaccine: dict[str, dict] = {}
    for row in rows:
        group = by_vaccine.setdefault(vocabulary.normalise(row.vaccine), {"name": row.vaccine, "doses": 0})
        group["doses"] += 1
        if "latest" not in group:
            group["latest"] = _day(row.effective_at)
            group["cite"] = cited.record(row)
    result = _listing(
        "immunizations",
        rows,
        cited,
        lambda row: {"name": row.vaccine, "date": _day(row.effective_at), "status_text": row.status},
    )
    result.data["vaccines"] = list(by_vaccine.values())
    return result


# -- changes and summaries --------------------------------------------------------------------------------


def _kind_label(model) -> str:
    return str(model._meta.verbose_name_plural)


def _changes(owner: User, since: datetime.date, cited: _Cited, per_kind: int = MAX_CHANGES_PER_KIND) -> dict:
    since_moment = _midnight(since)
    kinds = []
    for kind, model in RECORD_KINDS.items():
        rows = model.objects.filter(owner=owner, effective_at__gte=since_moment).order_by("-effective_at", "-id")
        count = rows.count()
        if not count:
            continue
        items = []
        for record in rows[:per_kind]:
            value = measurement_shown(record) if isinstance(record, Measurement) else ""
            item = {"name": record_label(record), "date": _day(record.effective_at)}
            if isinstance(record, Measurement):
                item["value_text"] = value
            item["cite"] = cited.record(record, value)
            items.append(item)
        kinds.append({"kind": kind, "label": _kind_label(model), "count": count, "items": items})
    series = [
        {"metric": metric, "label": str(timeseries.METRICS[metric].label), "days": days}
        for metric, days in sorted(
            Counter(SampleDay.objects.filter(owner=owner, day__gte=since).values_list("metric", flat=True)).items()
        )
        if metric in timeseries.METRICS
    ]
    return {"kinds": kinds, "total": sum(kind["count"] for kind in kinds), "series": series}


def changes_since(owner: User, *, date: datetime.date) -> ToolResult:
    """Records dated on or after a date (by their clinical date), grouped by kind, and series with new days."""
    period = period_clamp(start=min(date, _today()), end=_today(), today=_today())
    cited = _Cited()
    data = {
        "since": period.start.isoformat(),
        "clamped": period.clamped or date > _today(),
        **_changes(owner, period.start, cited),
    }
    return ToolResult(name="changes_since", data=data, citations=cited.citations)


SUMMARY_SECTIONS = {
    "activity": ("steps", "distance", "exercise_time", "active_energy"),
    "sleep": ("sleep",),
    "heart": ("resting_heart_rate", "heart_rate", "heart_rate_variability"),
    "body": ("weight", "bmi", "body_fat", "blood_pressure_systolic", "blood_pressure_diastolic"),
    "other": ("blood_glucose", "oxygen_saturation", "respiratory_rate", "dietary_energy"),
}


def recent_summary(owner: User, *, days: int = DEFAULT_SUMMARY_DAYS) -> ToolResult:
    """The last N days: activity, sleep, heart, body measurements (those with data) and the records added."""
    period = _period({"period_days": days}, DEFAULT_SUMMARY_DAYS)
    cited = _Cited()
    present = set(timeseries.metrics_for_user(owner=owner))
    keys = [key for section in SUMMARY_SECTIONS.values() for key in section]
    # Vital signs only: lab results are listed with the new records, in the units the laboratory used.
    records = _record_points(owner, keys, period.start, period.end, models=(VitalSign,))
    sections = {}
    for section, section_keys in SUMMARY_SECTIONS.items():
        summaries = []
        for key in section_keys:
            if key not in present and not records[key]:
                continue
            spec = _metric_spec(owner, key)
            summary = _summarise(owner, spec, period, cited, records[key])
            if summary["stats"]:
                summaries.append(summary)
        sections[section] = summaries
    data = {"period": period.as_dict(), **sections, "new_records": _changes(owner, period.start, cited, per_kind=5)}
    return ToolResult(name="recent_summary", data=data, citations=cited.citations)


# -- visit preparation ------------------------------------------------------------------------------------

# Words of a visit's reason (normalised, matched as stems) and what matters for it.
REASON_TOPICS = {
    "heart": (
        ("cardio", "heart", "coeur", "cardiaque", "blood pressure", "tension", "hypertension", "palpitation"),
        ("blood_pressure_systolic", "blood_pressure_diastolic", "resting_heart_rate", "heart_rate"),
        ("ldl", "cholesterol", "hdl", "triglycerides", "ntprobnp", "potassium", "creatinine"),
    ),
    "diabetes": (
        ("diabet", "endocrin", "sugar", "glucose", "glycemie", "sucre", "insulin"),
        ("blood_glucose", "weight"),
        ("hba1c", "glucose", "ldl", "creatinine", "egfr"),
    ),
    "kidney": (
        ("kidney", "rein", "renal", "nephro"),
        ("blood_pressure_systolic", "blood_pressure_diastolic", "weight"),
        ("egfr", "creatinine", "potassium", "sodium", "urea"),
    ),
}


def _focus(reason: str) -> tuple[list[str], set[str], set[str]]:
    text = vocabulary.normalise(reason)
    topics, metrics, labs = [], set(), set()
    for topic, (words, topic_metrics, topic_labs) in REASON_TOPICS.items():
        if any(word in text for word in words):
            topics.append(topic)
            metrics.update(topic_metrics)
            labs.update(topic_labs)
    return topics, metrics, labs


def _term_key(test: LabTest) -> str:
    term = next((term for term in vocabulary.LAB_TERMS if test.loinc_code in term.loinc), None)
    return term.key if term else ""


def range_shown(low: float | None, high: float | None, unit: str, decimals: int) -> str:
    """A reference range written the active language's way: "4.0–5.6 %", "≤ 116.0 mg/dL"."""
    if low is not None and high is not None:
        return f"{trends.format_number(low, decimals)}–{shown(high, unit, decimals)}"
    if high is not None:
        return f"≤ {shown(high, unit, decimals)}"
    if low is not None:
        return f"≥ {shown(low, unit, decimals)}"
    return ""


def _lab_findings(tests: list[LabTest], today: datetime.date, focus_labs: set[str], cited: _Cited) -> tuple:
    """Recent tests (latest result within a year), those outside their range, and notable changes."""
    recent, out_of_range, changes = [], [], []
    since = today - datetime.timedelta(days=RECENT_LAB_DAYS)
    for test in tests:
        numeric = [point for point in test.points if point.value is not None and point.record.effective_at]
        latest = test.latest
        if latest is None or latest.record.effective_at is None:
            continue
        decimals = trends.value_decimals(point.value for point in numeric) if numeric else 0
        focused = _term_key(test) in focus_labs
        entry = {
            "name": test.name,
            "date": _day(latest.record.effective_at),
            "value": _number(latest.value),
            "value_text": latest.record.value_text if latest.value is None else "",
            "unit": test.unit,
            "flag": latest.flag,
            "reference": _range_dict(latest.low, latest.high),
            "focus": focused,
        }
        is_recent = latest.record.effective_at.date() >= since
        if is_recent or latest.flag:
            value = shown(latest.value, test.unit, decimals) if latest.value is not None else latest.record.value_text
            entry["cite"] = cited.record(latest.record, value)
        if latest.flag:
            out_of_range.append((test, entry, decimals))
        elif is_recent:
            recent.append(entry)
        if len(numeric) >= 2 and numeric[-1] is latest:
            before, after = numeric[-2], numeric[-1]
            relative = abs(after.value - before.value) / abs(before.value) if before.value else math.inf
            flag_changed = before.flag != after.flag
            # Two results of one day (two panels, two methods) are not a change over time.
            same_day = before.record.effective_at.date() == after.record.effective_at.date()
            if (relative >= NOTABLE_LAB_CHANGE or flag_changed) and (is_recent or focused) and not same_day:
                changes.append(
                    {
                        "name": test.name,
                        "unit": test.unit,
                        "before": {"date": _day(before.record.effective_at), "value": _number(before.value)},
                        "after": {"date": _day(after.record.effective_at), "value": _number(after.value)},
                        "direction": "up" if after.value > before.value else "down",
                        "flag": after.flag,
                        "focus": focused,
                        "cite": [
                            cited.record(before.record, shown(before.value, test.unit, decimals)),
                            cited.record(after.record, shown(after.value, test.unit, decimals)),
                        ],
                        "decimals": decimals,
                    }
                )
    # What the visit is about first, then the newest (sorts are stable).
    recent.sort(key=lambda entry: entry["date"], reverse=True)
    recent.sort(key=lambda entry: not entry["focus"])
    changes.sort(key=lambda change: change["after"]["date"], reverse=True)
    changes.sort(key=lambda change: not change["focus"])
    return recent, out_of_range, changes


def _questions(*, out_of_range, changes, trend_items, current_meds, allergy_rows, today: datetime.date) -> list[dict]:
    """Questions for a clinician drawn from the data, each with the citations it rests on."""
    questions = []
    changed_names = set()
    for change in changes[:MAX_LAB_QUESTIONS]:
        decimals = change["decimals"]
        params = {
            "name": change["name"],
            "before": shown(change["before"]["value"], change["unit"], decimals),
            "after": shown(change["after"]["value"], change["unit"], decimals),
            "date": format_date(change["before"]["date"]),
        }
        if change["direction"] == "up":
            text = _(
                "Your %(name)s has risen from %(before)s to %(after)s since %(date)s: ask whether this change "
                "matters for you and what could explain it."
            )
        else:
            text = _(
                "Your %(name)s has fallen from %(before)s to %(after)s since %(date)s: ask whether this change "
                "matters for you and what could explain it."
            )
        questions.append({"topic": "lab_change", "text": text % params, "cite": change["cite"]})
        changed_names.add(change["name"])
    for test, entry, decimals in [item for item in out_of_range if item[0].name not in changed_names][
        :MAX_LAB_QUESTIONS
    ]:
        params = {
            "name": test.name,
            "value": shown(entry["value"], test.unit, decimals) if entry["value"] is not None else entry["value_text"],
            "date": format_date(entry["date"]),
            "range": range_shown(entry["reference"]["low"], entry["reference"]["high"], test.unit, decimals),
        }
        if entry["flag"] == "high":
            text = _(
                "Your %(name)s was %(value)s on %(date)s, above its reference range (%(range)s): ask what this "
                "result means for you and whether it should be checked again."
            )
        else:
            text = _(
                "Your %(name)s was %(value)s on %(date)s, below its reference range (%(range)s): ask what this "
                "result means for you and whether it should be checked again."
            )
        questions.append({"topic": "lab_out_of_range", "text": text % params, "cite": [entry["cite"]]})
    for item in trend_items[:MAX_TREND_QUESTIONS]:
        label = item["label"][:1].upper() + item["label"][1:]
        params = {"label": label, "amount": item["amount_text"], "days": item["days"]}
        if item["direction"] == "up":
            text = _("%(label)s went up by %(amount)s over the last %(days)s days: ask whether this is expected.")
        else:
            text = _("%(label)s went down by %(amount)s over the last %(days)s days: ask whether this is expected.")
        questions.append({"topic": "trend", "text": text % params, "cite": item["cite"]})
    if current_meds:
        text = ngettext(
            "Your records list %(count)d current medication: ask whether it is still needed and how you will "
            "know it is working.",
            "Your records list %(count)d current medications: ask whether each is still needed and how you will "
            "know they are working.",
            len(current_meds),
        ) % {"count": len(current_meds)}
        questions.append({"topic": "medications", "text": text, "cite": [index for _, index in current_meds]})
    year_ago = today - datetime.timedelta(days=RECENT_LAB_DAYS)
    started = [(row, index) for row, index in current_meds if row.effective_at and row.effective_at.date() >= year_ago]
    for medication, index in started[:MAX_NEW_MEDICATION_QUESTIONS]:
        text = _("%(name)s was started on %(date)s: ask which effects to watch for and when it will be reviewed.")
        params = {"name": medication.name, "date": format_date(_day(medication.effective_at))}
        questions.append({"topic": "medication_new", "text": text % params, "cite": [index]})
    if allergy_rows:
        names = ", ".join(row.substance for row, _index in allergy_rows[:6])
        text = _("Ask whether your allergies (%(names)s) are recorded in the clinic's file.") % {"names": names}
        questions.append({"topic": "allergies", "text": text, "cite": [index for _, index in allergy_rows]})
    return questions


def visit_preparation(owner: User, *, reason: str = "") -> ToolResult:
    """What to bring to a visit: conditions, medications, allergies, labs, trends and questions drawn from them."""
    today = _today()
    cited = _Cited()
    topics, focus_metrics, focus_labs = _focus(reason)
    condition_rows = selectors.conditions_active_for_user(user=owner)[:MAX_LIST_ITEMS]
    medication_rows = selectors.medications_current_for_user(user=owner)[:MAX_LIST_ITEMS]
    allergy_rows = selectors.allergies_for_user(user=owner)[:MAX_LIST_ITEMS]
    conditions_data = [
        {"name": row.name, "since": _day(row.effective_at), "cite": cited.record(row)} for row in condition_rows
    ]
    current_meds = [(row, cited.record(row)) for row in medication_rows]
    medications_data = [
        {"name": row.name, "dosage_text": row.dosage, "started": _day(row.effective_at), "cite": index}
        for row, index in current_meds
    ]
    allergies_with_index = [(row, cited.record(row)) for row in allergy_rows]
    allergies_data = [
        {"name": row.substance, "reaction_text": row.reaction, "cite": index} for row, index in allergies_with_index
    ]
    recent, out_of_range, changes = _lab_findings(selectors.lab_tests_for_user(user=owner), today, focus_labs, cited)
    trend_items = _visit_trends(owner, today, focus_metrics, cited)
    questions = _questions(
        out_of_range=out_of_range,
        changes=changes,
        trend_items=trend_items,
        current_meds=current_meds,
        allergy_rows=allergies_with_index,
        today=today,
    )
    data = {
        "reason_text": reason,
        "topics": topics,
        "conditions": conditions_data,
        "medications": medications_data,
        "allergies": allergies_data,
        "labs_out_of_range": [entry for _test, entry, _decimals in out_of_range],
        "labs_recent": recent[:15],
        "lab_changes": [{key: value for key, value in change.items() if key != "decimals"} for change in changes],
        "trends": [{key: value for key, value in item.items() if key != "amount_text"} for item in trend_items],
        "questions": questions,
    }
    return ToolResult(name="visit_preparation", data=data, citations=cited.citations)


def _visit_trends(owner: User, today: datetime.date, focus: set[str], cited: _Cited) -> list[dict]:
    """Series metrics that went clearly up or down over the last TREND_DAYS days (those of the visit first)."""
    period = Period(today - datetime.timedelta(days=TREND_DAYS - 1), today)
    items = []
    for key in timeseries.metrics_for_user(owner=owner):
        metric = timeseries.METRICS.get(key)
        if metric is None:
            continue
        points = _series_points(owner, metric, period.start, period.end)
        direction, change = _trend([(point.day, point.value) for point in points])
        if direction not in ("up", "down"):
            continue
        unit = _display_unit(metric)
        label = str(metric.label)
        decimals = trends.value_decimals(point.value for point in points)
        index = cited.add(
            Citation(
                kind="series",
                ref=key,
                label=label[:1].upper() + label[1:],
                date=f"{points[0].day.isoformat()}/{points[-1].day.isoformat()}",
                value=shown(math.fsum(p.value for p in points) / len(points), unit, decimals),
                source=_series_sources(owner, key, points[-1].day),
                url=series_url(period.start, today),
            )
        )
        items.append(
            {
                "metric": key,
                "label": label,
                "unit": unit,
                "days": period.days,
                "direction": direction,
                "change": _number(change),
                "focus": key in focus,
                "cite": [index],
                "amount_text": shown(abs(change), unit, decimals),
            }
        )
    items.sort(key=lambda item: not item["focus"])
    return items


# -- search -----------------------------------------------------------------------------------------------

# The text fields shown for each kind of record, beyond its name.
_SEARCH_FIELDS = {
    "medications": ("dosage",),
    "allergies": ("reaction", "category"),
    "visits": ("reason", "provider"),
    "notes": ("text", "author"),
    "lab-results": ("value_text", "reference_text"),
    "vital-signs": ("value_text",),
    "documents": ("filename",),
}
SNIPPET_CHARS = 400


def _fold(text: str) -> str:
    """Lower case without accents, one character for one (positions stay those of the original)."""
    folded = []
    for char in text.lower():
        plain = "".join(part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part))
        folded.append(plain[:1] or " ")
    return "".join(folded)


def _snippet(text: str, word: str) -> str:
    position = _fold(text).find(word)
    if len(text) <= SNIPPET_CHARS:
        return text
    start = max(0, position - SNIPPET_CHARS // 3)
    cut = text[start : start + SNIPPET_CHARS].strip()
    return ("…" if start else "") + cut + ("…" if start + SNIPPET_CHARS < len(text) else "")


def search_records(owner: User, *, query: str) -> ToolResult:
    """The owner's records whose text contains every word of the query (accents and case ignored), newest first."""
    words = [word for word in vocabulary.normalise(query).split() if len(word) >= 2]
    if not words:
        raise ToolError("The query needs a word of at least two letters.")
    hits = []
    for kind, model in RECORD_KINDS.items():
        fields = _SEARCH_FIELDS.get(kind, ())
        for record in model.objects.filter(owner=owner).order_by("-effective_at", "-id")[:SEARCH_SCAN_PER_KIND]:
            texts = [record_label(record), *(str(getattr(record, name) or "") for name in fields), record.patient_note]
            folded = [_fold(text) for text in texts]
            joined = " ".join(folded)
            if all(word in joined for word in words):
                # The text around the first word, or, when only the name matched, the start of the record's text.
                where = next((i for i, text in enumerate(folded) if words[0] in text), 0)
                if where:
                    snippet = _snippet(texts[where], words[0])
                else:
                    snippet = next((_snippet(text, "") for text in texts[1:] if text.strip()), "")
                hits.append((record, kind, snippet))
    hits.sort(key=lambda hit: hit[0].effective_at or datetime.datetime.min.replace(tzinfo=datetime.UTC), reverse=True)
    cited = _Cited()
    items = [
        {
            "kind": kind,
            "kind_label": str(type(record)._meta.verbose_name),
            "name": record_label(record),
            "date": _day(record.effective_at),
            "snippet_text": snippet,
            "cite": cited.record(record),
        }
        for record, kind, snippet in hits[:SEARCH_LIMIT]
    ]
    data = {"query_text": query, "count": len(hits), "shown": len(items), "items": items}
    return ToolResult(name="search_records", data=data, citations=cited.citations)


# -- insurance and costs ----------------------------------------------------------------------------------


def _money_number(value: Decimal | None) -> float | int | None:
    """An amount as a JSON number rounded to the cent by code."""
    return None if value is None else _number(float(value.quantize(insurance.CENT, rounding=ROUND_HALF_UP)), 2)


def _cost_cite(cited: _Cited, row: insurance.CostRow) -> int:
    shown_amount = row.patient_owed if row.processed else row.billed
    return cited.add(
        Citation(
            kind="insurance_cost",
            ref=str(row.record.public_id),
            label=row.name,
            date=_day(row.record.effective_at),
            value=insurance.money(shown_amount, row.currency),
            source=_source_name(row.record),
            url=reverse("records:insurance_cost", kwargs={"public_id": row.record.public_id}),
        )
    )


def _totals_dict(total: insurance.Totals) -> dict:
    return {
        "currency": total.currency,
        "visits": total.visits,
        "billed": _money_number(total.billed),
        "insurer_paid": _money_number(total.insurer_paid),
        "patient_owed": _money_number(total.patient_owed),
        "deductible": _money_number(total.deductible),
        "copay": _money_number(total.copay),
        "coinsurance": _money_number(total.coinsurance),
        "unanswered_claims": total.unprocessed,
        "unanswered_billed": _money_number(total.unprocessed_billed),
    }


def insurance_costs(owner: User, **period_arguments) -> ToolResult:
    """What the owner's visits cost over a period, from the insurers' explanations of benefit (billed, paid by
    the insurer, owed by the patient: deductible, co-pays, co-insurance) and claims not answered yet."""
    period = _period(period_arguments, DEFAULT_COSTS_DAYS)
    rows = insurance.costs_for_user(user=owner, start=period.start, end=period.end)
    cited = _Cited()
    items = []
    for row in rows[:MAX_LIST_ITEMS]:
        items.append(
            {
                "name": row.name,
                "date": row.date.isoformat() if row.date else "",
                "answered": row.processed,
                "currency": row.currency,
                "billed": _money_number(row.billed),
                "insurer_paid": _money_number(row.insurer_paid),
                "patient_owed": _money_number(row.patient_owed),
                "deductible": _money_number(row.deductible),
                "copay": _money_number(row.copay),
                "coinsurance": _money_number(row.coinsurance),
                "insurer_name": row.record.insurer,
                "cite": _cost_cite(cited, row),
            }
        )
    data = {
        "period": period.as_dict(),
        "count": len(rows),
        "shown": len(items),
        "totals": [_totals_dict(total) for total in insurance.totals(rows)],
        "items": items,
    }
    return ToolResult(name="insurance_costs", data=data, citations=cited.citations)


def insurance_coverage(owner: User) -> ToolResult:
    """The owner's insurance plans with the current plan year's deductible met and out-of-pocket spent."""
    cited = _Cited()
    items = []
    for progress in insurance.plans_progress_for_user(user=owner, today=_today())[:MAX_LIST_ITEMS]:
        plan = progress.plan
        cite = cited.add(
            Citation(
                kind="insurance_plan",
                ref=str(plan.public_id),
                label=str(plan),
                date=_day(plan.effective_at),
                source=_source_name(plan),
                url=reverse("records:insurance_plan", kwargs={"public_id": plan.public_id}),
            )
        )
        items.append(
            {
                "name": str(plan),
                "insurer_name": plan.insurer,
                "plan_name": plan.plan_name,
                "status_text": plan.status,
                "valid_until": plan.ends_on.isoformat() if plan.ends_on else None,
                "currency": progress.currency,
                "plan_year": {"start": progress.start.isoformat(), "end": progress.end.isoformat()},
                "deductible": _money_number(progress.deductible),
                "deductible_met": _money_number(progress.deductible_met),
                "deductible_left": _money_number(progress.deductible_left),
                "out_of_pocket_max": _money_number(progress.out_of_pocket_max),
                "out_of_pocket_spent": _money_number(progress.out_of_pocket_spent),
                "out_of_pocket_left": _money_number(progress.out_of_pocket_left),
                "visits_counted": len(progress.rows),
                "cite": cite,
                "visit_cites": [_cost_cite(cited, row) for row in progress.rows[:MAX_READINGS]],
            }
        )
    data = {"count": len(items), "items": items}
    return ToolResult(name="insurance_coverage", data=data, citations=cited.citations)


# -- care habits: vaccinations, preventive topics, the medication routine, habits over time ----------------

MAX_HABIT_WEEKS = MAX_PERIOD_DAYS // 7


def _age_years(birth: datetime.date | None, today: datetime.date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _month(day: datetime.date | None) -> str | None:
    return day.strftime("%Y-%m") if day else None


def _source_dicts(sources) -> list[dict]:
    return [{"publisher": item["publisher"], "title": item["title"], "year": item["year"]} for item in sources]


def vaccinations_due(owner: User) -> ToolResult:
    """What the patient's country's vaccination schedule records as due, overdue, up to date or later."""
    today = _today()
    overview = care_vaccinations.vaccination_overview_for_user(user=owner, today=today)
    schedule = overview.schedule
    cited = _Cited()
    items = []
    for status in overview.statuses:
        item = {
            "vaccine": status.key,
            "label": status.label,
            "status": status.status,
            "doses_recorded": len(status.doses),
            "doses_in_series": status.needed,
            # Months only: a date the schedule derives from an age would give away the exact birth date.
            "due_since_month": _month(status.due_on) if status.status != care_vaccinations.LATER else None,
            "from_month": _month(status.due_on) if status.status == care_vaccinations.LATER else None,
            "next_month": _month(status.next_on),
            "last_dose": status.last_dose.isoformat() if status.last_dose else None,
            "note_text": status.vaccine.note,
        }
        last = status.doses[-1].record if status.doses else None
        if last is not None:
            item["cite"] = cited.record(last)
        items.append(item)
    data = {
        "country": overview.country,
        "schedule": schedule.title if schedule else None,
        "sources": _source_dicts(schedule.sources.values()) if schedule else [],
        "age_years": _age_years(overview.birth_date, today),
        "birth_date_known": overview.birth_date is not None,
        "immunisations_recorded": len(overview.history),
        "items": items,
        "reminder": "What is due is to discuss with a clinician; records often miss doses.",
    }
    return ToolResult(name="vaccinations_due", data=data, citations=cited.citations)


def preventive_topics(owner: User) -> ToolResult:
    """The preventive topics (screenings, check-ups) recommended at the patient's age, with what they marked done."""
    today = _today()
    overview = care_preventive.preventive_overview_for_user(user=owner, today=today)
    items = [
        {
            "topic": item.key,
            "label": item.topic.label,
            "what": item.topic.what,
            "condition": item.topic.condition or None,
            "interval": item.topic.interval,
            "status": item.status,
            "if_it_applies": item.if_applies,
            "last_done": item.last_done.isoformat() if item.last_done else None,
            "interval_ends": item.next_on.isoformat() if item.next_on else None,
            "source": f"{item.topic.source['publisher']} ({item.topic.source['year']})",
        }
        for item in overview.items
    ]
    data = {
        "country": overview.country,
        "recommendations": overview.topics.title if overview.topics else None,
        "age_years": _age_years(overview.birth_date, today),
        "sex_known": overview.sex in care_preventive.SEXES,
        "items": items,
        "reminder": "Topics to discuss with a clinician, never a diagnosis.",
    }
    return ToolResult(name="preventive_topics", data=data, citations=[])


def medication_adherence(owner: User) -> ToolResult:
    """Doses logged as taken or skipped for each current medication over the last 30 and 90 days."""
    cited = _Cited()
    items = []
    for routine in care_routine.routine_for_user(user=owner, today=_today()):
        windows = {}
        for days, adherence in routine.adherence.items():
            windows[f"last_{days}_days"] = {
                "days": adherence.days,
                "doses_logged": adherence.logged,
                "taken": adherence.taken,
                "skipped": adherence.skipped,
                "taken_percent": adherence.taken_percent,
                "days_with_a_log": adherence.logged_days,
                "days_with_a_log_percent": adherence.logged_days_percent,
            }
        latest = routine.recent[0] if routine.recent else None
        items.append(
            {
                "name": routine.medication.name,
                **windows,
                "last_log": {"at": latest.at.isoformat(), "taken": latest.taken} if latest else None,
                "cite": cited.record(routine.medication),
            }
        )
    data = {"count": len(items), "items": items, "reminder": "These figures describe the patient's own log."}
    return ToolResult(name="medication_adherence", data=data, citations=cited.citations)


def _habit_weeks(weeks: int) -> tuple[int, bool]:
    return min(weeks, MAX_HABIT_WEEKS), weeks > MAX_HABIT_WEEKS


def _habit_citation(
    cited: _Cited, owner: User, *, metric: str, start: datetime.date, today: datetime.date, weeks: int, value: str
) -> int:
    label = str(timeseries.METRICS[metric].label)
    return cited.add(
        Citation(
            kind="series",
            ref=metric,
            label=label[:1].upper() + label[1:],
            date=f"{start.isoformat()}/{today.isoformat()}",
            value=value,
            source=_series_sources(owner, metric, today),
            url=f"{reverse('records:care_habits')}?weeks={weeks}",
        )
    )


def sleep_regularity(owner: User, *, weeks: int = care_habits.DEFAULT_WEEKS) -> ToolResult:
    """How regular the patient's sleep is: usual bedtime and wake-up time and how much they vary, by week."""
    today = _today()
    weeks, clamped = _habit_weeks(weeks)
    start = care_habits.weeks_start(today, weeks)
    result = care_habits.sleep_for_user(user=owner, start=start, today=today)
    cited = _Cited()
    data = {
        "period": {"start": start.isoformat(), "end": today.isoformat(), "weeks": weeks, "clamped": clamped},
        "nights": result.nights,
        "usual_bedtime": result.bedtime or None,
        "bedtime_spread_minutes": _number(result.bedtime_spread, 0),
        "usual_wake_time": result.wake_time or None,
        "wake_spread_minutes": _number(result.wake_spread, 0),
        "asleep_minutes_mean": _number(result.asleep_mean, 0),
        "weeks": [
            {
                "week_of": week.monday.isoformat(),
                "nights": week.nights,
                "bedtime_spread_minutes": _number(week.bedtime_spread, 0),
                "wake_spread_minutes": _number(week.wake_spread, 0),
            }
            for week in result.weeks
        ],
        "summary": care_habits.sleep_sentence(result, weeks),
    }
    if result.nights:
        data["cite"] = _habit_citation(
            cited, owner, metric="sleep", start=start, today=today, weeks=weeks, value=data["usual_bedtime"] or ""
        )
    return ToolResult(name="sleep_regularity", data=data, citations=cited.citations)


def activity_days(
    owner: User, *, weeks: int = care_habits.DEFAULT_WEEKS, steps: int = care_habits.DEFAULT_STEP_THRESHOLD
) -> ToolResult:
    """Days at or over a number of steps, per week and on average a week."""
    today = _today()
    weeks, clamped = _habit_weeks(weeks)
    start = care_habits.weeks_start(today, weeks)
    result = care_habits.activity_for_user(user=owner, start=start, today=today, threshold=steps)
    cited = _Cited()
    data = {
        "period": {"start": start.isoformat(), "end": today.isoformat(), "weeks": weeks, "clamped": clamped},
        "steps_threshold": steps,
        "active_days": result.active_days,
        "days_with_data": result.days_with_data,
        "active_days_per_week": _number(result.per_week, 1),
        "weeks": [
            {"week_of": week.monday.isoformat(), "active_days": week.active_days, "days_with_data": week.days_with_data}
            for week in result.weeks
        ],
        "summary": care_habits.activity_sentence(result, weeks),
    }
    if result.days_with_data:
        data["cite"] = _habit_citation(
            cited,
            owner,
            metric="steps",
            start=start,
            today=today,
            weeks=weeks,
            value=trends.format_number(result.per_week, 1),
        )
    return ToolResult(name="activity_days", data=data, citations=cited.citations)


def nutrition(owner: User, *, weeks: int = care_habits.DEFAULT_WEEKS) -> ToolResult:
    """Daily energy and macronutrients eaten on the days with food logged, their energy shares, by week."""
    today = _today()
    weeks, clamped = _habit_weeks(weeks)
    start = care_habits.weeks_start(today, weeks)
    result = care_habits.nutrition_for_user(user=owner, start=start, today=today)
    cited = _Cited()
    means = {metric: _number(value, 0) for metric, value in result.means.items()}
    data = {
        "period": {"start": start.isoformat(), "end": today.isoformat(), "weeks": weeks, "clamped": clamped},
        "days_logged": result.days,
        "per_day": {
            "energy_kcal": means["dietary_energy"],
            "protein_g": means["protein"],
            "carbohydrates_g": means["carbohydrates"],
            "fat_g": means["fat"],
        },
        "energy_share_percent": {metric: _number(share, 0) for metric, share in result.shares.items()}
        if result.shares
        else None,
        "weeks": [
            {
                "week_of": week.monday.isoformat(),
                "days_logged": week.days,
                "energy_kcal": _number(week.means["dietary_energy"], 0),
                "protein_g": _number(week.means["protein"], 0),
                "carbohydrates_g": _number(week.means["carbohydrates"], 0),
                "fat_g": _number(week.means["fat"], 0),
            }
            for week in result.weeks
        ],
        "summary": care_habits.nutrition_sentence(result, weeks),
    }
    cites = []
    for metric in care_habits.NUTRITION_METRICS:
        if result.means[metric] is not None:
            unit = timeseries.METRICS[metric].unit
            cites.append(
                _habit_citation(
                    cited,
                    owner,
                    metric=metric,
                    start=start,
                    today=today,
                    weeks=weeks,
                    value=shown(result.means[metric], unit, 0),
                )
            )
    if cites:
        data["cite"] = cites
    return ToolResult(name="nutrition", data=data, citations=cited.citations)


# -- dates in the patient's language ----------------------------------------------------------------------


def format_date(value: datetime.date | str) -> str:
    """A date the active language's way: "November 10, 2008" / "10 novembre 2008", "1er mars 2024"."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.date.fromisoformat(value[:10])
    if (translation.get_language() or "en").startswith("fr"):
        text = dateformat.format(value, "j F Y")
        return f"1er{text[1:]}" if value.day == 1 else text
    return dateformat.format(value, "F j, Y")


# -- the registry -----------------------------------------------------------------------------------------

_PERIOD_PROPERTIES = {
    "period_days": {
        "type": "integer",
        "minimum": 1,
        "description": f"How many days back from today (default {DEFAULT_PERIOD_DAYS}; more than "
        f"{MAX_PERIOD_DAYS} is cut to {MAX_PERIOD_DAYS}).",
    },
    "start": {"type": "string", "format": "date", "description": "First day of the period, YYYY-MM-DD."},
    "end": {"type": "string", "format": "date", "description": "Last day of the period, YYYY-MM-DD (default today)."},
}


_WEEKS_PROPERTY = {
    "type": "integer",
    "minimum": 1,
    "description": "How many weeks back, this week included (default 12; more than 522 is cut).",
}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict
    run: Callable[..., ToolResult] = field(repr=False)

    def schema(self) -> dict:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def _object(properties: dict | None = None, required: list[str] | None = None) -> dict:
    schema = {"type": "object", "properties": properties or {}, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in [
        Tool(
            "metric_summary",
            "Latest value, mean, min, max, days with data and trend (first vs last week, fitted direction) of one "
            "measurement over a period. `metric` is a registered key ("
            + ", ".join(["blood_pressure", *timeseries.METRICS])
            + ") or the name of one of the patient's vital signs or lab tests.",
            _object({"metric": {"type": "string", "maxLength": 100}, **_PERIOD_PROPERTIES}, ["metric"]),
            metric_summary,
        ),
        Tool(
            "lab_history",
            "One lab test's results over time in one unit, with the reference range and which results are outside "
            'it. `test` is a test name in English or French ("HbA1c", "hémoglobine glyquée", "LDL") or a '
            "LOINC code. Optional `start`/`end` limit the dates.",
            _object(
                {
                    "test": {"type": "string", "maxLength": 100},
                    "start": _PERIOD_PROPERTIES["start"],
                    "end": _PERIOD_PROPERTIES["end"],
                },
                ["test"],
            ),
            lab_history,
        ),
        Tool(
            "medications",
            "The patient's medications: current ones (default) or all with `active_only` false.",
            _object({"active_only": {"type": "boolean", "description": "Only current medications (default true)."}}),
            medications,
        ),
        Tool("allergies", "The patient's allergies and intolerances that are not resolved.", _object(), allergies),
        Tool(
            "conditions",
            "The patient's conditions: active ones (default) or all with `active_only` false.",
            _object({"active_only": {"type": "boolean", "description": "Only active conditions (default true)."}}),
            conditions,
        ),
        Tool("immunizations", "The patient's immunisations, with the doses of each vaccine.", _object(), immunizations),
        Tool(
            "changes_since",
            "Records dated on or after a date, grouped by kind (counts and the newest of each), and the series "
            "with new days.",
            _object({"date": {"type": "string", "format": "date", "description": "YYYY-MM-DD."}}, ["date"]),
            changes_since,
        ),
        Tool(
            "recent_summary",
            "A summary of the last N days: activity, sleep, heart, weight and other measurements that have data, "
            "and the records added.",
            _object(
                {
                    "days": {
                        "type": "integer",
                        "minimum": 1,
                        "description": f"Default {DEFAULT_SUMMARY_DAYS}; more than {MAX_PERIOD_DAYS} is cut.",
                    }
                }
            ),
            recent_summary,
        ),
        Tool(
            "visit_preparation",
            "What to bring to a visit: active conditions, current medications, allergies, recent and out-of-range "
            "lab results, notable changes and trends, and questions for the clinician drawn from the data.",
            _object(
                {
                    "reason": {
                        "type": "string",
                        "maxLength": MAX_TEXT_ARGUMENT,
                        "description": "Who or what the visit is for.",
                    }
                }
            ),
            visit_preparation,
        ),
        Tool(
            "insurance_costs",
            "What the patient's visits cost over a period (default the last 365 days), from their insurers' "
            "explanations of benefit: per visit and in total per currency, what was billed, what the insurer paid "
            "and what the patient owed (deductible, co-pays, co-insurance); claims not answered yet are counted apart.",
            _object(dict(_PERIOD_PROPERTIES)),
            insurance_costs,
        ),
        Tool(
            "insurance_coverage",
            "The patient's insurance plans: insurer, plan, validity, and for the current plan year the deductible "
            "and how much of it is met and left, the out-of-pocket maximum and how much is spent and left.",
            _object(),
            insurance_coverage,
        ),
        Tool(
            "search_records",
            "Find the patient's records whose text contains every word of the query (names, dosages, notes).",
            _object({"query": {"type": "string", "minLength": 2, "maxLength": 100}}, ["query"]),
            search_records,
        ),
        Tool(
            "vaccinations_due",
            "The patient's immunisations read against their country's vaccination schedule (a data file with its "
            "source and year): each vaccine recorded as overdue, due, up to date or later, with the doses recorded. "
            "Anything due is to discuss with a clinician.",
            _object(),
            vaccinations_due,
        ),
        Tool(
            "preventive_topics",
            "Screenings and check-ups public recommendations suggest at the patient's age and sex (USPSTF, HAS...), "
            "with the dates the patient marked them done; topics to discuss with a clinician, never a diagnosis.",
            _object(),
            preventive_topics,
        ),
        Tool(
            "medication_adherence",
            "For each current medication, the doses the patient logged as taken or skipped over the last 30 and 90 "
            "days, and the days with a log.",
            _object(),
            medication_adherence,
        ),
        Tool(
            "sleep_regularity",
            "How regular sleep is over the last weeks: usual bedtime and wake-up time, how much they vary "
            "(standard deviation in minutes), nights with data, by week.",
            _object({"weeks": _WEEKS_PROPERTY}),
            sleep_regularity,
        ),
        Tool(
            "activity_days",
            "Days with at least a number of steps (default 7000) over the last weeks, per week and on average.",
            _object(
                {
                    "weeks": _WEEKS_PROPERTY,
                    "steps": {
                        "type": "integer",
                        "minimum": 1000,
                        "description": "Steps a day that make an active day (default 7000).",
                    },
                }
            ),
            activity_days,
        ),
        Tool(
            "nutrition",
            "Daily energy (kcal), protein, carbohydrates and fat eaten on the days with food logged (MyFitnessPal, "
            "Apple Health), the share of energy from each macronutrient, by week.",
            _object({"weeks": _WEEKS_PROPERTY}),
            nutrition,
        ),
    ]
}


def tool_schemas() -> list[dict]:
    """Every tool in the shape of OpenAI Chat Completions `tools=`."""
    return [tool.schema() for tool in TOOLS.values()]


def tool_run(*, owner: User, name: str, arguments: dict) -> ToolResult:
    """Run one read-only tool for the owner; raises ToolError for an unknown tool or invalid arguments."""
    tool = TOOLS.get(name) if isinstance(name, str) else None
    if tool is None:
        raise ToolError("There is no tool of this name.")
    return tool.run(owner, **_check_arguments(tool, arguments))
