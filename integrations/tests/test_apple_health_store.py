"""The Apple Health import stores exactly what the plain, slow path stores, in one process or two.

The reference reads every Record the plain way (lxml iterparse, datetimes, `Sample` objects,
`samples_merge`); the import parses in batches of rows, dates read from caches, maybe in a parser
process of its own. The export travels through time zones on both sides of UTC, with half-hour and
45-minute offsets and three clock changes, and carries sleep, blood pressure repeated inside
Correlations, workouts, and a few Records in date forms that are not Apple's.
"""

import datetime
from pathlib import Path

import pytest
from lxml import etree

from integrations.providers.apple_health import parser
from integrations.providers.apple_health import provider as apple_provider
from integrations.providers.apple_health.generate import TRAVEL, write_export
from integrations.providers.base import provider_get
from integrations.services import file_import, items_write
from records.models import SampleDay, Workout
from records.timeseries import Sample, TimeSeriesError, payload_decode, samples_merge, sleep_stage_code

# Records the hot path leaves to datetimes, or that the store refuses, next to ordinary ones.
ODD_RECORDS = """
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Lab &amp; Clinic" unit="count/min"
  startDate="2021-02-10T08:00:00+05:30" endDate="2021-02-10T08:00:00+05:30" value="66"/>
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Chest strap" unit="count/min"
  startDate="2021-02-10 08:00:00.750+0100" endDate="2021-02-10 08:00:01 +0100" value="71"/>
 <Record type="HKCategoryTypeIdentifierMindfulSession" sourceName="Breathe"
  startDate="2021-02-11 23:55:10.25-03:30" endDate="2021-02-12T00:05:20.5-03:30"/>
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Chest strap" unit="count"
  startDate="2021-03-28 01:50:00 +0100" endDate="2021-03-28 03:10:00 +0200" value="412"/>
 <Record type="HKQuantityTypeIdentifierBodyTemperature" sourceName="Thermometer" unit="degF"
  startDate="2021-03-01 07:00:00 +0100" endDate="2021-03-01 07:00:00 +0100" value="98.6"/>
 <Record type="HKQuantityTypeIdentifierBodyTemperature" sourceName="Thermometer" unit="degF"
  startDate="2021-03-02 07:00:00 +0100" endDate="2021-03-02 07:00:00 +0100" value="20"/>
 <Record type="HKQuantityTypeIdentifierOxygenSaturation" sourceName="Oximeter" unit="%"
  startDate="2021-03-03 07:00:00 +0100" endDate="2021-03-03 07:00:00 +0100" value="0.96"/>
 <Record type="HKQuantityTypeIdentifierBloodGlucose" sourceName="Meter" unit="mmol&lt;180.15588000005408&gt;/L"
  startDate="2021-03-04 07:00:00 +0100" endDate="2021-03-04 07:00:00 +0100" value="5.4"/>
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Chest strap" unit="furlongs"
  startDate="2021-03-05 07:00:00 +0100" endDate="2021-03-05 07:00:00 +0100" value="70"/>
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Chest strap" unit="count/min"
  startDate="2021-03-06 07:00:00 +0100" endDate="2021-03-06 06:00:00 +0100" value="70"/>
"""


@pytest.fixture(scope="module")
def travel_export(tmp_path_factory) -> Path:
    """A bare export.xml of 20,000 Records over 100 days of travel, with the odd Records added."""
    path = tmp_path_factory.mktemp("travel") / "export.xml"
    write_export(path, records=20_000, days=100, zipped=False, itinerary=TRAVEL)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("</HealthData>", ODD_RECORDS + "</HealthData>"), encoding="utf-8")
    return path


def reference_samples(path: Path):
    """Every Record of the export, Correlation copies too, read the plain way as `Sample` objects."""
    for _event, element in etree.iterparse(str(path), tag="Record"):
        metric = parser.RECORD_METRICS.get(element.get("type"))
        try:
            start = datetime.datetime.fromisoformat(element.get("startDate"))
            end = datetime.datetime.fromisoformat(element.get("endDate"))
            if metric == "sleep":
                value, unit = sleep_stage_code(element.get("value")), "stage"
            elif metric == "mindful_minutes":
                value, unit = (end - start).total_seconds() / 60, "min"
            else:
                value, unit = float(element.get("value")), element.get("unit")
            if metric is not None:
                yield Sample(metric, start, end, value, unit, f"apple-health:{element.get('sourceName')}")
        except (TimeSeriesError, TypeError, ValueError):
            pass  # refused here as the import refuses it
        element.clear()


