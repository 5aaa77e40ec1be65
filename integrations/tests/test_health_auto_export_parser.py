"""Health Auto Export REST API bodies: metrics, both sleep shapes, workouts, refusals and stable re-reads."""

import datetime
import json
from pathlib import Path

import pytest

from integrations.providers.health_auto_export import parser
from integrations.providers.health_auto_export.parser import parse_payload
from integrations.providers.items import ParseError, Sample, WorkoutItem
from records.timeseries import SLEEP_STAGES

DATA = Path(__file__).parent / "data" / "health_auto_export"


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)


def body(*metrics: dict, **sections) -> bytes:
    return json.dumps({"data": {"metrics": list(metrics), **sections}}).encode()


def readings(payload, metric: str) -> list[tuple]:
    return [
        (item.start, item.value, item.unit)
        for item in payload.items
        if isinstance(item, Sample) and item.metric == metric
    ]


@pytest.fixture(scope="module")
def summarised():
    return parse_payload(fixture("metrics-summarised.json"))


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # The Avg of each {Min, Avg, Max} entry; -0800 times become UTC.
        (
            "heart_rate",
            [
                (utc("2024-02-06 15:00"), 64.5, "bpm"),
                (utc("2024-02-06 16:00"), 88.25, "bpm"),
                (utc("2024-02-06 17:00"), 72, "bpm"),
            ],
        ),
        ("resting_heart_rate", [(utc("2024-02-06 08:00"), 58, "bpm")]),
        ("heart_rate_variability", [(utc("2024-02-06 11:12:40"), 41.8237, "ms")]),
        # Health Auto Export sends 97 for 97 %: it stays 97.
        ("oxygen_saturation", [(utc("2024-02-06 10:45:10"), 97, "%"), (utc("2024-02-06 12:10:02"), 95.5, "%")]),
        ("respiratory_rate", [(utc("2024-02-06 11:00"), 14.5, "breaths/min")]),
        ("vo2max", [(utc("2024-02-06 16:31"), 38.92, "mL/kg/min")]),
        ("weight", [(utc("2024-02-06 14:55:12"), 74.8427, "kg")]),
        ("body_fat", [(utc("2024-02-06 14:55:12"), 24.1, "%")]),
        ("basal_energy", [(utc("2024-02-06 08:00"), 1500, "kcal")]),
        ("exercise_time", [(utc("2024-02-06 16:00"), 32, "min")]),
        ("steps", [(utc("2024-02-06 15:00"), 1204, "count"), (utc("2024-02-06 16:00"), 5310, "count")]),
        ("distance", [(utc("2024-02-06 16:00"), 4120, "m")]),
        ("dietary_energy", [(utc("2024-02-06 20:30"), 655, "kcal")]),
        ("protein", [(utc("2024-02-06 20:30"), 38.6, "g")]),
        ("carbohydrates", [(utc("2024-02-06 20:30"), 71.5, "g")]),
        ("fat", [(utc("2024-02-06 20:30"), 24.8, "g")]),
        ("blood_glucose", [(utc("2024-02-06 15:15"), 5.1066, "mmol/L")]),
        ("blood_pressure_systolic", [(utc("2024-02-06 15:20"), 124, "mmHg")]),
        ("blood_pressure_diastolic", [(utc("2024-02-06 15:20"), 81, "mmHg")]),
    ],
)
def test_metrics_are_read_with_their_values_and_units(summarised, metric, expected):
    assert readings(summarised, metric) == expected


def test_sources_and_counts_of_a_multi_metric_body(summarised):
    sources = {item.metric: item.source for item in summarised.items}
    assert sources["steps"] == "Anna’s iPhone|Anna’s Apple Watch"
    assert sources["active_energy"] == "Health Auto Export"
    assert [value for _at, value, _unit in readings(summarised, "active_energy")] == [35.214, 312.9, 48.07]
    stats = summarised.stats
    assert (stats.metrics, stats.read, stats.samples, stats.workouts) == (23, 30, 32, 0)
    assert stats.skipped == {
        "apple_stand_hour": 2,
        "walking_heart_rate_average": 1,
        "apple_sleeping_wrist_temperature": 1,
    }
    assert stats.sections_skipped == ["symptoms"] and stats.rejected_total == 0


def test_summarised_sleep_is_laid_out_from_sleep_start(summarised):
    night = [(item.value, item.start, item.end, item.source) for item in summarised.items if item.metric == "sleep"]

    watch, phone = "Anna’s Apple Watch", "Anna’s iPhone"
    assert night == [
        (SLEEP_STAGES["core"], utc("2024-02-06 07:10"), utc("2024-02-06 10:55"), watch),
        (SLEEP_STAGES["deep"], utc("2024-02-06 10:55"), utc("2024-02-06 12:10"), watch),
        (SLEEP_STAGES["rem"], utc("2024-02-06 12:10"), utc("2024-02-06 14:10"), watch),
        # totalSleep 7.25 h minus core, deep and REM: a quarter of an hour in no known stage.
        (SLEEP_STAGES["asleep"], utc("2024-02-06 14:10"), utc("2024-02-06 14:25"), watch),
        (SLEEP_STAGES["awake"], utc("2024-02-06 14:25"), utc("2024-02-06 14:55"), watch),
        (SLEEP_STAGES["in_bed"], utc("2024-02-06 06:55"), utc("2024-02-06 14:55"), phone),
    ]


