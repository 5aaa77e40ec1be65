"""The time-series store: merging, deduplication, units, summaries, encryption and owner-scoped reads."""

import datetime
import threading

import pytest
from django.db import connection, connections

from records import timeseries
from records.models import SampleDay
from records.timeseries import Sample, UnitError, UnknownMetric

UTC = datetime.UTC
DAY = datetime.date(2024, 3, 10)
MIDNIGHT = datetime.datetime(2024, 3, 10, tzinfo=UTC)
HALF_SECOND = datetime.timedelta(microseconds=500_000)


def at(hour: int, minute: int = 0, second: int = 0, day: datetime.date = DAY, tz=UTC) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=tz)


def reading(metric, hour, value, unit, *, minute=0, minutes=0, source="Watch", day=DAY):
    start = at(hour, minute, day=day)
    return Sample(metric, start, start + datetime.timedelta(minutes=minutes), value, unit, source)


def heart_rates(count: int, *, start=MIDNIGHT, step_s=60, source="Watch"):
    for i in range(count):
        moment = start + datetime.timedelta(seconds=i * step_s)
        yield Sample("heart_rate", moment, moment, 60 + i % 40, "count/min", source)


def summary_of(owner, metric, day=DAY):
    return dict(timeseries.daily_summaries(owner=owner, metric=metric, start=day, end=day))[day]


def test_merge_then_remerge_adds_nothing(patient):
    samples = list(heart_rates(3000))

    first = timeseries.samples_merge(owner=patient, samples=samples)
    again = timeseries.samples_merge(owner=patient, samples=samples)

    assert (first.added, first.already_present, first.rejected) == (3000, 0, 0)
    assert first.days_created == 3  # 3000 minutes from midnight reach into the third day
    assert (again.added, again.already_present, again.days_written) == (0, 3000, 0)
    assert sum(row.sample_count for row in SampleDay.objects.filter(owner=patient)) == 3000


def test_exact_duplicates_are_kept_once_and_near_duplicates_are_kept(patient):
    base = reading("heart_rate", 8, 70, "bpm")
    same = reading("heart_rate", 8, 70, "bpm")
    other_value = reading("heart_rate", 8, 71, "bpm")
    other_source = reading("heart_rate", 8, 70, "bpm", source="Phone")
    longer = reading("heart_rate", 8, 70, "bpm", minutes=1)

    result = timeseries.samples_merge(owner=patient, samples=[base, same, other_value, other_source, longer])

    assert (result.added, result.already_present) == (4, 1)
    stored = timeseries.day_samples(owner=patient, metric="heart_rate", day=DAY)
    assert [(s.value, s.source, s.end - s.start) for s in stored] == [
        (70, "Phone", datetime.timedelta(0)),
        (70, "Watch", datetime.timedelta(0)),
        (71, "Watch", datetime.timedelta(0)),
        (70, "Watch", datetime.timedelta(minutes=1)),
    ]


def test_replace_mode_keeps_the_latest_value_of_a_growing_daily_total(patient):
    # Withings and Oura report "steps today so far": the same day, source and span with a new value.
    def so_far(value, source="Tracker"):
        return Sample("steps", MIDNIGHT, MIDNIGHT + datetime.timedelta(days=1), value, "count", source)

    first = timeseries.samples_merge(owner=patient, samples=[so_far(4000)], replace=True)
    later = timeseries.samples_merge(owner=patient, samples=[so_far(9500), so_far(2000, "Phone")], replace=True)
    again = timeseries.samples_merge(owner=patient, samples=[so_far(9500)], replace=True)

    assert (first.added, first.replaced) == (1, 0)
    assert (later.added, later.replaced, later.already_present) == (1, 1, 0)
    assert (again.added, again.replaced, again.already_present, again.days_written) == (0, 0, 1, 0)
    summary = summary_of(patient, "steps")
    assert summary["count"] == 2
    # Tracker and phone overlap every hour: the larger source counts, never 4000 + 9500.
    assert summary["sum"] == 9500


def test_without_replace_a_changed_value_is_a_second_sample(patient):
    sample = reading("weight", 7, 80, "kg")
    corrected = Sample("weight", sample.start, sample.end, 79.5, "kg", sample.source)

    timeseries.samples_merge(owner=patient, samples=[sample])
    result = timeseries.samples_merge(owner=patient, samples=[corrected])

    assert (result.added, result.replaced) == (1, 0)
    assert summary_of(patient, "weight")["count"] == 2


