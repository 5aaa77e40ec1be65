"""Server-drawn SVG charts and trend sentences: accessible, CSP-safe, localised, fast on years of data."""

import datetime
import re
import xml.etree.ElementTree as ET

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from records.charts import line_chart
from records.trends import stats, trend_sentence

START = datetime.date(2024, 1, 1)


def daily(values, start=START):
    return [(start + datetime.timedelta(days=i), value) for i, value in enumerate(values)]


def parse(chart):
    # The input is this module's own output, and parsing it is the point of the test.
    return ET.fromstring(str(chart.svg))  # noqa: S314


def by_class(root, tag, cls):
    """Plotted elements whose class is exactly `cls` (legend swatches carry an extra class)."""
    return [element for element in root.iter(tag) if element.get("class") == cls]


def texts(root):
    return [element.text for element in root.iter("text")]


def test_svg_is_an_accessible_image_with_a_text_alternative():
    chart = line_chart(daily([62, 60, 61, 59]), title="Resting heart rate", unit="bpm")
    root = parse(chart)

    assert root.tag == "svg"
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.find(f"title[@id='{title_id}']").text == "Resting heart rate"
    desc = root.find(f"desc[@id='{desc_id}']").text
    assert desc == chart.summary
    assert "Jan. 1, 2024" in desc and "Jan. 4, 2024" in desc and "4 values" in desc
    # The mean 60.5 rounds half up, as a person would.
    assert "Lowest 59\N{NO-BREAK SPACE}bpm, highest 62\N{NO-BREAK SPACE}bpm, average 61\N{NO-BREAK SPACE}bpm" in desc


def test_svg_is_safe_under_a_strict_content_security_policy():
    chart = line_chart(daily([1.5, 2.5, None, 3.0]), title="Glucose", unit="mmol/L", reference_high=2)
    svg = str(chart.svg)

    assert by_class(parse(chart), "path", "chart-line")
    for forbidden in ("style=", "<script", "javascript:", "http", "href", "url("):
        assert forbidden not in svg


def test_user_supplied_title_is_escaped():
    title = '<script>alert("x")</script> & <b>co</b>'
    chart = line_chart(daily([70.1, 70.4]), title=title, unit="kg")

    assert "<script" not in chart.svg and "<b>" not in chart.svg
    root = parse(chart)
    assert root.find("title").text == title
    assert title in texts(root)


def test_reference_band_is_drawn_and_points_outside_it_are_marked_with_another_shape():
    chart = line_chart(daily([55, 62, 64, 75]), title="Heart rate", unit="bpm", reference_low=60, reference_high=70)
    root = parse(chart)

    assert len(by_class(root, "rect", "chart-band")) == 1
    assert len(by_class(root, "path", "chart-point-out")) == 2
    # In-range points are circles, out-of-range ones diamonds: the difference is not only colour.
    assert len(by_class(root, "circle", "chart-point")) == 2
    assert "Outside the reference range" in texts(root)
    assert "Reference range 60–70\N{NO-BREAK SPACE}bpm" in texts(root)
    assert "2 values outside the reference range (60–70\N{NO-BREAK SPACE}bpm)." in chart.summary


def test_no_band_or_marks_without_reference_limits():
    root = parse(line_chart(daily([55, 62, 64, 75]), title="Heart rate", unit="bpm"))

    assert len(by_class(root, "circle", "chart-point")) == 4
    assert not by_class(root, "rect", "chart-band")
    assert not by_class(root, "path", "chart-point-out")


def test_band_label_replaces_the_default_legend():
    root = parse(line_chart(daily([5, 6]), title="Sleep", unit="h", reference_low=7, band_label="My target"))

    assert "My target" in texts(root)


@pytest.mark.parametrize(
    "points",
    [
        daily([70, 71, None, 72, 73]),
        daily([70, 71]) + daily([72, 73], start=START + datetime.timedelta(days=10)),
    ],
    ids=["none-value", "missing-days"],
)
def test_gaps_in_the_data_are_not_joined(points):
    root = parse(line_chart(points, title="Weight", unit="kg"))

    assert len(by_class(root, "path", "chart-line")) == 2


