"""Numbers behind the charts: summary statistics, localised number formatting and trend sentences.

A series is a list of `(date, value)` or `(date, min, mean, max)` tuples; `None` values are gaps.
Nothing here judges a value (no "good", "bad" or "normal"): only numbers and direction.
"""

import datetime
import math
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from django.utils.formats import number_format
from django.utils.translation import ngettext

# Fewer points leave fewer than two degrees of freedom for the scatter around the fitted line.
MIN_TREND_POINTS = 4
MAX_DECIMALS = 6

Row = tuple[datetime.date, float | None, float | None, float | None]


def _number(value) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def unpack_point(point: Sequence) -> Row:
    """Normalise a `(date, value)` or `(date, min, mean, max)` tuple to `(date, low, mid, high)`."""
    if len(point) == 2:
        value = _number(point[1])
        return point[0], value, value, value
    day, low, mid, high = point
    mid = _number(mid)
    if mid is None:
        return day, None, None, None
    low, high = _number(low), _number(high)
    return day, mid if low is None else low, mid, mid if high is None else high


def valued_rows(points: Iterable[Sequence]) -> list[Row]:
    """The points that hold a value, normalised and sorted by date."""
    rows = (unpack_point(point) for point in points)
    return sorted((row for row in rows if row[2] is not None), key=lambda row: row[0])


def stats(points: Iterable[Sequence]) -> dict:
    """Lowest, highest, average and last value and the count of valued points (min/max of ranges)."""
    return rows_stats(valued_rows(points))


def rows_stats(rows: Sequence[Row]) -> dict:
    """`stats` of rows already normalised and sorted by `valued_rows`."""
    if not rows:
        return {"min": None, "max": None, "mean": None, "last": None, "count": 0}
    return {
        "min": min(row[1] for row in rows),
        "max": max(row[3] for row in rows),
        "mean": math.fsum(row[2] for row in rows) / len(rows),
        "last": rows[-1][2],
        "count": len(rows),
    }


def value_decimals(values: Iterable[float]) -> int:
    """Decimals worth showing: those the data carries, fewer for large magnitudes (0 for bpm and steps)."""
    # Measurements repeat (heart rate, steps), so checking each distinct value once keeps years of data fast.
    values = set(values)
    if not values:
        return 0
    magnitude = max(abs(value) for value in values)
    # A 4-digit value gains nothing from decimals and a weight needs one; below 10 keep two significant digits.
    if magnitude >= 1000:
        cap = 0
    elif magnitude >= 10:
        cap = 1
    elif magnitude >= 1 or magnitude == 0:
        cap = 2
    else:
        cap = min(MAX_DECIMALS, 1 - math.floor(math.log10(magnitude)))
    present = 0
    for value in values:
        while present < cap and abs(round(value, present) - value) > 1e-9 * max(1.0, abs(value)):
            present += 1
        if present == cap:
            break
    return present


def format_number(value: float, decimals: int) -> str:
    """A number rounded half up to `decimals` and written the active language's way (1,234.5 / 1 234,5)."""
    if abs(value) >= 1e15:
        # Beyond Decimal's default precision; no health measurement is this large, but a bad import must not crash.
        return number_format(float(value), decimal_pos=decimals, use_l10n=True, force_grouping=True)
    # repr() is the shortest exact spelling, so 70.5 rounds to 71 and 4.45 to 4.5 as a person expects.
    number = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    # A rounded negative zero would print as "-0".
    number = number.copy_abs() if number.is_zero() else number
    return number_format(number, decimal_pos=decimals, use_l10n=True, force_grouping=True)


def format_amount(value: float, unit: str, decimals: int) -> str:
    """A localised number followed by its unit, joined by a no-break space so they never wrap apart."""
    number = format_number(value, decimals)
    return f"{number}\N{NO-BREAK SPACE}{unit}" if unit else number


def _fitted_change(rows: list[Row]) -> tuple[float, float]:
    """Least-squares change over the data's span and the threshold below which it counts as stable."""
    first = rows[0][0].toordinal()
    xs = [row[0].toordinal() - first for row in rows]
    ys = [row[2] for row in rows]
    n = len(rows)
    mean_x = math.fsum(xs) / n
    mean_y = math.fsum(ys) / n
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    slope = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    residual_sd = math.sqrt(
        math.fsum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in zip(xs, ys, strict=True)) / (n - 2)
    )
    span = xs[-1] - xs[0]
    change = slope * span
    # Stable when the change is within the typical day-to-day scatter (residual SD: a person would not notice
    # it) or within twice its standard error (it cannot be told from noise with this few points).
    threshold = max(residual_sd, 2 * residual_sd / math.sqrt(sxx) * span)
    return change, threshold


def trend_direction(points: Sequence[Sequence]) -> str:
    """The direction of a series, "up", "down" or "stable", by `trend_sentence`'s rule; "" with too few points."""
    rows = valued_rows(points)
    if len(rows) < MIN_TREND_POINTS or rows[0][0] == rows[-1][0]:
        return ""
    change, threshold = _fitted_change(rows)
    if abs(change) <= threshold:
        return "stable"
    return "up" if change > 0 else "down"


def trend_sentence(points: Sequence[Sequence], *, metric_label: str, unit: str, period_days: int) -> str:
    """A sentence in the active language giving the direction of a series over the period, or saying too little data."""
    rows = valued_rows(points)
    days = format_number(period_days, 0)
    if len(rows) < MIN_TREND_POINTS or rows[0][0] == rows[-1][0]:
        return ngettext(
            "%(metric)s: not enough data for a trend over %(days)s day",
            "%(metric)s: not enough data for a trend over %(days)s days",
            period_days,
        ) % {"metric": metric_label, "days": days}
    change, threshold = _fitted_change(rows)
    decimals = value_decimals(value for row in rows for value in (row[1], row[3]))
    if abs(change) <= threshold or format_number(abs(change), decimals) == format_number(0, decimals):
        return ngettext("%(metric)s stable over %(days)s day", "%(metric)s stable over %(days)s days", period_days) % {
            "metric": metric_label,
            "days": days,
        }
    params = {"metric": metric_label, "amount": format_amount(abs(change), unit, decimals), "days": days}
    if change > 0:
        return (
            ngettext(
                "%(metric)s up %(amount)s over %(days)s day", "%(metric)s up %(amount)s over %(days)s days", period_days
            )
            % params
        )
    return (
        ngettext(
            "%(metric)s down %(amount)s over %(days)s day", "%(metric)s down %(amount)s over %(days)s days", period_days
        )
        % params
    )
