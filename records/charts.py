"""Server-side SVG charts: accessible, printable, CSP-safe (no script, no style attribute, no external reference).

The SVG is built with plain string joins rather than templates so that five years of daily points render in a few
milliseconds; every piece of text goes through `escape`. Colours live in static/css/charts.css; the presentation
attributes here are only fallbacks so a chart stays legible if that sheet is missing.
"""

import datetime
import math
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import dateformat
from django.utils.formats import date_format, get_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from records.trends import format_amount, format_number, rows_stats, unpack_point, value_decimals

# More points than this cannot be told apart on a 640-pixel chart; buckets keep each one's extremes.
MAX_POINTS = 400
# Below this many plotted points each one gets a dot, so sparse measurements (lab results) stay visible.
MAX_DOTS = 60
# A missing stretch longer than this many usual steps between points breaks the line.
GAP_STEPS = 1.5
CHAR_WIDTH = 6.5
TICK_SPACING = 80

# (unit, step, approximate days per step); the first that fits the width wins.
_DATE_STEPS = [
    ("day", 1, 1),
    ("day", 2, 2),
    ("week", 1, 7),
    ("week", 2, 14),
    ("month", 1, 30.4),
    ("month", 2, 60.9),
    ("month", 3, 91.3),
    ("month", 6, 182.6),
    ("year", 1, 365.25),
    ("year", 2, 730.5),
    ("year", 5, 1826.25),
    ("year", 10, 3652.5),
    ("year", 25, 9131.25),
]

_FALLBACK = {
    "chart-band": ' fill="#e7f1ed"',
    "chart-range": ' fill="#0b6e4f" fill-opacity="0.18"',
    "chart-grid": ' stroke="#d9dee5"',
    "chart-axis": ' stroke="#5b6675"',
    "chart-line": ' fill="none" stroke="#0b6e4f" stroke-width="2" stroke-linejoin="round"',
    "chart-bar": ' fill="#0b6e4f"',
    "chart-point": ' fill="#ffffff" stroke="#0b6e4f" stroke-width="1.5"',
    "chart-point-out": ' fill="#9a6700" stroke="#ffffff" stroke-width="1"',
    "chart-text": ' fill="#5b6675" font-size="12"',
    "chart-title": ' fill="#1b2430" font-size="14" font-weight="600"',
    "chart-frame": ' fill="none" stroke="#d9dee5"',
}


@dataclass(frozen=True)
class Chart:
    """A rendered chart: the `<svg>` markup and the same text alternative as a plain sentence."""

    svg: SafeString
    summary: str

    def __html__(self) -> SafeString:
        return self.svg


def _f(number: float) -> str:
    return f"{number:.1f}"


def _text(x: float, y: float, text: str, *, cls: str = "chart-text", anchor: str = "start") -> str:
    return f'<text class="{cls}" x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{_FALLBACK[cls]}>{escape(text)}</text>'


def _diamond(x: float, y: float, r: float = 5.0, cls: str = "chart-point-out") -> str:
    return (
        f'<path class="{cls}" d="M{_f(x)} {_f(y - r)}L{_f(x + r)} {_f(y)}L{_f(x)} {_f(y + r)}'
        f'L{_f(x - r)} {_f(y)}Z"{_FALLBACK["chart-point-out"]}/>'
    )