def test_consecutive_days_form_one_line():
    root = parse(line_chart(daily([70, 71, 72, 73, 72]), title="Weight", unit="kg"))

    assert len(by_class(root, "path", "chart-line")) == 1


@pytest.mark.parametrize("points", [[], daily([None, None])], ids=["no-points", "only-gaps"])
def test_empty_series_shows_the_empty_state(points):
    chart = line_chart(points, title="Blood glucose", unit="mmol/L")
    root = parse(chart)

    assert "No data for this period" in texts(root)
    assert not by_class(root, "path", "chart-line")
    assert chart.summary == "Blood glucose: no data for this period."
    assert root.find("desc").text == chart.summary


def test_french_uses_french_month_names_and_comma_decimals():
    points = [(START + datetime.timedelta(days=7 * i), 72.4 + 0.1 * (i % 3)) for i in range(26)]
    with translation.override("fr"):
        chart = line_chart(points, title="Poids", unit="kg")
    labels = texts(parse(chart))

    assert "mars 2024" in labels
    assert "1 janvier 2024" in chart.summary
    assert "72,4\N{NO-BREAK SPACE}kg" in chart.summary
    assert "72.4" not in chart.summary


def test_english_formats_the_same_chart_the_english_way():
    points = [(START + datetime.timedelta(days=7 * i), 72.4 + 0.1 * (i % 3)) for i in range(26)]
    chart = line_chart(points, title="Weight", unit="kg")

    assert "March 2024" in texts(parse(chart))
    assert "Jan. 1, 2024" in chart.summary
    assert "72.4\N{NO-BREAK SPACE}kg" in chart.summary


@pytest.mark.parametrize("days", [7, 30, 90, 365, 1826])
def test_date_axis_has_a_readable_number_of_ticks(days):
    root = parse(line_chart(daily([60 + i % 5 for i in range(days)]), title="Heart rate", unit="bpm"))

    assert 3 <= len(texts(root.find("g[@class='chart-x-ticks']"))) <= 8


def test_value_axis_ticks_are_round_numbers():
    root = parse(line_chart(daily([57, 63, 68, 73]), title="Heart rate", unit="bpm"))

    labels = texts(root.find("g[@class='chart-y-ticks']"))
    assert labels and all(int(label) % 5 == 0 for label in labels)


def test_heart_rate_is_shown_in_whole_numbers_and_weight_with_one_decimal():
    heart = line_chart(daily([60, 61, 63]), title="Heart rate", unit="bpm").summary
    weight = line_chart(daily([72.43, 72.61]), title="Weight", unit="kg").summary

    assert "average 61\N{NO-BREAK SPACE}bpm" in heart
    assert "average 72.5\N{NO-BREAK SPACE}kg" in weight


def test_five_years_of_daily_points_are_downsampled_keeping_extremes():
    values = [60 + (i * 7) % 11 for i in range(1826)]
    values[1000] = 150
    chart = line_chart(daily(values), title="Heart rate", unit="bpm", reference_low=0, reference_high=100)
    root = parse(chart)

    lines = by_class(root, "path", "chart-line")
    plotted = sum(len(re.findall(r"[ML]", line.get("d"))) for line in lines)
    assert 100 < plotted <= 400
    # The one spike survives the buckets and is marked.
    assert len(by_class(root, "path", "chart-point-out")) == 1
    assert "1,826 values" in chart.summary


def test_bar_variant_draws_one_bar_per_week_from_zero():
    weeks = [(START + datetime.timedelta(weeks=i), 40000 + (i * 997) % 30000) for i in range(260)]
    root = parse(line_chart(weeks, title="Steps", unit="steps", bars=True))

    assert len(by_class(root, "rect", "chart-bar")) == 260
    assert not by_class(root, "path", "chart-line")
    assert "0" in texts(root)


