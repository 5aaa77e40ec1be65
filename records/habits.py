"""Habits over time from connected data: sleep regularity, activity days, nutrition, by week.

Everything reads the time-series store (one query per metric over the period) and computes with pure
functions: `nights_from_samples` (the main sleep of each night), `sleep_regularity` (how much bedtime
and wake-up time vary), `activity_weeks` (days over a step threshold), `nutrition_weeks` (daily energy
and macronutrients from MyFitnessPal or Apple Health). Each habit gives weekly rows, an SVG chart per
measure and one plain sentence; the chat's tools read the same functions. Times of day are read in
TIME_ZONE, as the rest of the app does. Numbers describe the data; they never judge it.
"""

from __future__ import annotations

import datetime
import math
import statistics
import zoneinfo
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User

from .charts import Chart, line_chart
from .timeseries import ASLEEP_CODES, SLEEP_STAGES, Sample, daily_summaries, samples_between
from .trends import format_amount, format_number

WEEK_CHOICES = (4, 12, 26, 52)
DEFAULT_WEEKS = 12
STEP_THRESHOLDS = (5000, 7000, 8000, 10000)
DEFAULT_STEP_THRESHOLD = 7000
# Asleep segments closer than this belong to the same sleep; the night keeps its longest sleep (not a nap).
SLEEP_GAP = datetime.timedelta(hours=2)
# A night runs from noon to noon: its date is the evening's.
NIGHT_PIVOT = datetime.timedelta(hours=12)
NUTRITION_METRICS = ("dietary_energy", "protein", "carbohydrates", "fat")
# Energy of a gram of each macronutrient (kcal), for their shares of the energy they bring.
KCAL_PER_GRAM = {"protein": 4, "carbohydrates": 4, "fat": 9}


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def weeks_start(today: datetime.date, weeks: int) -> datetime.date:
    """The Monday that starts a period of `weeks` ISO weeks ending with today's week."""
    return today - datetime.timedelta(days=today.weekday() + 7 * (weeks - 1))