def test_a_later_import_merges_into_an_existing_day(patient):
    timeseries.samples_merge(owner=patient, samples=[reading("heart_rate", 8, 70, "bpm")])

    result = timeseries.samples_merge(
        owner=patient, samples=[reading("heart_rate", 8, 70, "bpm"), reading("heart_rate", 21, 90, "bpm")]
    )

    assert (result.added, result.already_present, result.days_created, result.days_updated) == (1, 1, 0, 1)
    assert summary_of(patient, "heart_rate") == {"count": 2, "min": 70, "max": 90, "mean": 80, "sum": 160, "last": 90}


def test_phone_and_watch_steps_in_the_same_hour_are_not_double_counted(patient):
    samples = [
        # 09:00-10:00: the phone saw 1000 steps, the watch 1200 (the same walk).
        reading("steps", 9, 400, "count", minutes=10, source="Phone"),
        reading("steps", 9, 600, "count", minute=30, minutes=10, source="Phone"),
        reading("steps", 9, 1200, "count", minute=5, minutes=40, source="Watch"),
        # Hours seen by one device only add up.
        reading("steps", 14, 300, "count", minutes=5, source="Phone"),
        reading("steps", 18, 500, "count", minutes=5, source="Watch"),
    ]

    timeseries.samples_merge(owner=patient, samples=samples)

    summary = summary_of(patient, "steps")
    assert summary["sum"] == 1200 + 300 + 500
    assert summary["count"] == 5
    assert (summary["min"], summary["max"], summary["last"]) == (300, 1200, 500)


def test_a_sum_sample_across_hours_is_spread_over_them(patient):
    # The phone's 600 steps from 09:30 to 10:30 are 300 in each hour; the watch's 400 at 10:00 win that hour.
    samples = [
        reading("steps", 9, 600, "count", minute=30, minutes=60, source="Phone"),
        reading("steps", 10, 400, "count", minute=10, minutes=10, source="Watch"),
    ]

    timeseries.samples_merge(owner=patient, samples=samples)

    assert summary_of(patient, "steps")["sum"] == 300 + 400


def test_units_are_normalised_on_the_way_in():
    assert reading("weight", 7, 154, "lb").value == pytest.approx(69.8532, abs=1e-4)
    assert reading("weight", 7, 154, "lb").unit == "kg"
    assert reading("blood_glucose", 7, 90.08, "mg/dL").value == pytest.approx(5.0, abs=1e-4)
    assert reading("blood_glucose", 7, 5.4, "mmol<180.15588000005408>/L").value == 5.4
    assert reading("active_energy", 7, 418.4, "kJ").value == pytest.approx(100)
    assert reading("distance", 7, 1.5, "km").value == 1500
    assert reading("body_temperature", 7, 98.6, "degF").value == pytest.approx(37)
    # Apple's export writes 0.97 with "%", Health Auto Export 97: both are 97 %.
    assert reading("oxygen_saturation", 7, 0.97, "%").value == 97
    assert reading("oxygen_saturation", 7, 97, "%").value == 97
    assert reading("heart_rate", 7, 72, "count/min").unit == "bpm"


def test_an_unknown_unit_names_the_metric_and_unit_but_not_the_value():
    with pytest.raises(UnitError) as error:
        reading("weight", 7, 81.25, "furlongs")

    assert isinstance(error.value, ValueError)
    assert "weight" in str(error.value) and "furlongs" in str(error.value)
    assert "81" not in str(error.value)


def test_unknown_metrics_and_naive_datetimes_are_refused():
    with pytest.raises(UnknownMetric):
        Sample("mood", at(7), at(7), 3, "count")
    with pytest.raises(ValueError, match="aware"):
        Sample("steps", datetime.datetime(2024, 3, 10, 7), at(7), 3, "count")  # noqa: DTZ001


def test_impossible_samples_are_rejected_and_counted(patient):
    samples = [
        reading("steps", 7, float("nan"), "count"),
        reading("steps", 7, -5, "count"),
        Sample("steps", at(8), at(7), 10, "count"),
        Sample("sleep", at(1), at(2), 9, "stage"),
        reading("steps", 7, 10, "count"),
    ]

    result = timeseries.samples_merge(owner=patient, samples=samples)

    assert (result.added, result.rejected) == (1, 4)