def test_ranged_points_draw_a_min_max_band_around_the_mean_line():
    points = [(START + datetime.timedelta(days=i), 50 + i, 60 + i, 90 + i) for i in range(5)]
    chart = line_chart(points, title="Heart rate", unit="bpm")
    root = parse(chart)

    assert len(by_class(root, "path", "chart-range")) == 1
    assert len(by_class(root, "path", "chart-line")) == 1
    assert "Lowest 50\N{NO-BREAK SPACE}bpm, highest 94\N{NO-BREAK SPACE}bpm" in chart.summary


def test_chart_include_puts_the_svg_in_a_figure_with_the_summary_as_caption():
    chart = line_chart(daily([70, 71]), title="Weight & <i>me</i>", unit="kg")
    html = render_to_string("records/_chart.html", {"chart": chart})

    assert html.count("<svg") == 1 and "<figure" in html
    caption = re.search(r"<figcaption>(.*)</figcaption>", html, re.S).group(1)
    assert "Weight &amp; &lt;i&gt;me&lt;/i&gt;" in caption


def test_stats_of_values_and_of_ranges():
    assert stats(daily([3, None, 1, 2])) == {"min": 1, "max": 3, "mean": 2, "last": 2, "count": 3}
    ranged = [(START, 1, 2, 3), (START + datetime.timedelta(days=1), 0, 4, 9)]
    assert stats(ranged) == {"min": 0, "max": 9, "mean": 3, "last": 4, "count": 2}
    assert stats([]) == {"min": None, "max": None, "mean": None, "last": None, "count": 0}


RISING = daily([round(60 + 0.2 * i + (1 if i % 2 else -1)) for i in range(30)])
FALLING = daily([round(80 - 0.06 * i + (0.1 if i % 2 else -0.1), 1) for i in range(90)])
# A 4 bpm drift buried in a day-to-day swing of ±6 bpm.
NOISY = daily([60 + 4 * i / 89 + (6 if i % 2 else -6) for i in range(90)])
TOO_FEW = daily([60, 70, 80])


def test_trend_sentence_rising():
    assert trend_sentence(RISING, metric_label="Resting heart rate", unit="bpm", period_days=30) == (
        "Resting heart rate up 6\N{NO-BREAK SPACE}bpm over 30 days"
    )


def test_trend_sentence_falling():
    assert trend_sentence(FALLING, metric_label="Weight", unit="kg", period_days=90) == (
        "Weight down 5.3\N{NO-BREAK SPACE}kg over 90 days"
    )


def test_trend_sentence_small_change_within_the_scatter_is_stable():
    assert trend_sentence(NOISY, metric_label="Resting heart rate", unit="bpm", period_days=90) == (
        "Resting heart rate stable over 90 days"
    )


def test_trend_sentence_with_too_few_points():
    assert trend_sentence(TOO_FEW, metric_label="Weight", unit="kg", period_days=7) == (
        "Weight: not enough data for a trend over 7 days"
    )


def test_trend_sentence_in_french_keeps_the_numbers_in_french_form():
    # The catalogue is translated separately: assert numbers and structure, not wording.
    with translation.override("fr"):
        falling = trend_sentence(FALLING, metric_label="Poids", unit="kg", period_days=90)
        rising = trend_sentence(RISING, metric_label="FC", unit="bpm", period_days=30)
        stable = trend_sentence(NOISY, metric_label="FC", unit="bpm", period_days=90)
        too_few = trend_sentence(TOO_FEW, metric_label="Poids", unit="kg", period_days=7)

    assert falling.startswith("Poids") and "5,3\N{NO-BREAK SPACE}kg" in falling and "90" in falling
    assert "5.3" not in falling
    assert rising.startswith("FC") and "6\N{NO-BREAK SPACE}bpm" in rising and "30" in rising
    assert stable.startswith("FC") and "bpm" not in stable
    assert too_few.startswith("Poids") and "kg" not in too_few
    assert len({falling, rising, stable, too_few}) == 4