def test_sleep_segments_give_one_sample_each():
    payload = parse_payload(fixture("sleep-segments.json"))

    segments = [(item.value, item.start, item.end) for item in payload.items]
    assert segments == [
        (SLEEP_STAGES["in_bed"], utc("2024-02-06 06:55"), utc("2024-02-06 14:55")),
        (SLEEP_STAGES["core"], utc("2024-02-06 07:10"), utc("2024-02-06 07:40")),
        (SLEEP_STAGES["deep"], utc("2024-02-06 07:40"), utc("2024-02-06 08:25")),
        (SLEEP_STAGES["core"], utc("2024-02-06 08:25"), utc("2024-02-06 09:40")),
        (SLEEP_STAGES["rem"], utc("2024-02-06 09:40"), utc("2024-02-06 10:10")),
        (SLEEP_STAGES["awake"], utc("2024-02-06 10:10"), utc("2024-02-06 10:16")),
        (SLEEP_STAGES["asleep"], utc("2024-02-06 10:16"), utc("2024-02-06 12:30")),
        (SLEEP_STAGES["asleep"], utc("2024-02-06 12:30"), utc("2024-02-06 13:00")),
    ]
    assert payload.items[-1].source == "AutoSleep"
    # "Dozing" is no sleep stage: that segment alone is refused.
    assert payload.stats.rejected == {"stage": 1}


def test_workouts_are_read_with_converted_quantities():
    payload = parse_payload(fixture("workouts.json"))

    run, lifting = payload.items
    assert isinstance(run, WorkoutItem) and isinstance(lifting, WorkoutItem)
    assert (run.source_id, run.activity, run.start, run.end) == (
        "6A1F3C2E-9B7D-4E2A-8C51-0F3D2B7A9E14",
        "running",
        utc("2024-02-06 15:02:11"),
        utc("2024-02-06 15:38:45"),
    )
    assert (run.duration_s, run.distance_m, run.energy_kcal) == (2194, 5005.0598, 356.73)
    assert run.statistics == {
        "indoor": False,
        "heart_rate": {"min": 102, "avg": 151.4, "max": 176},
        "total_energy_kcal": 412.1,
        "elevation_up_m": 16.002,
    }
    assert (lifting.activity, lifting.duration_s, lifting.distance_m) == ("traditional_strength_training", 2730, None)
    # 920.5 kJ of active energy, in kcal.
    assert lifting.energy_kcal == 220.0048
    assert lifting.statistics["heart_rate"] == {"min": 88, "avg": 117, "max": 149}
    # The third workout ends before it starts.
    assert payload.stats.workouts == 2 and payload.stats.rejected == {"date": 1}


def test_bad_points_are_counted_not_fatal():
    payload = parse_payload(
        body(
            {
                "name": "step_count",
                "units": "count",
                "data": [
                    {"date": "2024-02-06 07:00:00 -0800", "qty": 1204},
                    {"date": "06/02/2024 07:00", "qty": 800},
                    {"date": "2024-02-06 08:00:00 -0800", "qty": "812"},
                    {"date": "2024-02-06 09:00:00 -0800", "qty": -5},
                    {"date": "2024-02-06 10:00:00 -0800"},
                    "2024-02-06 11:00:00 -0800",
                ],
            },
            {"name": "heart_rate", "units": "furlongs", "data": [{"date": "2024-02-06 07:00:00 -0800", "Avg": 70}] * 2},
            {"name": "heart_rate", "units": "count/min", "data": [{"date": "2024-02-06T07:05:00-08:00", "qty": 71}]},
        )
    )

    assert readings(payload, "steps") == [(utc("2024-02-06 15:00"), 1204, "count")]
    assert readings(payload, "heart_rate") == [(utc("2024-02-06 15:05"), 71, "bpm")]
    assert payload.stats.rejected == {"date": 1, "value": 3, "shape": 1, "unit": 2}


def test_nan_in_a_point_is_a_bad_value():
    payload = parse_payload(
        b'{"data": {"metrics": [{"name": "step_count", "units": "count", "data": '
        b'[{"date": "2024-02-06 07:00:00 -0800", "qty": NaN}]}]}}'
    )

    assert payload.items == [] and payload.stats.rejected == {"value": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b'{"data": {"metrics": [', "not valid JSON"),
        (b"\xff\xfe{\x00", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b"[1, 2]", 'no "data" object'),
        (b'{"metrics": []}', 'no "data" object'),
        (b'{"data": []}', 'no "data" object'),
        (b'{"data": {"metrics": {"name": "step_count"}}}', '"metrics" sent must be a list'),
        (b'{"data": {"metrics": [42]}}', "object with a name"),
        (b'{"data": {"metrics": [{"name": "step_count", "units": "count", "data": {}}]}}', '"data" list'),
        (b'{"data": {"workouts": "yesterday"}}', '"workouts" sent must be a list'),
        (b'{"data": {"workouts": ["Outdoor Run"]}}', '"workouts" sent must be an object'),
    ],
)
def test_malformed_bodies_are_refused(content, message):
    with pytest.raises(ParseError, match=message):
        parse_payload(content)


def test_an_oversized_body_is_refused():
    oversized = b'{"data": {"metrics": []}}'.ljust(parser.MAX_BODY_BYTES + 1)

    with pytest.raises(ParseError, match="batch requests"):
        parse_payload(oversized)


def test_an_empty_selection_is_an_empty_payload():
    payload = parse_payload(b'{"data": {}}')

    assert payload.items == [] and payload.stats.read == 0


@pytest.mark.parametrize("name", ["metrics-summarised.json", "sleep-segments.json", "workouts.json"])
def test_a_repeated_batch_gives_the_same_items(name):
    first = parse_payload(fixture(name)).items

    assert first and parse_payload(fixture(name)).items == first