def test_samples_land_in_the_utc_day_of_their_start(patient):
    new_york = datetime.timezone(datetime.timedelta(hours=-5))
    samples = [
        # 21:30 in New York on the 10th is 02:30 UTC on the 11th.
        Sample("steps", at(21, 30, tz=new_york), at(21, 40, tz=new_york), 100, "count"),
        Sample("steps", at(23, 59, 59), at(23, 59, 59), 5, "count"),
        Sample("steps", at(0), at(0), 7, "count"),
        Sample(
            "steps",
            at(12, day=DAY + datetime.timedelta(days=2)),
            at(13, day=DAY + datetime.timedelta(days=2)),
            9,
            "count",
        ),
    ]

    timeseries.samples_merge(owner=patient, samples=samples)

    summaries = timeseries.daily_summaries(
        owner=patient, metric="steps", start=DAY, end=DAY + datetime.timedelta(days=5)
    )
    assert [(day, summary["sum"]) for day, summary in summaries] == [
        (DAY, 12),
        (DAY + datetime.timedelta(days=1), 100),
        (DAY + datetime.timedelta(days=2), 9),
    ]
    moved = timeseries.day_samples(owner=patient, metric="steps", day=DAY + datetime.timedelta(days=1))
    assert [(s.start, s.end) for s in moved] == [
        (at(2, 30, day=DAY + datetime.timedelta(days=1)), at(2, 40, day=DAY + datetime.timedelta(days=1)))
    ]


def test_a_batch_of_rows_merges_as_its_samples_do(patient, other_patient):
    kolkata = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    samples = [
        Sample("steps", at(23, 50, tz=kolkata), at(23, 58, tz=kolkata), 120, "count", "Phone"),
        Sample("steps", at(23, 59, 30), at(0, 3, day=DAY + datetime.timedelta(days=1)), 40, "count", "Watch"),
        # Fractions of a second: floored at the start and at the end, as the store keeps whole seconds.
        Sample("heart_rate", at(7) + HALF_SECOND, at(7, 0, 1) + HALF_SECOND, 61, "bpm", "Watch"),
        Sample("heart_rate", at(7, 0, 1), at(7, 0, 1) + HALF_SECOND, 62, "bpm"),
        Sample("body_temperature", at(6), at(6), 20, "degF", "Thermometer"),  # below zero once converted
        Sample("sleep", at(1), at(3), timeseries.sleep_stage_code("Core"), "stage", "Watch"),
        Sample("sleep", at(1), at(3), 9, "stage", "Watch"),
        Sample("weight", at(8), at(8), 150, "lb", "Scale"),
        Sample("weight", at(8), at(8), 150, "lb", "Scale"),
    ]
    batch = timeseries.SampleBatch()
    for sample in samples:
        batch.add(sample.metric, sample.start.timestamp(), sample.end.timestamp(), sample.value, sample.source)

    from_samples = timeseries.samples_merge(owner=patient, samples=samples)
    from_batch = timeseries.sample_batch_merge(owner=other_patient, batch=batch)

    assert from_batch == from_samples
    assert (from_batch.added, from_batch.already_present, from_batch.rejected) == (6, 1, 2)
    stored = {
        owner: {
            (row.metric, row.day): (row.payload and timeseries.payload_decode(row.payload, row.day), row.summary)
            for row in SampleDay.objects.filter(owner=owner)
        }
        for owner in (patient, other_patient)
    }
    assert stored[patient] == stored[other_patient]
    assert [(s.start, s.end) for s in timeseries.day_samples(owner=other_patient, metric="heart_rate", day=DAY)] == [
        (at(7), at(7, 0, 1)),
        (at(7, 0, 1), at(7, 0, 1)),
    ]


def test_a_batch_is_prefixed_once_and_expands_to_samples():
    batch = timeseries.SampleBatch()
    batch.add("heart_rate", at(7).timestamp(), at(7).timestamp(), 61.0, "Watch")
    batch.add("heart_rate", at(8).timestamp(), at(8).timestamp(), 62.0, "Phone")

    prefixed = batch.with_source_prefix("apple-health:")

    assert prefixed.with_source_prefix("apple-health:") is prefixed
    assert [(s.start, s.value, s.source) for s in prefixed.samples()] == [
        (at(7), 61, "apple-health:Watch"),
        (at(8), 62, "apple-health:Phone"),
    ]
    assert [s.source for s in batch.samples()] == ["Watch", "Phone"]  # the original is left as it was


def test_summary_values_are_exact(patient):
    values = [(6, 62.5), (9, 80), (13, 71.5), (22, 58)]
    timeseries.samples_merge(
        owner=patient, samples=[reading("heart_rate", hour, value, "bpm") for hour, value in values]
    )

    assert summary_of(patient, "heart_rate") == {"count": 4, "min": 58, "max": 80, "mean": 68, "sum": 272, "last": 58}


