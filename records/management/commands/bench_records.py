"""Measure the time-series store at the scale of years of wearable data.

`python manage.py bench_records [--samples 2000000] [--years 5]` fills a generated bench patient
(bench@example.invalid) with heart-rate and step samples, then times the merge and the reads that
charts use. More measurements (the dashboard, the chart) go in `bench_all`, after `bench_store`.
"""

import datetime
import math
import statistics
import time

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import Avg, Count
from django.db.models.functions import Length
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import User
from records import timeseries
from records.charts import line_chart
from records.models import SampleDay

BENCH_EMAIL = "bench@example.invalid"
READ_RUNS = 5


def bench_owner() -> User:
    """The generated bench patient, created on first use (idempotent)."""
    with transaction.atomic():
        user, created = User.objects.get_or_create(email=BENCH_EMAIL)
        if created:
            user.set_unusable_password()
            user.save()
            account_services.patient_register(
                user=user, display_name="Bench Patient", country="FR", preferred_language="en"
            )
    return user


def generated_samples(metric: str, count: int, *, start: datetime.datetime, end: datetime.datetime):
    """`count` plausible samples of heart rate or steps spread evenly from start to end, made on the fly."""
    step = (end - start).total_seconds() / count
    begin = start.timestamp()
    from_timestamp = datetime.datetime.fromtimestamp
    utc = datetime.UTC
    for i in range(count):
        moment = from_timestamp(begin + math.floor(i * step), utc)
        # A daily rhythm and a slow drift, without randomness: a re-run produces the same samples.
        wave = math.sin(i * step / 86_400 * 2 * math.pi)
        if metric == "heart_rate":
            yield timeseries.Sample(metric, moment, moment, 68 + round(12 * wave) + i % 7, "count/min", "Watch")
        else:
            length = datetime.timedelta(seconds=min(step, 600))
            yield timeseries.Sample(metric, moment, moment + length, 40 + (i * 37) % 400, "count", "Phone")


def _median_time(function, runs: int = READ_RUNS) -> tuple[float, int, int]:
    """Median seconds of `runs` calls, the query count of one call, and the length of its result."""
    timings, queries, size = [], 0, 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            size = len(function())
            timings.append(time.perf_counter() - started)
        queries = len(captured.captured_queries)
    return statistics.median(timings), queries, size


def _timed_merge(stdout, owner, label: str, samples) -> float:
    started = time.perf_counter()
    result = timeseries.samples_merge(owner=owner, samples=samples)
    elapsed = time.perf_counter() - started
    merged = result.added + result.already_present
    stdout.write(
        f"{label}: {result.added:,} added, {result.already_present:,} already present in {elapsed:.1f} s "
        f"({merged / elapsed:,.0f} samples/s), {result.days_written:,} rows written"
    )
    return elapsed


def bench_store(stdout, owner, *, samples: int = 2_000_000, years: int = 5) -> dict:
    """Time merges and reads of the store for `owner`, replacing the owner's heart rate and steps (bench data only)."""
    end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - datetime.timedelta(days=round(365.25 * years))
    SampleDay.objects.filter(owner=owner, metric__in=["heart_rate", "steps"]).delete()
    per_metric = samples // 2
    figures = {
        f"merge {metric}": _timed_merge(
            stdout, owner, f"merge {metric}", generated_samples(metric, per_metric, start=start, end=end)
        )
        for metric in ("heart_rate", "steps")
    }
    figures["re-merge heart_rate"] = _timed_merge(
        stdout, owner, "re-merge heart_rate", generated_samples("heart_rate", per_metric, start=start, end=end)
    )
    reads = {
        "daily_summaries": lambda: timeseries.daily_summaries(
            owner=owner, metric="heart_rate", start=start.date(), end=end.date()
        ),
        "series_rollup week": lambda: timeseries.series_rollup(
            owner=owner, metric="steps", start=start.date(), end=end.date(), bucket="week"
        ),
        "day_samples (one day)": lambda: timeseries.day_samples(
            owner=owner, metric="heart_rate", day=(end - datetime.timedelta(days=1)).date()
        ),
    }
    for name, read in reads.items():
        median, queries, size = _median_time(read)
        figures[name] = median
        span = "" if name.startswith("day_samples") else f" over {years} years"
        stdout.write(f"{name}{span}: {median * 1000:.1f} ms median of {READ_RUNS}, {queries} queries, {size:,} points")
    # Sizes of the ciphertext as stored: nothing is decrypted.
    sizes = (
        SampleDay.objects.filter(owner=owner)
        .values("metric")
        .annotate(rows=Count("id"), payload=Avg(Length("payload")), summary=Avg(Length("summary")))
        .order_by("metric")
    )
    for size in sizes:
        stdout.write(
            f"stored {size['metric']}: {size['rows']:,} rows, payload {size['payload']:,.0f} B, "
            f"summary {size['summary']:,.0f} B on average (ciphertext)"
        )
    return figures


def bench_pages(stdout, owner, *, years: int) -> None:
    """Time the dashboard page (all time) and a 5-year heart-rate chart as the patient sees them."""
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)
    client.get(reverse("records:dashboard"))  # the session's first request records the session
    pages = {
        "dashboard page (all time)": lambda: client.get(reverse("records:dashboard") + "?period=all").content,
        "dashboard page (90 days)": lambda: client.get(reverse("records:dashboard")).content,
    }
    for name, render in pages.items():
        median, queries, size = _median_time(render)
        stdout.write(f"{name}: {median * 1000:.1f} ms median of {READ_RUNS}, {queries} queries, {size:,} bytes")
    end = timezone.now().date()
    start = end - datetime.timedelta(days=round(365.25 * years))

    def chart():
        rows = timeseries.series_rollup(owner=owner, metric="heart_rate", start=start, end=end, bucket="week")
        points = [(day, summary["min"], summary["mean"], summary["max"]) for day, summary in rows]
        return line_chart(points, title="Heart rate", unit="bpm").svg

    median, queries, size = _median_time(chart)
    stdout.write(f"{years}-year heart-rate chart: {median * 1000:.1f} ms median of {READ_RUNS}, {queries} queries")


def bench_all(stdout, owner, *, samples: int, years: int) -> None:
    """Every measurement, in order (bench patient only)."""
    bench_store(stdout, owner, samples=samples, years=years)
    bench_pages(stdout, owner, years=years)


class Command(BaseCommand):
    help = "Fill the bench patient with generated heart-rate and step samples and time the time-series store."

    def add_arguments(self, parser):
        parser.add_argument("--samples", type=int, default=2_000_000, help="Samples in all, half of each metric.")
        parser.add_argument("--years", type=int, default=5, help="Years the samples are spread over.")

    def handle(self, *args, samples, years, **options):
        stdout = self.stdout
        stdout.write(f"database: {connection.vendor}, {samples:,} samples over {years} years, owner {BENCH_EMAIL}")
        bench_all(stdout, bench_owner(), samples=samples, years=years)