def store(owner) -> dict:
    """Every day the owner has: its count, its summary and its samples, as the store gives them back."""
    days = {}
    for row in SampleDay.objects.filter(owner=owner):
        samples = [(s.start, s.end, s.value, s.source) for s in payload_decode(row.payload, row.day)]
        days[row.metric, row.day] = (row.sample_count, row.summary, samples)
    return days


def workouts(owner) -> list[tuple]:
    fields = ["source_key", "activity", "effective_at", "ended_at", "duration_s", "distance_m", "energy_kcal"]
    rows = Workout.objects.filter(owner=owner).order_by("source_key")
    return [(*(getattr(row, name) for name in fields), row.statistics) for row in rows]


@pytest.mark.parametrize("separate_process", [True, False], ids=["parser process", "one process"])
def test_the_import_stores_what_the_slow_path_stores(
    patient, other_patient, travel_export, monkeypatch, separate_process
):
    monkeypatch.setattr(apple_provider, "SEPARATE_PROCESS_MIN_BYTES", 0 if separate_process else 1 << 60)
    provider = provider_get("apple-health")

    with travel_export.open("rb") as stream:
        first = file_import(owner=patient, provider=provider, stream=stream)
        second = file_import(owner=patient, provider=provider, stream=stream)
    samples_merge(owner=other_patient, samples=reference_samples(travel_export))
    plain_items = parser.iter_items(parser.open_export(travel_export))
    items_write(
        owner=other_patient, provider=provider, items=(item for item in plain_items if not isinstance(item, Sample))
    )

    imported, reference = store(patient), store(other_patient)
    assert imported == reference
    assert {"heart_rate", "sleep", "blood_pressure_systolic", "mindful_minutes", "body_temperature"} <= {
        metric for metric, _day in imported
    }
    assert len(imported) > 1000
    assert workouts(patient) == workouts(other_patient) != []
    # Idempotent: the second import finds everything already there.
    assert second["added"] == 0
    assert second["already_present"] == first["added"] + first["already_present"]
    assert first["read"] == second["read"] == 20_000 + ODD_RECORDS.count("<Record")
    # Refused the same way: the unit nobody knows and the end before the start by the parser, the
    # temperature below zero once converted by the store.
    assert first["rejected"] == second["rejected"] == 3


def test_the_odd_records_land_where_their_instants_fall(patient, travel_export, monkeypatch):
    monkeypatch.setattr(apple_provider, "SEPARATE_PROCESS_MIN_BYTES", 0)
    with travel_export.open("rb") as stream:
        file_import(owner=patient, provider=provider_get("apple-health"), stream=stream)

    days = store(patient)
    utc = datetime.UTC
    # 08:00 in Kolkata is 02:30 UTC; the lab's "&" is read as such.
    assert (datetime.datetime(2021, 2, 10, 2, 30, tzinfo=utc), 66.0, "apple-health:Lab & Clinic") in [
        (start, value, source)
        for _count, _summary, samples in [days["heart_rate", datetime.date(2021, 2, 10)]]
        for start, _end, value, source in samples
    ]
    # Fractions of seconds are floored, at the start and at the end; the minutes keep them.
    [mindful] = days["mindful_minutes", datetime.date(2021, 2, 12)][2]
    assert mindful[:2] == (
        datetime.datetime(2021, 2, 12, 3, 25, 10, tzinfo=utc),
        datetime.datetime(2021, 2, 12, 3, 35, 20, tzinfo=utc),
    )
    assert mindful[2] == pytest.approx(610.25 / 60)
    # The night the clocks went forward in Paris: 01:50 to 03:10 on the wall clock, 20 minutes walked.
    steps = days["steps", datetime.date(2021, 3, 28)][2]
    assert (datetime.datetime(2021, 3, 28, 0, 50, tzinfo=utc), datetime.datetime(2021, 3, 28, 1, 10, tzinfo=utc)) in [
        sample[:2] for sample in steps
    ]