def test_weight_in_pounds_is_summarised_in_kilograms(patient):
    timeseries.samples_merge(owner=patient, samples=[reading("weight", 7, 150, "lb"), reading("weight", 19, 152, "lb")])

    summary = summary_of(patient, "weight")
    # Converted values are kept to 4 decimals: 152 lb = 68.94604 kg.
    assert (summary["min"], summary["last"]) == (68.0389, 68.946)


def test_sleep_from_phone_and_watch_counts_minutes_asleep_once(patient):
    code = timeseries.sleep_stage_code
    samples = [
        Sample("sleep", at(1), at(5), code("HKCategoryValueSleepAnalysisInBed"), "stage", "Phone"),
        Sample("sleep", at(1), at(4), code("HKCategoryValueSleepAnalysisAsleepUnspecified"), "stage", "Phone"),
        Sample("sleep", at(1), at(2, 30), code("HKCategoryValueSleepAnalysisAsleepCore"), "stage", "Watch"),
        Sample("sleep", at(2, 30), at(3), code("Deep"), "stage", "Watch"),
        Sample("sleep", at(3), at(3, 45), code("REM"), "stage", "Watch"),
        Sample("sleep", at(3, 45), at(4), code("Awake"), "stage", "Watch"),
    ]

    timeseries.samples_merge(owner=patient, samples=samples)

    summary = summary_of(patient, "sleep")
    assert summary["sum"] == 180  # 01:00-04:00 asleep, told by both devices
    assert (summary["count"], summary["min"], summary["max"], summary["mean"]) == (4, 30, 180, 86.25)
    assert summary["stages"] == {"in_bed": 240, "awake": 15, "asleep": 180, "core": 90, "deep": 30, "rem": 45}
    assert summary["last"] == timeseries.SLEEP_STAGES["awake"]


def test_payload_round_trips_and_is_compact():
    samples = list(heart_rates(1440))

    text = timeseries.payload_encode(samples)

    assert timeseries.payload_decode(text, DAY) == samples
    assert len(text) < 1440  # under a character per sample


def test_stored_columns_are_ciphertext(patient):
    timeseries.samples_merge(owner=patient, samples=heart_rates(10))

    with connection.cursor() as cursor:
        cursor.execute("SELECT payload, summary, sample_count FROM records_sampleday")
        rows = cursor.fetchall()

    assert rows
    assert all(str(column).startswith("gAAAAA") for row in rows for column in row)


def test_another_owners_data_is_never_returned(patient, other_patient):
    timeseries.samples_merge(owner=other_patient, samples=[reading("steps", 9, 5000, "count")])
    timeseries.samples_merge(owner=other_patient, samples=[reading("weight", 9, 70, "kg")])
    timeseries.samples_merge(owner=patient, samples=[reading("steps", 9, 10, "count")])

    assert timeseries.metrics_for_user(owner=patient) == ["steps"]
    assert timeseries.metrics_for_user(owner=other_patient) == ["steps", "weight"]
    assert summary_of(patient, "steps")["sum"] == 10
    assert [s.value for s in timeseries.day_samples(owner=patient, metric="steps", day=DAY)] == [10]
    assert timeseries.day_samples(owner=patient, metric="weight", day=DAY) == []
    week = timeseries.series_rollup(owner=patient, metric="steps", start=DAY, end=DAY, bucket="week")
    assert [summary["sum"] for _period, summary in week] == [10]


@pytest.mark.parametrize("days", [3, 120])
def test_reads_take_one_query_whatever_the_number_of_days(patient, django_assert_num_queries, days):
    first = datetime.date(2023, 1, 1)
    timeseries.samples_merge(
        owner=patient,
        samples=(reading("steps", 9, 100, "count", day=first + datetime.timedelta(days=n)) for n in range(days)),
    )
    last = first + datetime.timedelta(days=days - 1)

    with django_assert_num_queries(1):
        assert len(timeseries.daily_summaries(owner=patient, metric="steps", start=first, end=last)) == days
    for bucket in ("day", "week", "month"):
        with django_assert_num_queries(1):
            timeseries.series_rollup(owner=patient, metric="steps", start=first, end=last, bucket=bucket)
    with django_assert_num_queries(1):
        assert timeseries.metrics_for_user(owner=patient) == ["steps"]
    with django_assert_num_queries(1):
        assert len(timeseries.day_samples(owner=patient, metric="steps", day=last)) == 1