def _fit(text: str, width: float) -> str:
    limit = max(4, int(width / (CHAR_WIDTH + 1)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], int]:
    """Round-number ticks covering [low, high], and the decimals they need."""
    if high - low < 1e-9:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / (count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * 0.999)
    decimals = next(d for d in range(8) if abs(round(step, d) - step) < 1e-9 * max(1.0, step))
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, decimals) for i in range(first, last + 1)], decimals


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def _date_ticks(start: int, end: int, max_ticks: int) -> list[tuple[int, str]]:
    """Date ticks as (ordinal, label) at calendar boundaries: days, Mondays, month starts or years."""
    span = max(end - start, 1)
    unit, step, _ = next(
        (candidate for candidate in _DATE_STEPS if span // candidate[2] + 1 <= max_ticks), _DATE_STEPS[-1]
    )
    first = datetime.date.fromordinal(start)
    if unit == "day":
        days = [first + datetime.timedelta(days=i) for i in range(0, span + 1, step)]
    elif unit == "week":
        monday = first + datetime.timedelta(days=-first.weekday() % 7)
        days = [monday + datetime.timedelta(days=i) for i in range(0, end - monday.toordinal() + 1, 7 * step)]
    elif unit == "month":
        day = first if first.day == 1 else _add_months(first, 1)
        day = _add_months(day, -(day.month - 1) % step)
        days = []
        while day.toordinal() <= end:
            if day.toordinal() >= start:
                days.append(day)
            day = _add_months(day, step)
    else:
        year = first.year + (first.month > 1 or first.day > 1)
        year += -year % step
        days = [datetime.date(y, 1, 1) for y in range(year, datetime.date.fromordinal(end).year + 1, step)]
    # Abbreviated month names ("Sept. 3" / "3 sept.") in the active language's order keep labels narrow.
    if unit in ("day", "week"):
        pattern = get_format("MONTH_DAY_FORMAT").replace("F", "N")
    elif unit == "month":
        pattern = get_format("YEAR_MONTH_FORMAT").replace("F", "N")
    else:
        pattern = "Y"
    return [(day.toordinal(), dateformat.format(day, pattern)) for day in days]


def _series(rows, *, threshold: float, buckets: int, width_days: float, start: int, keep_extremes: bool):
    """Split valued rows into unbroken segments of (ordinal, low, mid, high), downsampled to the buckets."""
    segments: list[list[tuple[float, float, float, float]]] = []
    group: list = []
    previous = None
    current_bucket = None

    def flush():
        if not group:
            return
        if not keep_extremes:
            # Bars and ranges keep their per-point unit (steps a day), so a bucket averages rather than sums.
            if len(group) == 1:
                segments[-1].append(group[0])
            else:
                segments[-1].append(
                    (
                        math.fsum(p[0] for p in group) / len(group),
                        min(p[1] for p in group),
                        math.fsum(p[2] for p in group) / len(group),
                        max(p[3] for p in group),
                    )
                )
        else:
            lowest = min(group, key=lambda p: p[2])
            highest = max(group, key=lambda p: p[2])
            segments[-1].extend(sorted({lowest, highest}, key=lambda p: p[0]))
        group.clear()

    for day, low, mid, high in rows:
        ordinal = day.toordinal()
        if previous is None or ordinal - previous > threshold:
            flush()
            segments.append([])
            current_bucket = None
        previous = ordinal
        point = (float(ordinal), low, mid, high)
        if buckets == 0:
            segments[-1].append(point)
            continue
        bucket = int((ordinal - start) / width_days)
        if bucket != current_bucket:
            flush()
            current_bucket = bucket
        group.append(point)
    flush()
    return segments


def _summary(title, rows, unit, decimals, low, high, out_count, *, aggregated: bool) -> str:
    """The text alternative: period, count, lowest, highest, average, last value and the reference range."""
    if not rows:
        return gettext("%(title)s: no data for this period.") % {"title": title}
    values = rows_stats(rows)
    first, last = date_format(rows[0][0]), date_format(rows[-1][0])
    params = {"title": title, "start": first, "end": last, "count": format_number(values["count"], 0)}
    if first == last:
        text = ngettext(
            "%(title)s on %(start)s: %(count)s value.", "%(title)s on %(start)s: %(count)s values.", values["count"]
        )
    else:
        text = ngettext(
            "%(title)s from %(start)s to %(end)s: %(count)s value.",
            "%(title)s from %(start)s to %(end)s: %(count)s values.",
            values["count"],
        )
    numbers = {key: format_amount(values[key], unit, decimals) for key in ("min", "max", "mean", "last")}
    if aggregated:
        text2 = gettext("Lowest %(min)s, highest %(max)s, average %(mean)s, last average %(last)s on %(date)s.")
    else:
        text2 = gettext("Lowest %(min)s, highest %(max)s, average %(mean)s, last %(last)s on %(date)s.")
    parts = [text % params, text2 % {**numbers, "date": last}]
    if low is not None or high is not None:
        band = {"count": format_number(out_count, 0), "range": _range_text(low, high, unit, decimals)}
        # Ranged series mark their averages, so the sentence says so: a day's low may be outside, its average not.
        if aggregated and out_count:
            text3 = ngettext(
                "%(count)s average outside the reference range (%(range)s).",
                "%(count)s averages outside the reference range (%(range)s).",
                out_count,
            )
        elif aggregated:
            text3 = gettext("All averages within the reference range (%(range)s).")
        elif out_count:
            text3 = ngettext(
                "%(count)s value outside the reference range (%(range)s).",
                "%(count)s values outside the reference range (%(range)s).",
                out_count,
            )
        else:
            text3 = gettext("All values within the reference range (%(range)s).")
        parts.append(text3 % band)
    return " ".join(parts)


def _range_text(low, high, unit, decimals) -> str:
    if low is not None and high is not None:
        return f"{format_number(low, decimals)}–{format_amount(high, unit, decimals)}"
    if low is not None:
        return gettext("at least %(value)s") % {"value": format_amount(low, unit, decimals)}
    return gettext("at most %(value)s") % {"value": format_amount(high, unit, decimals)}


def _open_svg(width: int, height: int, title: str, summary: str) -> tuple[list[str], str]:
    uid = uuid.uuid4().hex[:10]
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="chart-{uid}-title chart-{uid}-desc">',
        f'<title id="chart-{uid}-title">{escape(title)}</title>',
        f'<desc id="chart-{uid}-desc">{escape(summary)}</desc>',
        _text(0, 16, _fit(title, width), cls="chart-title"),
    ]
    return parts, uid