def _monday(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def _mondays(start: datetime.date, today: datetime.date) -> list[datetime.date]:
    mondays = []
    monday = _monday(start)
    while monday <= today:
        mondays.append(monday)
        monday += datetime.timedelta(days=7)
    return mondays


def _clock(minutes_after_noon: float) -> str:
    """A time of day from minutes after noon, written the active language's way ("11:10 p.m.", "23:10")."""
    total = round(minutes_after_noon + 12 * 60) % (24 * 60)
    return formats.time_format(datetime.time(total // 60, total % 60), "TIME_FORMAT")


def _minutes(value: float) -> str:
    rounded = round(value)
    return ngettext("%(count)d minute", "%(count)d minutes", rounded) % {"count": rounded}


# -- sleep ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Night:
    """The main sleep of one night: its date is the evening's, times are aware."""

    day: datetime.date
    bedtime: datetime.datetime
    wake: datetime.datetime
    asleep_minutes: float

    def _after_noon(self, moment: datetime.datetime) -> float:
        noon = datetime.datetime.combine(self.day, datetime.time(12), tzinfo=moment.tzinfo)
        return (moment - noon).total_seconds() / 60

    @property
    def bedtime_minutes(self) -> float:
        """Minutes from the evening's noon to falling asleep (23:00 is 660)."""
        return self._after_noon(self.bedtime)

    @property
    def wake_minutes(self) -> float:
        """Minutes from the evening's noon to waking up (07:00 the next morning is 1140)."""
        return self._after_noon(self.wake)


def nights_from_samples(samples: list[Sample], zone: datetime.tzinfo | None = None) -> list[Night]:
    """The main sleep of each night from sleep-stage samples, oldest first (pure).

    Asleep stages (asleep, core, deep, REM) are joined when less than two hours apart; a source that
    only says "in bed" is used as it is. Each night keeps its longest sleep, so an afternoon nap does
    not move a bedtime.
    """
    zone = zone or _zone()
    asleep = [sample for sample in samples if int(sample.value) in ASLEEP_CODES]
    if not asleep:
        asleep = [sample for sample in samples if int(sample.value) == SLEEP_STAGES["in_bed"]]
    asleep.sort(key=lambda sample: (sample.start, sample.end))
    clusters: list[list[Sample]] = []
    for sample in asleep:
        if clusters and sample.start - max(item.end for item in clusters[-1]) <= SLEEP_GAP:
            clusters[-1].append(sample)
        else:
            clusters.append([sample])
    nights: dict[datetime.date, Night] = {}
    for cluster in clusters:
        start = cluster[0].start.astimezone(zone)
        end = max(item.end for item in cluster).astimezone(zone)
        minutes = math.fsum((item.end - item.start).total_seconds() for item in cluster) / 60
        day = (start - NIGHT_PIVOT).date()
        night = Night(day=day, bedtime=start, wake=end, asleep_minutes=minutes)
        if day not in nights or minutes > nights[day].asleep_minutes:
            nights[day] = night
    return [nights[day] for day in sorted(nights)]


def _spread(values: list[float]) -> float | None:
    return statistics.pstdev(values) if len(values) >= 2 else None


@dataclass
class SleepWeek:
    monday: datetime.date
    nights: int
    bedtime_spread: float | None
    wake_spread: float | None
    bedtime_mean: float | None
    wake_mean: float | None


@dataclass
class SleepRegularity:
    """How much bedtime and wake-up time vary: standard deviations in minutes, and the usual times."""

    nights: int
    bedtime_mean: float | None = None
    bedtime_spread: float | None = None
    wake_mean: float | None = None
    wake_spread: float | None = None
    asleep_mean: float | None = None
    weeks: list[SleepWeek] = field(default_factory=list)

    @property
    def bedtime(self) -> str:
        return _clock(self.bedtime_mean) if self.bedtime_mean is not None else ""

    @property
    def wake_time(self) -> str:
        return _clock(self.wake_mean) if self.wake_mean is not None else ""


def sleep_regularity(nights: list[Night], *, start: datetime.date, today: datetime.date) -> SleepRegularity:
    """Bedtime and wake-up regularity over the nights from start to today, and per ISO week (pure)."""
    nights = [night for night in nights if start <= night.day <= today]
    result = SleepRegularity(nights=len(nights))
    if nights:
        bedtimes = [night.bedtime_minutes for night in nights]
        wakes = [night.wake_minutes for night in nights]
        result.bedtime_mean = statistics.fmean(bedtimes)
        result.wake_mean = statistics.fmean(wakes)
        result.bedtime_spread = _spread(bedtimes)
        result.wake_spread = _spread(wakes)
        result.asleep_mean = statistics.fmean(night.asleep_minutes for night in nights)
    for monday in _mondays(start, today):
        week = [night for night in nights if _monday(night.day) == monday]
        bedtimes = [night.bedtime_minutes for night in week]
        wakes = [night.wake_minutes for night in week]
        result.weeks.append(
            SleepWeek(
                monday=monday,
                nights=len(week),
                bedtime_spread=_spread(bedtimes),
                wake_spread=_spread(wakes),
                bedtime_mean=statistics.fmean(bedtimes) if bedtimes else None,
                wake_mean=statistics.fmean(wakes) if wakes else None,
            )
        )
    return result


def sleep_sentence(regularity: SleepRegularity, weeks: int) -> str:
    if regularity.nights < 2 or regularity.bedtime_spread is None:
        return _("Not enough nights of sleep data in the last %(weeks)d weeks to measure how regular it is.") % {
            "weeks": weeks
        }
    return ngettext(
        "Over %(nights)d night in the last %(weeks)d weeks, you usually fell asleep around %(bedtime)s (varying "
        "by about %(bedtime_spread)s) and woke up around %(wake)s (varying by about %(wake_spread)s).",
        "Over %(nights)d nights in the last %(weeks)d weeks, you usually fell asleep around %(bedtime)s (varying "
        "by about %(bedtime_spread)s) and woke up around %(wake)s (varying by about %(wake_spread)s).",
        regularity.nights,
    ) % {
        "nights": regularity.nights,
        "weeks": weeks,
        "bedtime": regularity.bedtime,
        "bedtime_spread": _minutes(regularity.bedtime_spread),
        "wake": regularity.wake_time,
        "wake_spread": _minutes(regularity.wake_spread),
    }


def sleep_for_user(*, user: User, start: datetime.date, today: datetime.date) -> SleepRegularity:
    """The owner's sleep regularity from start to today (one query: the nights' samples)."""
    # A night's samples start on its evening or after midnight: one more day is read.
    samples = samples_between(
        owner=user, metric="sleep", start=start - datetime.timedelta(days=1), end=today + datetime.timedelta(days=1)
    )
    return sleep_regularity(nights_from_samples(samples), start=start, today=today)


# -- activity ------------------------------------------------------------------------------------------------


@dataclass
class ActivityWeek:
    monday: datetime.date
    active_days: int
    days_with_data: int
    days: int  # days of the week in the period (today's week is partial)


@dataclass
class ActivityDays:
    threshold: int
    period_days: int
    active_days: int
    days_with_data: int
    weeks: list[ActivityWeek] = field(default_factory=list)

    @property
    def per_week(self) -> float | None:
        return self.active_days * 7 / self.period_days if self.period_days else None


def activity_weeks(
    daily_steps: list[tuple[datetime.date, float]], *, start: datetime.date, today: datetime.date, threshold: int
) -> ActivityDays:
    """Days at or over the step threshold, in all and per ISO week, from each day's steps (pure)."""
    steps = {day: value for day, value in daily_steps if start <= day <= today}
    result = ActivityDays(
        threshold=threshold,
        period_days=(today - start).days + 1,
        active_days=sum(1 for value in steps.values() if value >= threshold),
        days_with_data=len(steps),
    )
    for monday in _mondays(start, today):
        days = [monday + datetime.timedelta(days=offset) for offset in range(7)]
        days = [day for day in days if start <= day <= today]
        result.weeks.append(
            ActivityWeek(
                monday=monday,
                active_days=sum(1 for day in days if steps.get(day, 0) >= threshold),
                days_with_data=sum(1 for day in days if day in steps),
                days=len(days),
            )
        )
    return result


def activity_sentence(activity: ActivityDays, weeks: int) -> str:
    if not activity.days_with_data:
        return _("No step data in the last %(weeks)d weeks.") % {"weeks": weeks}
    with_data = ngettext(
        "%(with_data)d day with step data", "%(with_data)d days with step data", activity.days_with_data
    ) % {"with_data": activity.days_with_data}
    return ngettext(
        "In the last %(weeks)d weeks you reached %(threshold)s steps on %(active)d day, %(per_week)s days a week "
        "on average (%(with_data)s).",
        "In the last %(weeks)d weeks you reached %(threshold)s steps on %(active)d days, %(per_week)s days a week "
        "on average (%(with_data)s).",
        activity.active_days,
    ) % {
        "weeks": weeks,
        "threshold": format_number(activity.threshold, 0),
        "active": activity.active_days,
        "per_week": format_number(activity.per_week, 1),
        "with_data": with_data,
    }


def activity_for_user(*, user: User, start: datetime.date, today: datetime.date, threshold: int) -> ActivityDays:
    """The owner's active days from start to today (one query: daily step summaries)."""
    rows = daily_summaries(owner=user, metric="steps", start=start, end=today)
    return activity_weeks(
        [(day, summary.get("sum") or 0.0) for day, summary in rows], start=start, today=today, threshold=threshold
    )


# -- nutrition -----------------------------------------------------------------------------------------------


@dataclass
class NutritionWeek:
    monday: datetime.date
    days: int  # days with food logged (energy or a macronutrient)
    means: dict[str, float | None]  # per metric: average a logged day


@dataclass
class Nutrition:
    days: int
    means: dict[str, float | None]
    shares: dict[str, float] | None  # percent of the energy the three macronutrients bring
    weeks: list[NutritionWeek] = field(default_factory=list)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def nutrition_weeks(
    daily: dict[str, list[tuple[datetime.date, float]]], *, start: datetime.date, today: datetime.date
) -> Nutrition:
    """Daily energy and macronutrients averaged over the days with food logged, in all and per week (pure)."""
    by_metric = {
        metric: {day: value for day, value in daily.get(metric, []) if start <= day <= today}
        for metric in NUTRITION_METRICS
    }
    logged = sorted({day for values in by_metric.values() for day in values})
    result = Nutrition(
        days=len(logged),
        means={metric: _mean(list(values.values())) for metric, values in by_metric.items()},
        shares=None,
    )
    both = [day for day in logged if all(day in by_metric[metric] for metric in KCAL_PER_GRAM)]
    energy = {
        metric: math.fsum(by_metric[metric][day] * kcal for day in both) for metric, kcal in KCAL_PER_GRAM.items()
    }
    total = math.fsum(energy.values())
    if total > 0:
        result.shares = {metric: 100 * value / total for metric, value in energy.items()}
    for monday in _mondays(start, today):
        sunday = monday + datetime.timedelta(days=6)
        days = [day for day in logged if monday <= day <= sunday]
        result.weeks.append(
            NutritionWeek(
                monday=monday,
                days=len(days),
                means={
                    metric: _mean([value for day, value in values.items() if monday <= day <= sunday])
                    for metric, values in by_metric.items()
                },
            )
        )
    return result


def nutrition_sentence(nutrition: Nutrition, weeks: int) -> str:
    energy = nutrition.means.get("dietary_energy")
    if not nutrition.days:
        return _("No food logged in the last %(weeks)d weeks.") % {"weeks": weeks}
    parts = []
    if energy is not None:
        parts.append(
            ngettext(
                "On the %(days)d day with food logged in the last %(weeks)d weeks, you ate %(energy)s a day on "
                "average.",
                "On the %(days)d days with food logged in the last %(weeks)d weeks, you ate %(energy)s a day on "
                "average.",
                nutrition.days,
            )
            % {"days": nutrition.days, "weeks": weeks, "energy": format_amount(energy, "kcal", 0)}
        )
    if nutrition.shares:
        parts.append(
            _(
                "Protein brought %(protein)s %% of the energy of the macronutrients, carbohydrates "
                "%(carbohydrates)s %%, fat %(fat)s %%."
            )
            % {metric: format_number(share, 0) for metric, share in nutrition.shares.items()}
        )
    if not parts:
        return ngettext(
            "%(days)d day with food logged in the last %(weeks)d weeks.",
            "%(days)d days with food logged in the last %(weeks)d weeks.",
            nutrition.days,
        ) % {"days": nutrition.days, "weeks": weeks}
    return " ".join(parts)


def nutrition_for_user(*, user: User, start: datetime.date, today: datetime.date) -> Nutrition:
    """The owner's daily energy and macronutrients from start to today (one query per metric)."""
    daily = {
        metric: [
            (day, summary["sum"])
            for day, summary in daily_summaries(owner=user, metric=metric, start=start, end=today)
            if summary.get("sum") is not None
        ]
        for metric in NUTRITION_METRICS
    }
    return nutrition_weeks(daily, start=start, today=today)


# -- the page ------------------------------------------------------------------------------------------------


@dataclass
class HabitChart:
    chart: Chart
    sentence: str = ""


@dataclass
class Habits:
    weeks: int
    start: datetime.date
    today: datetime.date
    threshold: int
    sleep: SleepRegularity
    activity: ActivityDays
    nutrition: Nutrition
    sleep_sentence: str
    activity_sentence: str
    nutrition_sentence: str
    charts: dict[str, list[Chart]]


def _bars(points, *, title: str, unit: str, decimals: int = 0) -> Chart:
    return line_chart(points, title=title, unit=unit, bars=True, decimals=decimals)


def habits_for_user(
    *,
    user: User,
    weeks: int = DEFAULT_WEEKS,
    threshold: int = DEFAULT_STEP_THRESHOLD,
    today: datetime.date | None = None,
) -> Habits:
    """Sleep regularity, activity days and nutrition over the last weeks, with weekly charts and sentences."""
    today = today or timezone.localdate()
    start = weeks_start(today, weeks)
    sleep = sleep_for_user(user=user, start=start, today=today)
    activity = activity_for_user(user=user, start=start, today=today, threshold=threshold)
    nutrition = nutrition_for_user(user=user, start=start, today=today)
    charts: dict[str, list[Chart]] = {"sleep": [], "activity": [], "nutrition": []}
    if sleep.nights:
        charts["sleep"] = [
            _bars(
                [(week.monday, week.bedtime_spread) for week in sleep.weeks],
                title=_("How much bedtime varied, by week"),
                unit="min",
            ),
            _bars(
                [(week.monday, week.wake_spread) for week in sleep.weeks],
                title=_("How much wake-up time varied, by week"),
                unit="min",
            ),
        ]
    if activity.days_with_data:
        charts["activity"] = [
            _bars(
                [(week.monday, week.active_days if week.days_with_data else None) for week in activity.weeks],
                title=_("Days with %(steps)s steps or more, by week") % {"steps": format_number(threshold, 0)},
                unit=_("days"),
            )
        ]
    if nutrition.days:
        titles = {
            "dietary_energy": (_("Energy eaten a day, weekly average"), "kcal"),
            "protein": (_("Protein a day, weekly average"), "g"),
            "carbohydrates": (_("Carbohydrates a day, weekly average"), "g"),
            "fat": (_("Fat a day, weekly average"), "g"),
        }
        charts["nutrition"] = [
            _bars([(week.monday, week.means[metric]) for week in nutrition.weeks], title=title, unit=unit)
            for metric, (title, unit) in titles.items()
            if nutrition.means[metric] is not None
        ]
    return Habits(
        weeks=weeks,
        start=start,
        today=today,
        threshold=threshold,
        sleep=sleep,
        activity=activity,
        nutrition=nutrition,
        sleep_sentence=sleep_sentence(sleep, weeks),
        activity_sentence=activity_sentence(activity, weeks),
        nutrition_sentence=nutrition_sentence(nutrition, weeks),
        charts=charts,
    )