def test_daily_summaries_do_not_read_payloads(patient, django_assert_num_queries):
    timeseries.samples_merge(owner=patient, samples=heart_rates(10))

    with django_assert_num_queries(1) as captured:
        timeseries.daily_summaries(owner=patient, metric="heart_rate", start=DAY, end=DAY)

    assert "payload" not in captured.captured_queries[0]["sql"]


def test_weekly_and_monthly_rollups_combine_days(patient):
    monday = datetime.date(2024, 4, 29)
    samples = [
        reading("steps", 9, 1000, "count", day=monday),  # week of 29 April, month of April
        reading("steps", 9, 3000, "count", day=monday + datetime.timedelta(days=2)),  # 1 May
        reading("steps", 9, 500, "count", day=monday + datetime.timedelta(days=7)),
    ]
    timeseries.samples_merge(owner=patient, samples=samples)
    end = monday + datetime.timedelta(days=30)

    weeks = timeseries.series_rollup(owner=patient, metric="steps", start=monday, end=end, bucket="week")
    months = timeseries.series_rollup(owner=patient, metric="steps", start=monday, end=end, bucket="month")

    assert [(period, summary["sum"], summary["days"]) for period, summary in weeks] == [
        (monday, 4000, 2),
        (monday + datetime.timedelta(days=7), 500, 1),
    ]
    assert [(period, summary["sum"], summary["last"]) for period, summary in months] == [
        (datetime.date(2024, 4, 1), 1000, 1000),
        (datetime.date(2024, 5, 1), 3500, 500),
    ]


def test_rollup_mean_is_weighted_by_the_number_of_samples(patient):
    monday, tuesday = datetime.date(2024, 3, 11), datetime.date(2024, 3, 12)
    samples = [reading("heart_rate", 9, 60, "bpm", day=monday), reading("heart_rate", 10, 70, "bpm", day=monday)]
    samples.append(reading("heart_rate", 9, 100, "bpm", day=tuesday))
    timeseries.samples_merge(owner=patient, samples=samples)

    [(period, week)] = timeseries.series_rollup(
        owner=patient, metric="heart_rate", start=monday, end=tuesday, bucket="week"
    )

    assert period == monday
    assert (week["count"], week["mean"], week["min"], week["max"]) == (3, 76.6667, 60, 100)


def test_a_generator_is_consumed_in_chunks(patient):
    total, chunk = 200_000, timeseries.CHUNK_SAMPLES
    yielded = 0
    yielded_at_first_write = []

    def samples():
        nonlocal yielded
        for sample in heart_rates(total, step_s=5):
            yielded += 1
            yield sample

    def watch(execute, sql, params, many, context):
        if not yielded_at_first_write and sql.startswith(("INSERT", "UPDATE")) and "records_sampleday" in sql:
            yielded_at_first_write.append(yielded)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        result = timeseries.samples_merge(owner=patient, samples=samples())

    assert result.added == total
    assert yielded_at_first_write == [chunk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("days_exist", [True, False], ids=["existing-days", "new-days"])
def test_concurrent_merges_for_the_same_owner_lose_no_sample(patient, require_postgres, days_exist):
    # Both threads' samples fall in the same two days, which exist already (locked rows) or are
    # new to both (one insert wins, the other merge reads the day again).
    before = 0
    if days_exist:
        before = timeseries.samples_merge(owner=patient, samples=heart_rates(2, step_s=86_400, source="Phone")).added
    barrier = threading.Barrier(2)
    errors = []

    def merge(source):
        try:
            barrier.wait()
            timeseries.samples_merge(owner=patient, samples=heart_rates(4000, step_s=40, source=source))
        except Exception as error:  # noqa: BLE001 - reported to the test thread below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=merge, args=(source,)) for source in ("Watch", "Ring")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(row.sample_count for row in SampleDay.objects.filter(owner=patient)) == before + 2 * 4000


def test_replace_mode_never_merges_two_sleep_stages_of_the_same_span(patient):
    start = at(23)
    in_bed = Sample(
        "sleep", start, start + datetime.timedelta(hours=7), timeseries.SLEEP_STAGES["in_bed"], "stage", "Ring"
    )
    asleep = Sample(
        "sleep", start, start + datetime.timedelta(hours=7), timeseries.SLEEP_STAGES["asleep"], "stage", "Ring"
    )

    result = timeseries.samples_merge(owner=patient, samples=[in_bed, asleep], replace=True)

    assert (result.added, result.replaced) == (2, 0)