def _empty_chart(title: str, summary: str, width: int, height: int) -> Chart:
    parts, _ = _open_svg(width, height, title, summary)
    parts.append(
        f'<rect class="chart-frame" x="0.5" y="28.5" width="{width - 1}" height="{height - 29}" rx="6"'
        f"{_FALLBACK['chart-frame']}/>"
    )
    parts.append(_text(width / 2, (height + 28) / 2 + 4, gettext("No data for this period"), anchor="middle"))
    parts.append("</svg>")
    return Chart(svg=mark_safe("".join(parts)), summary=summary)  # every text part is escaped


def line_chart(
    points: Sequence[Sequence],
    *,
    title: str,
    unit: str,
    reference_low: float | None = None,
    reference_high: float | None = None,
    width: int = 640,
    height: int = 240,
    y_label: str | None = None,
    band_label: str | None = None,
    bars: bool = False,
    decimals: int | None = None,
) -> Chart:
    """An accessible SVG line (or bar) chart of dated values or (min, mean, max) ranges, with its text summary."""
    points = list(points)
    all_rows = sorted((unpack_point(point) for point in points), key=lambda row: row[0])
    rows = [row for row in all_rows if row[2] is not None]
    aggregated = any(len(point) == 4 for point in points)
    if decimals is None:
        decimals = value_decimals(value for row in rows for value in (row[1], row[3]))
    low, high = reference_low, reference_high
    has_band = low is not None or high is not None

    def outside(value: float) -> bool:
        return (low is not None and value < low) or (high is not None and value > high)

    out_count = sum(1 for row in rows if outside(row[2])) if has_band else 0
    summary = _summary(title, rows, unit, decimals, low, high, out_count, aggregated=aggregated)
    if not rows:
        return _empty_chart(title, summary, width, height)

    # The x domain includes valueless rows, so callers can pin the period with (start, None) and (end, None).
    start, end = all_rows[0][0].toordinal(), all_rows[-1][0].toordinal()
    ordinals = sorted({row[0].toordinal() for row in all_rows})
    step = statistics.median(b - a for a, b in zip(ordinals, ordinals[1:], strict=False)) if len(ordinals) > 1 else 1
    if bars or start == end:
        start, end = start - step / 2, end + step / 2
    span = end - start

    # Layout: title row, unit and legend row, plot, date labels.
    value_lows = [row[1] for row in rows]
    value_highs = [row[3] for row in rows]
    y_min, y_max = min(value_lows), max(value_highs)
    for limit in (low, high):
        if limit is not None:
            y_min, y_max = min(y_min, limit), max(y_max, limit)
    if bars:
        y_min, y_max = min(y_min, 0.0), max(y_max, 0.0)
    y_ticks, tick_decimals = _nice_ticks(y_min, y_max)
    y_labels = [format_number(tick, tick_decimals) for tick in y_ticks]
    left = max(len(label) for label in y_labels) * CHAR_WIDTH + 14
    right, top, bottom = 18, 48, 24
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    plot_w, plot_h = x1 - x0, y1 - y0
    d_low, d_high = y_ticks[0], y_ticks[-1]
    x_scale = plot_w / span if span else 0
    y_scale = plot_h / (d_high - d_low)

    def px(ordinal: float) -> float:
        return x0 + (ordinal - start) * x_scale

    def py(value: float) -> float:
        return y1 - (value - d_low) * y_scale

    # Downsample only when points outnumber what the width can show; lines keep each bucket's lowest and highest.
    keep_extremes = not (aggregated or bars)
    buckets = 0
    if len(rows) > MAX_POINTS:
        buckets = MAX_POINTS // 2 if keep_extremes else MAX_POINTS
    width_days = (span + 1) / buckets if buckets else 0
    threshold = max(step * GAP_STEPS, width_days)
    segments = _series(
        rows, threshold=threshold, buckets=buckets, width_days=width_days, start=start, keep_extremes=keep_extremes
    )

    parts, _ = _open_svg(width, height, title, summary)
    axis_label = f"{y_label} ({unit})" if y_label and unit else y_label or unit
    if axis_label:
        parts.append(_text(0, 38, _fit(axis_label, width / 2)))

    legend: list[tuple[str, str]] = []
    if has_band:
        band_top = py(d_high if high is None else high)
        band_bottom = py(d_low if low is None else low)
        parts.append(
            f'<rect class="chart-band" x="{_f(x0)}" y="{_f(band_top)}" width="{_f(plot_w)}" '
            f'height="{_f(band_bottom - band_top)}"{_FALLBACK["chart-band"]}/>'
        )
        text = band_label or gettext("Reference range %(range)s") % {"range": _range_text(low, high, unit, decimals)}
        legend.append(("band", text))

    parts.append('<g class="chart-y-ticks">')
    for tick, label in zip(y_ticks, y_labels, strict=True):
        y = py(tick)
        parts.append(f'<path class="chart-grid" d="M{_f(x0)} {_f(y)}H{_f(x1)}"{_FALLBACK["chart-grid"]}/>')
        parts.append(_text(x0 - 6, y + 4, label, anchor="end"))
    parts.append("</g>")
    parts.append(f'<path class="chart-axis" d="M{_f(x0)} {_f(y0)}V{_f(y1)}H{_f(x1)}"{_FALLBACK["chart-axis"]}/>')
    max_ticks = max(2, int(plot_w // TICK_SPACING))
    parts.append('<g class="chart-x-ticks">')
    for ordinal, label in _date_ticks(math.ceil(start), math.floor(end), max_ticks):
        x = px(ordinal)
        half = len(label) * CHAR_WIDTH / 2
        anchor = "end" if x + half > width else "start" if x - half < 0 else "middle"
        parts.append(f'<path class="chart-axis" d="M{_f(x)} {_f(y1)}v4"{_FALLBACK["chart-axis"]}/>')
        parts.append(_text(x, y1 + 17, label, anchor=anchor))
    parts.append("</g>")

    plotted = [point for segment in segments for point in segment]
    marks: list[str] = []
    if bars:
        bar_w = max(1.0, max(step, width_days) * x_scale * 0.8)
        base = py(max(d_low, 0.0))
        for ordinal, _, mid, _ in plotted:
            top_y = py(mid)
            y, h = min(top_y, base), abs(base - top_y)
            parts.append(
                f'<rect class="chart-bar" x="{_f(px(ordinal) - bar_w / 2)}" y="{_f(y)}" width="{_f(bar_w)}" '
                f'height="{_f(h)}"{_FALLBACK["chart-bar"]}/>'
            )
            if has_band and outside(mid):
                marks.append(_diamond(px(ordinal), top_y - 7))
    else:
        if aggregated:
            legend.append(("range", gettext("Lowest to highest")))
            legend.append(("line", gettext("Average")))
            for segment in segments:
                if len(segment) == 1:
                    ordinal, seg_low, _, seg_high = segment[0]
                    parts.append(
                        f'<rect class="chart-range" x="{_f(px(ordinal) - 2)}" y="{_f(py(seg_high))}" width="4" '
                        f'height="{_f(py(seg_low) - py(seg_high))}"{_FALLBACK["chart-range"]}/>'
                    )
                else:
                    upper = "L".join(f"{_f(px(p[0]))} {_f(py(p[3]))}" for p in segment)
                    lower = "L".join(f"{_f(px(p[0]))} {_f(py(p[1]))}" for p in reversed(segment))
                    parts.append(f'<path class="chart-range" d="M{upper}L{lower}Z"{_FALLBACK["chart-range"]}/>')
        for segment in segments:
            if len(segment) > 1:
                path = "L".join(f"{_f(px(p[0]))} {_f(py(p[2]))}" for p in segment)
                parts.append(f'<path class="chart-line" d="M{path}"{_FALLBACK["chart-line"]}/>')
        dots = len(plotted) <= MAX_DOTS
        for segment in segments:
            for ordinal, _, mid, _ in segment:
                x, y = px(ordinal), py(mid)
                if has_band and outside(mid):
                    marks.append(_diamond(x, y))
                elif dots or len(segment) == 1:
                    marks.append(
                        f'<circle class="chart-point" cx="{_f(x)}" cy="{_f(y)}" r="3"{_FALLBACK["chart-point"]}/>'
                    )
    parts.extend(marks)
    if any(mark.startswith('<path class="chart-point-out"') for mark in marks):
        legend.append(("out", gettext("Outside the reference range")))
    parts.extend(_legend(legend, width - right))
    parts.append("</svg>")
    return Chart(svg=mark_safe("".join(parts)), summary=summary)  # every text part is escaped


def _legend(entries: list[tuple[str, str]], right_edge: float) -> list[str]:
    """Legend entries laid out right to left on the unit row, each a swatch then its label."""
    # Swatches carry an extra class so they are never counted or styled as plotted data.
    parts: list[str] = []
    x = right_edge
    y = 38
    for kind, label in reversed(entries):
        x -= len(label) * CHAR_WIDTH
        parts.append(_text(x, y, label))
        x -= 18
        if kind in ("band", "range"):
            cls = f"chart-{kind}"
            parts.append(
                f'<rect class="{cls} chart-swatch" x="{_f(x)}" y="{y - 10}" width="14" height="12"{_FALLBACK[cls]}/>'
            )
        elif kind == "line":
            parts.append(f'<path class="chart-line chart-swatch" d="M{_f(x)} {y - 4}h14"{_FALLBACK["chart-line"]}/>')
        else:
            parts.append(_diamond(x + 7, y - 4, cls="chart-point-out chart-swatch"))
        x -= 14
    return parts
