"""The dashboard's charts: one per metric, server-drawn, the same cost for any amount of data."""

import datetime
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from records.timeseries import Sample, samples_merge


def _heart_rate(owner, *, days: int, base: float = 60.0, slope: float = 0.0):
    today = timezone.now().replace(hour=6, minute=0, second=0, microsecond=0)
    samples = []
    for offset in range(days):
        moment = today - datetime.timedelta(days=days - 1 - offset)
        for hour in range(0, 24, 6):
            start = moment + datetime.timedelta(hours=hour)
            value = base + slope * offset + hour / 6
            samples.append(Sample("resting_heart_rate", start, start, value, "count/min", "Watch"))
    samples_merge(owner=owner, samples=samples)


def _steps(owner, *, days: int):
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    samples = [
        Sample(
            "steps",
            today - datetime.timedelta(days=d),
            today - datetime.timedelta(days=d, minutes=-30),
            5000 + d,
            "count",
            "Phone",
        )
        for d in range(days)
    ]
    samples_merge(owner=owner, samples=samples)


def test_the_dashboard_draws_a_chart_per_metric_with_its_trend(patient_client, patient):
    _heart_rate(patient, days=90, base=70, slope=-0.1)
    _steps(patient, days=30)
    response = patient_client.get(reverse("records:dashboard"))
    charts = {item.metric: item for item in response.context["charts"]}
    assert set(charts) == {"resting_heart_rate", "steps"}
    assert "down" in charts["resting_heart_rate"].trend and "bpm" in charts["resting_heart_rate"].trend
    page = response.content.decode()
    assert page.count("<svg") == 2
    assert 'role="img"' in page


def test_the_period_changes_what_is_drawn(patient_client, patient):
    _heart_rate(patient, days=400)
    week = patient_client.get(reverse("records:dashboard") + "?period=7d").context["charts"][0]
    year = patient_client.get(reverse("records:dashboard") + "?period=1y").context["charts"][0]
    assert "7 values" in week.chart.summary  # one point a day
    weeks = int(re.search(r"(\d+) values", year.chart.summary).group(1))
    assert 53 <= weeks <= 54  # one point a week (a year touches 53 or 54 weeks)
    fallback = patient_client.get(reverse("records:dashboard") + "?period=bogus")
    assert fallback.context["period"] == "90d"


def test_dashboard_queries_do_not_grow_with_the_data(patient_client, patient):
    _heart_rate(patient, days=10)
    patient_client.get(reverse("records:dashboard"))
    with CaptureQueriesContext(connection) as small:
        patient_client.get(reverse("records:dashboard") + "?period=all")
    _heart_rate(patient, days=700)
    with CaptureQueriesContext(connection) as large:
        response = patient_client.get(reverse("records:dashboard") + "?period=all")
    assert len(large) == len(small)
    assert response.context["charts"][0].metric == "resting_heart_rate"


def test_another_patients_samples_never_show(client, patient, other_patient):
    _heart_rate(other_patient, days=30)
    client.force_login(patient)
    response = client.get(reverse("records:dashboard"))
    assert response.context["charts"] == []
    assert "<svg" not in response.content.decode()
