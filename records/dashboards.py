"""The dashboard's charts: one per metric the patient has, over a chosen period.

Reads go through the time-series selectors (one query per metric, summaries only, never the
day payloads), so the page costs the same with a thousand samples or two million.
"""

import datetime
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User

from .charts import Chart, line_chart
from .timeseries import METRICS, metrics_for_user, series_rollup, summaries_rollup
from .trends import trend_sentence

PERIODS = {
    "7d": (7, _("7 days")),
    "30d": (30, _("30 days")),
    "90d": (90, _("90 days")),
    "1y": (365, _("1 year")),
    "all": (None, _("All time")),
}
DEFAULT_PERIOD = "90d"
# How far back "all time" looks; a finite start keeps the query bounded by the index.
ALL_TIME_DAYS = 25 * 365


@dataclass
class MetricChart:
    metric: str
    label: str
    chart: Chart
    trend: str


def _bucket(days: int) -> str:
    # About as many points as a chart has room for: daily up to a quarter, then weekly or monthly.
    if days <= 120:
        return "day"
    if days <= 5 * 366:
        return "week"
    return "month"


def _display_unit(metric) -> str:
    return "min" if metric.key == "sleep" else metric.unit


def _point(metric, period_start: datetime.date, summary: dict):
    """A chart point: the average per day for sums, min/mean/max for means, the last value otherwise."""
    if metric.kind == "sum":
        days = summary.get("days", 1) or 1
        return (period_start, summary["sum"] / days)
    if metric.kind == "mean" and summary.get("mean") is not None:
        return (period_start, summary["min"], summary["mean"], summary["max"])
    return (period_start, summary.get("last"))


def metric_charts_for_user(*, user: User, period: str = DEFAULT_PERIOD, today: datetime.date | None = None) -> list:
    """A chart and a trend sentence for each metric the owner has data for, over the period."""
    today = today or timezone.now().date()
    days, _label = PERIODS.get(period, PERIODS[DEFAULT_PERIOD])
    start = today - datetime.timedelta(days=(days or ALL_TIME_DAYS) - 1)
    charts = []
    for key in metrics_for_user(owner=user):
        metric = METRICS.get(key)
        if metric is None:
            continue
        daily = series_rollup(owner=user, metric=key, start=start, end=today, bucket="day")
        if not daily:
            continue
        span = days or (today - daily[0][0]).days + 1
        rows = summaries_rollup(daily, _bucket(span))
        unit = _display_unit(metric)
        label = str(metric.label).capitalize()
        chart = line_chart(
            [_point(metric, period_start, summary) for period_start, summary in rows],
            title=label,
            unit=unit,
            bars=metric.kind == "sum",
        )
        trend_points = [
            _point(metric, day, summary)[:2] if metric.kind != "mean" else (day, summary["mean"])
            for day, summary in daily
        ]
        charts.append(
            MetricChart(
                metric=key,
                label=label,
                chart=chart,
                trend=trend_sentence(trend_points, metric_label=label, unit=unit, period_days=span),
            )
        )
    return charts
