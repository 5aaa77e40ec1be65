"""The Apple Health export parser: real fixtures, hostile archives and XML, and streaming at scale (no database)."""

import datetime
import io
import os
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from integrations.providers.apple_health import parser
from integrations.providers.apple_health.generate import write_export
from integrations.providers.apple_health.parser import ExportSource, iter_items, open_export
from integrations.providers.items import ClinicalDocument, DailyActivity, ParseError, ProfileHint, WorkoutItem
from records.timeseries import METRICS, SLEEP_STAGES, Sample, SampleBatch

DATA = Path(__file__).parent / "data" / "apple_health"
DOGSHEEP = DATA / "dogsheep-healthkit-to-sqlite"
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
HEART_RATE = "HKQuantityTypeIdentifierHeartRate"


def parse(path: Path) -> tuple[ExportSource, list]:
    source = open_export(path)
    return source, list(iter_items(source))


def of_type(items: list, kind: type) -> list:
    return [item for item in items if type(item) is kind]


def samples(items: list, metric: str) -> list[Sample]:
    return [item for item in items if isinstance(item, Sample) and item.metric == metric]


def record(kind: str, value: str, start: str, end: str | None = None, unit: str | None = "count/min", **extra) -> str:
    attributes = {"type": kind, "sourceName": "Test Watch", "unit": unit, "startDate": start, "endDate": end or start}
    attributes.update(value=value, **extra)
    text = " ".join(f'{name}="{text}"' for name, text in attributes.items() if text is not None)
    return f" <Record {text}/>\n"


def export_xml(body: str, *, head: str = PROLOG) -> bytes:
    return f'{head}<HealthData locale="en_GB">\n{body}</HealthData>\n'.encode()


def write_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def refused(path: Path) -> str:
    """The message of the ParseError that opening or reading `path` raises."""
    with pytest.raises(ParseError) as error:
        list(iter_items(open_export(path)))
    return str(error.value)


# -- real fixtures ---------------------------------------------------------------------------------


def test_blood_pressure_correlation_of_ahcd_go_is_counted_once():
    source, items = parse(DATA / "ahcd-go" / "export.xml")

    assert source.stats.records_read == 11
    assert source.stats.correlations == 1
    assert source.stats.duplicates_skipped == 0
    assert len(samples(items, "blood_pressure_systolic")) == 7
    [diastolic] = samples(items, "blood_pressure_diastolic")
    assert diastolic.value == 74
    assert diastolic.start == datetime.datetime(
        2020, 8, 2, 19, 12, 21, tzinfo=datetime.timezone(datetime.timedelta(hours=9))
    )
    assert [sample.value for sample in samples(items, "bmi")] == [13.5, 23.5]
    assert of_type(items, ProfileHint) == [ProfileHint(datetime.date(2020, 9, 13), "male", "B+")]


def test_correlation_records_repeated_at_top_level_are_yielded_once(tmp_path):
    text = (DATA / "ahcd-go" / "export.xml").read_text()
    inner = text[text.index("<Correlation") : text.index("</Correlation>")]
    copies = "".join(line + "\n" for line in inner.splitlines() if "<Record" in line)
    path = tmp_path / "export.xml"
    path.write_text(text.replace(" <Correlation", copies + " <Correlation", 1))

    source, items = parse(path)

    assert source.stats.records_read == 13
    assert source.stats.duplicates_skipped == 2
    assert len(samples(items, "blood_pressure_systolic")) == 7
    assert len(samples(items, "blood_pressure_diastolic")) == 1


def test_macos_rezip_with_ds_store_and_macosx_members_reads_sleep_stages():
    source, items = parse(DATA / "apple-health-parser" / "export.zip")

    assert source.xml_member == "apple_health_export/export.xml"
    assert source.stats.records_read == 8
    assert source.stats.samples_yielded == 7
    assert source.stats.skipped_by_type == {"HKQuantityTypeIdentifierAppleStandTime": 1}
    in_bed, core = samples(items, "sleep")
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert (in_bed.value, in_bed.source) == (SLEEP_STAGES["in_bed"], "Alexandre's iPhone")
    assert (in_bed.start, in_bed.end) == (
        datetime.datetime(2024, 1, 1, 0, 55, 28, tzinfo=plus_two),
        datetime.datetime(2024, 1, 1, 0, 56, 53, tzinfo=plus_two),
    )
    assert core.value == SLEEP_STAGES["core"]
    assert (core.end - core.start).total_seconds() == 12 * 60 + 30
    assert [sample.value for sample in samples(items, "heart_rate")] == [74, 75]
    assert [sample.value for sample in samples(items, "active_energy")] == [0.12, 0.08]
    assert [sample.value for sample in samples(items, "exercise_time")] == [1]
    assert of_type(items, ProfileHint) == [ProfileHint(datetime.date(1990, 5, 20), "male", "A-")]


def test_flat_zip_without_export_folder_reads_workouts_and_statistics():
    source, items = parse(DATA / "health-data-parser" / "export.zip")

    assert source.xml_member == "export.xml"
    workouts = of_type(items, WorkoutItem)
    assert len(workouts) == source.stats.workouts == 8
    assert [workout.activity for workout in workouts].count("cycling") == 1
    assert source.stats.route_files == 4
    club = next(workout for workout in workouts if workout.source)
    assert club.source == "Synthetic & Run Club"
    assert club.energy_kcal == pytest.approx(900 / 4.184, abs=0.001)
    assert club.distance_m == 2000
    from_statistics = next(workout for workout in workouts if workout.start.date() == datetime.date(2025, 2, 1))
    assert (from_statistics.distance_m, from_statistics.energy_kcal, from_statistics.duration_s) == (5000, 100, 1500)
    in_miles = next(workout for workout in workouts if workout.start.date() == datetime.date(2024, 1, 5))
    assert in_miles.distance_m == pytest.approx(5000, abs=0.1)
    # The fixture's heart rates carry no unit: refused and counted, never guessed.
    assert source.stats.rejected_by_reason == {"missing_unit": 5}
    assert of_type(items, Sample) == []


def test_old_layout_with_inline_route_locations():
    source, items = parse(DOGSHEEP / "export.xml")

    [workout] = of_type(items, WorkoutItem)
    assert (workout.activity, workout.source, workout.duration_s) == ("running", "Apple\xa0Watch", 312)
    assert workout.distance_m == pytest.approx(800.1255)
    assert workout.energy_kcal == pytest.approx(48.745)
    assert (source.stats.routes, source.stats.route_points, source.stats.route_files) == (1, 2, 0)
    assert [sample.value for sample in samples(items, "bmi")] == [22.5312]
    assert [sample.value for sample in samples(items, "heart_rate")] == [72]
    first, second = of_type(items, DailyActivity)
    assert first == DailyActivity(
        day=datetime.date(2016, 11, 15),
        source="Apple Health",
        active_energy_kcal=590.252,
        active_energy_goal_kcal=630,
        exercise_minutes=68,
        exercise_goal_minutes=30,
        stand_hours=13,
        stand_goal_hours=12,
    )
    assert second.day == datetime.date(2016, 11, 16)
    assert of_type(items, ProfileHint) == [ProfileHint(datetime.date(1990, 2, 2), "male", "")]


def test_new_layout_zip_with_workout_route_files(tmp_path):
    folder = DOGSHEEP / "zip_contents"
    archive = write_zip(
        tmp_path / "export.zip",
        {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()},
    )

    source, items = parse(archive)

    assert source.xml_member == "apple_health_export/export.xml"
    assert len(of_type(items, WorkoutItem)) == 1
    assert (source.stats.routes, source.stats.route_files, source.stats.route_points) == (1, 1, 0)
    assert len(of_type(items, DailyActivity)) == 2


# -- zip layout and content ------------------------------------------------------------------------


def test_clinical_records_are_yielded_and_cda_ecg_and_oversized_files_are_not(tmp_path, monkeypatch):
    monkeypatch.setattr(parser, "MAX_CLINICAL_DOCUMENT_BYTES", 1000)
    resource = b'{"resourceType": "Observation", "id": "1"}'
    archive = write_zip(
        tmp_path / "export.zip",
        {
            "apple_health_export/export.xml": (DATA / "ahcd-go" / "export.xml").read_bytes(),
            "apple_health_export/export_cda.xml": b"<ClinicalDocument/>",
            "apple_health_export/clinical-records/Observation-1.json": resource,
            "apple_health_export/clinical-records/Observation-2.json": b" " * 2000,
            "apple_health_export/electrocardiograms/ecg_2024-01-01.csv": b"Name,Test\n",
        },
    )

    source, items = parse(archive)

    assert of_type(items, ClinicalDocument) == [ClinicalDocument("clinical-records/Observation-1.json", resource)]
    assert source.stats.rejected_by_reason == {"clinical_too_large": 1}
    assert len(of_type(items, Sample)) == 11


def test_translated_export_name_is_found(tmp_path):
    body = record(HEART_RATE, "61", "2024-03-15 08:00:00 +0100")
    archive = write_zip(tmp_path / "export.zip", {"apple_health_export/导出.xml": export_xml(body)})

    _source, items = parse(archive)

    assert [sample.value for sample in samples(items, "heart_rate")] == [61]


def test_zip_without_an_export_or_with_two_is_refused(tmp_path):
    assert refused(write_zip(tmp_path / "a.zip", {"apple_health_export/export_cda.xml": b"<x/>"})) == parser.NO_EXPORT
    two = {"one/export.xml": export_xml(""), "two/export.xml": export_xml("")}
    assert refused(write_zip(tmp_path / "b.zip", two)) == parser.SEVERAL_EXPORTS


def test_ios16_malformed_dtd_and_vertical_tabs_still_parse(tmp_path):
    # As in HealthKit Export Version 12: an ATTLIST never closed, and a stray ">" before "]>".
    head = (
        PROLOG + "<!DOCTYPE HealthData [\n<!-- HealthKit Export Version: 12 -->\n"
        "<!ELEMENT HealthData (ExportDate,Me,(Record|Workout)*)>\n<!ATTLIST HealthData locale CDATA #REQUIRED\n>\n"
        "<!ATTLIST VisionPrescription\n  type CDATA #REQUIRED\n  brand CDATA #IMPLIED\n"
        "<!ELEMENT RightEye EMPTY>\n>\n]>\n"
    )
    body = record(HEART_RATE, "64", "2024-03-15 08:00:00 +0100", sourceName="Old\x0bPhone")
    path = tmp_path / "export.xml"
    path.write_bytes(export_xml(body, head=head))
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(path.read_bytes())

    _source, items = parse(path)

    [sample] = samples(items, "heart_rate")
    assert (sample.value, sample.source) == (64, "Old Phone")


# -- values ----------------------------------------------------------------------------------------


def test_units_are_converted_and_bad_values_are_counted_not_fatal(tmp_path):
    at = "2024-03-15 08:00:00 +0100"
    body = "".join(
        [
            record("HKQuantityTypeIdentifierOxygenSaturation", "0.97", at, unit="%"),
            record("HKQuantityTypeIdentifierBloodGlucose", "90", at, unit="mg/dL"),
            record("HKQuantityTypeIdentifierBodyTemperature", "98.6", at, unit="degF"),
            record("HKQuantityTypeIdentifierBodyMass", "154", at, unit="lb"),
            record("HKQuantityTypeIdentifierVO2Max", "42.5", at, unit="mL/min·kg"),
            record("HKQuantityTypeIdentifierDietaryWater", "500", at, unit="mL"),
            record("HKQuantityTypeIdentifierActiveEnergyBurned", "418.4", at, unit="kJ"),
            record("HKCategoryTypeIdentifierMindfulSession", None, at, "2024-03-15 08:10:00 +0100", unit=None),
            record(HEART_RATE, "70", at, unit="furlongs"),
            record(HEART_RATE, "NaN", at),
            record(HEART_RATE, "inf", at),
            record(HEART_RATE, "-5", at),
            record(HEART_RATE, "seventy", at),
            record(HEART_RATE, "70", "yesterday"),
            record(HEART_RATE, "70", "2024-03-15 08:00:00"),
            record(HEART_RATE, "70", at, "2024-03-15 07:00:00 +0100"),
            record(HEART_RATE, "70", at, unit=None),
            record("HKCategoryTypeIdentifierSleepAnalysis", "HKCategoryValueSleepAnalysisDreaming", at, unit=None),
            record("HKQuantityTypeIdentifierWalkingHeartRateAverage", "90", at),
            record("HKQuantityTypeIdentifierDistanceCycling", "3", at, unit="km"),
        ]
    )
    path = tmp_path / "export.xml"
    path.write_bytes(export_xml(body))

    source, items = parse(path)

    values = {sample.metric: sample.value for sample in of_type(items, Sample)}
    assert values == {
        "oxygen_saturation": 97,
        "blood_glucose": pytest.approx(4.9956, abs=0.0001),
        "body_temperature": pytest.approx(37, abs=0.0001),
        "weight": pytest.approx(69.8532, abs=0.0001),
        "vo2max": 42.5,
        "water": 500,
        "active_energy": pytest.approx(100, abs=0.0001),
        "mindful_minutes": 10,
    }
    assert source.stats.rejected_by_reason == {
        "unit": 1,
        "not_finite": 2,
        "negative": 1,
        "value": 1,
        "date": 2,
        "end_before_start": 1,
        "missing_unit": 1,
        "sleep_stage": 1,
    }
    assert source.stats.skipped_by_type == {
        "HKQuantityTypeIdentifierWalkingHeartRateAverage": 1,
        "HKQuantityTypeIdentifierDistanceCycling": 1,
    }
    assert source.stats.records_read == 20
    assert source.stats.samples_yielded == 8


def test_the_record_types_healthspace_stores_are_all_mapped():
    wanted = {
        "HeartRate": "heart_rate",
        "StepCount": "steps",
        "RestingHeartRate": "resting_heart_rate",
        "HeartRateVariabilitySDNN": "heart_rate_variability",
        "OxygenSaturation": "oxygen_saturation",
        "RespiratoryRate": "respiratory_rate",
        "BodyMass": "weight",
        "BodyMassIndex": "bmi",
        "BodyFatPercentage": "body_fat",
        "Height": "height",
        "BloodPressureSystolic": "blood_pressure_systolic",
        "BloodPressureDiastolic": "blood_pressure_diastolic",
        "BloodGlucose": "blood_glucose",
        "ActiveEnergyBurned": "active_energy",
        "BasalEnergyBurned": "basal_energy",
        "DistanceWalkingRunning": "distance",
        "AppleExerciseTime": "exercise_time",
        "VO2Max": "vo2max",
        "BodyTemperature": "body_temperature",
        "DietaryEnergyConsumed": "dietary_energy",
        "DietaryProtein": "protein",
        "DietaryCarbohydrates": "carbohydrates",
        "DietaryFatTotal": "fat",
        "DietarySugar": "sugar",
        "DietaryFiber": "fiber",
        "DietarySodium": "sodium",
        "DietaryWater": "water",
    }
    mapped = {f"HKQuantityTypeIdentifier{kind}": metric for kind, metric in wanted.items()}
    mapped |= {
        "HKCategoryTypeIdentifierSleepAnalysis": "sleep",
        "HKCategoryTypeIdentifierMindfulSession": "mindful_minutes",
    }

    assert mapped == parser.RECORD_METRICS
    assert set(mapped.values()) <= set(METRICS)


def test_workout_statistics_elevation_and_profile(tmp_path):
    span = 'startDate="2024-03-15 18:00:00 +0100" endDate="2024-03-15 18:40:00 +0100"'
    body = (
        ' <Me HKCharacteristicTypeIdentifierDateOfBirth="" HKCharacteristicTypeIdentifierBiologicalSex='
        '"HKBiologicalSexFemale" HKCharacteristicTypeIdentifierBloodType="HKBloodTypeABNegative"/>\n'
        f' <Workout workoutActivityType="HKWorkoutActivityTypeTraditionalStrengthTraining" duration="0.5"'
        f' durationUnit="h" sourceName="Test Watch" {span}>\n'
        '  <MetadataEntry key="HKElevationAscended" value="1250 cm"/>\n'
        f'  <WorkoutStatistics type="{HEART_RATE}" {span} average="151.5" minimum="98" maximum="176"'
        ' unit="count/min"/>\n'
        f'  <WorkoutActivity uuid="x" {span}><WorkoutStatistics type="{HEART_RATE}" {span} average="1"'
        ' unit="count/min"/></WorkoutActivity>\n'
        " </Workout>\n"
    )
    path = tmp_path / "export.xml"
    path.write_bytes(export_xml(body))

    _source, items = parse(path)

    [workout] = of_type(items, WorkoutItem)
    assert workout.activity == "traditional_strength_training"
    assert workout.duration_s == 1800
    assert workout.statistics == {"heart_rate": {"min": 98, "avg": 151.5, "max": 176}, "elevation_up_m": 12.5}
    assert of_type(items, ProfileHint) == [ProfileHint(None, "female", "AB-")]


def test_move_time_is_read_under_both_names():
    assert parser._move_time({"appleMoveTime": "31", "appleMoveTimeGoal": "30"}) == {
        "move_minutes": 31,
        "move_goal_minutes": 30,
    }
    assert parser._move_time({"appleMoveMinutes": "12", "appleMoveMinutesGoal": "20"}) == {
        "move_minutes": 12,
        "move_goal_minutes": 20,
    }


# -- hostile input ---------------------------------------------------------------------------------


def test_zip_bomb_is_refused_without_inflating_it(tmp_path):
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("apple_health_export/export.xml", "w", force_zip64=True) as member,
    ):
        for _ in range(200):
            member.write(bytes(1 << 20))
    path = tmp_path / "export.zip"
    path.write_bytes(buffer.getvalue())
    tracemalloc.start()
    try:
        message = refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert message == parser.BOMB
    assert peak < 5_000_000
    assert os.listdir(tmp_path) == ["export.zip"]


def test_total_size_beyond_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(parser, "MAX_TOTAL_UNCOMPRESSED_BYTES", 5_000)
    archive = write_zip(
        tmp_path / "export.zip",
        {"apple_health_export/export.xml": (DATA / "ahcd-go" / "export.xml").read_bytes()},
    )

    assert refused(archive) == parser.TOO_LARGE


@pytest.mark.parametrize(
    "name", ["../export.xml", "apple_health_export/../../etc/cron.d/x", "/etc/passwd", "C:\\Windows\\evil", "a\\..\\b"]
)
def test_member_paths_that_escape_are_refused(tmp_path, name):
    archive = write_zip(
        tmp_path / "export.zip", {"apple_health_export/export.xml": export_xml(""), zipfile.ZipInfo(name): b"x"}
    )

    assert refused(archive) == parser.UNSAFE_PATH
    assert sorted(os.listdir(tmp_path)) == ["export.zip"]


def test_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("apple_health_export/clinical-records/Patient-1.json")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = write_zip(
        tmp_path / "export.zip", {"apple_health_export/export.xml": export_xml(""), link: b"/etc/passwd"}
    )

    assert refused(archive) == parser.SYMLINK


def test_truncated_and_corrupt_zips_are_refused(tmp_path):
    original = (DATA / "apple-health-parser" / "export.zip").read_bytes()
    for length in (10, len(original) // 2, len(original) - 30):
        path = tmp_path / f"cut-{length}.zip"
        path.write_bytes(original[:length])
        assert refused(path) == parser.DAMAGED_ZIP

    body = "".join(
        record(HEART_RATE, str(60 + index % 40), f"2024-03-15 08:{index % 60:02d}:00 +0100") for index in range(3000)
    )
    good = write_zip(tmp_path / "good.zip", {"apple_health_export/export.xml": export_xml(body)})
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(data))
    assert refused(corrupt) == parser.DAMAGED_ZIP


def test_encrypted_export_is_refused(tmp_path):
    archive = write_zip(tmp_path / "export.zip", {"apple_health_export/export.xml": export_xml("")})
    data = bytearray(archive.read_bytes())
    # zipfile cannot encrypt: set the "encrypted" flag in the local and central headers by hand.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + offset] |= 0x1
    archive.write_bytes(bytes(data))

    assert refused(archive) == parser.ENCRYPTED


def passwd_marker() -> str:
    lines = Path("/etc/passwd").read_text().splitlines() if Path("/etc/passwd").exists() else []
    return lines[0] if lines else "root:x:0:0"


def test_external_entity_is_refused_and_never_read(tmp_path):
    head = PROLOG + '<!DOCTYPE HealthData [\n<!ELEMENT HealthData ANY>\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
    body = record(HEART_RATE, "70", "2024-03-15 08:00:00 +0100", sourceName="&xxe;") + " <Record>&xxe;</Record>\n"
    path = tmp_path / "export.xml"
    path.write_bytes(export_xml(body, head=head))

    assert refused(path) == parser.ENTITIES
    with pytest.raises(ParseError, match="entities"):
        list(iter_items(ExportSource(path, None, path.stat().st_size)))


def test_entity_from_an_external_dtd_is_not_fetched(tmp_path):
    head = PROLOG + '<!DOCTYPE HealthData SYSTEM "file:///etc/passwd">\n'
    body = record(HEART_RATE, "70", "2024-03-15 08:00:00 +0100") + " <Record>&xxe;</Record>\n"
    path = tmp_path / "export.xml"
    path.write_bytes(export_xml(body, head=head))
    items = []

    with pytest.raises(ParseError) as error:
        items.extend(iter_items(open_export(path)))

    assert str(error.value) == parser.DAMAGED_XML
    assert passwd_marker() not in repr(items)


BILLION_LAUGHS = PROLOG + (
    '<!DOCTYPE HealthData [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{level} "{("&lol" + str(level - 1) + ";") * 10 if level > 1 else "&lol;" * 10}">\n'
        for level in range(1, 10)
    )
    + "]>\n"
)


def test_billion_laughs_is_refused_without_expanding(tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(
        export_xml(
            record(HEART_RATE, "&lol9;", "2024-03-15 08:00:00 +0100") + " <Me>&lol9;</Me>\n", head=BILLION_LAUGHS
        )
    )
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert message == parser.ENTITIES
    assert peak < 5_000_000
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("entity", ["xxe", "lol9"])
def test_parser_options_alone_neither_read_nor_expand_entities(entity):
    # Defence in depth: even if a DOCTYPE reached libxml2, its entities would stay references.
    head = (
        BILLION_LAUGHS
        if entity == "lol9"
        else PROLOG + '<!DOCTYPE HealthData [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    )
    document = export_xml(f" <Record>&{entity};</Record>\n", head=head)
    tracemalloc.start()
    try:
        root = etree.fromstring(document, etree.XMLParser(**parser._PARSER_OPTIONS))
    except etree.XMLSyntaxError:
        root = None  # refusing is as good as leaving the reference alone
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    if root is not None:
        assert passwd_marker() not in "".join(root.itertext())
        assert len(etree.tostring(root)) < 1000
    assert peak < 5_000_000
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(
            export_xml(f' <Record value="&{entity};"/>\n', head=head), etree.XMLParser(**parser._PARSER_OPTIONS)
        )


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"><component/></ClinicalDocument>',
        b'<?xml version="1.0"?><!-- HealthData --><HealthDataX/>',
        b"Name,Date\nTest,2024-01-01\n",
        b"\xff\xfe<\x00H\x00",
    ],
)
def test_files_that_are_not_apple_exports_are_refused(tmp_path, content):
    path = tmp_path / "export.xml"
    path.write_bytes(content)

    assert refused(path) == parser.NOT_APPLE


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "export.zip"
    path.write_bytes(b"")

    assert refused(path) == parser.EMPTY_FILE


def test_truncated_xml_fails_with_a_plain_message(tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(export_xml(record(HEART_RATE, "70", "2024-03-15 08:00:00 +0100"))[:-40])

    assert refused(path) == parser.DAMAGED_XML


# -- scale -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated_export(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("apple") / "export.zip"
    return path, write_export(path, records=300_000)


def streaming_peak(path: Path) -> tuple[ExportSource, int, int]:
    """(source, items, peak bytes Python allocated) for one pass of iter_items over the export."""
    source = open_export(path)
    count = 0
    tracemalloc.start()
    try:
        for _item in iter_items(source):
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return source, count, peak


def test_generated_export_streams_in_flat_memory(generated_export, tmp_path):
    path, written = generated_export
    smaller = tmp_path / "smaller.zip"
    write_export(smaller, records=100_000)

    source, count, peak = streaming_peak(path)
    _source, _count, smaller_peak = streaming_peak(smaller)

    assert source.stats.records_read == written == 300_000
    # The uncompressed export is about 125 MB; its 300,000 samples as objects would take far more than this.
    assert source.stats.total_bytes > 100_000_000
    assert peak < 32_000_000
    # Three times the records, the same memory: a batch in hand and one being filled, whatever the size.
    assert peak < smaller_peak * 1.15
    assert count > 290_000


def test_generated_export_counts_and_progress(generated_export):
    path, written = generated_export
    source = open_export(path)
    calls = []

    items = sum(1 for _item in iter_items(source, progress=lambda *arguments: calls.append(arguments)))

    stats = source.stats
    assert [call[0] for call in calls[:-1]] == sorted(call[0] for call in calls[:-1])
    assert len(calls) >= 6
    assert calls[-1] == (written, stats.total_bytes, stats.total_bytes)
    assert stats.duplicates_skipped == 2 * stats.correlations > 0
    assert items == stats.samples_yielded + stats.workouts + stats.activity_days + stats.profile_hints
    assert stats.skipped_by_type == {"HKQuantityTypeIdentifierAppleStandTime": 6000}
    assert stats.rejected_by_reason == {}


# -- the parser process ----------------------------------------------------------------------------


@pytest.fixture
def started(monkeypatch) -> list[subprocess.Popen]:
    """The processes started from now on (real ones, recorded as they start)."""
    processes = []
    popen = subprocess.Popen

    def record(*args, **kwargs):
        processes.append(popen(*args, **kwargs))
        return processes[-1]

    monkeypatch.setattr(subprocess, "Popen", record)
    return processes


def read_all(path: Path, *, separate_process: bool) -> tuple[list, list, parser.ParseStats]:
    """(items, progress calls, stats) of one pass of iter_batches."""
    source = open_export(path)
    calls = []
    items = list(
        parser.iter_batches(source, progress=lambda *counts: calls.append(counts), separate_process=separate_process)
    )
    return items, calls, source.stats


def test_a_parser_process_yields_what_this_process_yields(tmp_path, started):
    path = tmp_path / "export.zip"
    write_export(path, records=120_000, days=60)

    here = read_all(path, separate_process=False)
    assert started == []
    there = read_all(path, separate_process=True)

    [process] = started
    assert process.returncode == 0
    assert there == here
    items, calls, stats = there
    batches = [item for item in items if type(item) is SampleBatch]
    assert [batch.read for batch in batches] == [50_000, 50_000, stats.samples_yielded - 100_000]
    assert len(calls) >= 3 and calls[-1] == (120_000, stats.total_bytes, stats.total_bytes)
    assert {type(item) for item in items} == {SampleBatch, WorkoutItem, DailyActivity, ProfileHint}


def test_a_parser_process_refuses_a_damaged_export_with_the_same_message(tmp_path, started):
    path = tmp_path / "export.xml"
    write_export(path, records=60_000, days=30, zipped=False)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.9)])

    with pytest.raises(ParseError) as error:
        read_all(path, separate_process=True)

    assert str(error.value) == parser.DAMAGED_XML
    assert started[0].returncode == 0


@pytest.mark.parametrize("separate_process", [True, False], ids=["parser process", "one process"])
def test_a_damaged_export_yields_nothing_before_it_is_refused(tmp_path, separate_process):
    path = tmp_path / "export.xml"
    write_export(path, records=60_000, days=30, zipped=False)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.9)])  # nine tenths of it read well
    items = parser.iter_batches(open_export(path), separate_process=separate_process, check_first=True)

    with pytest.raises(ParseError) as error:
        next(items)

    assert str(error.value) == parser.DAMAGED_XML


def test_the_parser_process_gets_no_secret(generated_export, started, monkeypatch):
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", "a-key-the-parser-must-not-see")
    monkeypatch.setenv("DATABASE_URL", "postgres://someone:secret@db/health")
    items = parser.iter_batches(open_export(generated_export[0]), separate_process=True)
    assert any(type(item) is SampleBatch for item in items)

    environment = Path(f"/proc/{started[0].pid}/environ").read_bytes()
    items.close()

    assert b"a-key-the-parser-must-not-see" not in environment
    assert b"secret@db" not in environment
    assert b"DJANGO_SETTINGS_MODULE" not in environment


def test_stopping_early_ends_the_parser_process(generated_export, started):
    items = parser.iter_batches(open_export(generated_export[0]), separate_process=True)
    assert any(type(item) is SampleBatch for item in items)  # stops at the first batch

    items.close()  # what an import that failed on its first batch does to its items

    [process] = started
    assert process.returncode is not None


def test_a_parser_process_killed_midway_fails_the_import(generated_export, started):
    items = parser.iter_batches(open_export(generated_export[0]), separate_process=True)
    assert any(type(item) is SampleBatch for item in items)
    started[0].kill()

    with pytest.raises(parser.ParserProcessError):
        list(items)
    assert started[0].returncode is not None


WORKER = """
import sys, time
from integrations.providers.apple_health import parser
items = parser.iter_batches(parser.open_export(sys.argv[1]), separate_process=True)
any(type(item) is parser.SampleBatch for item in items)
print("reading", flush=True)
time.sleep(60)
"""


def test_a_killed_worker_leaves_no_parser_process_behind(generated_export):
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(generated_export[0])],
        cwd=Path(parser.__file__).parents[3],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline() == "reading\n"
        [child] = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        # Its next write finds no reader: the parser process stops at once, mid-file.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process_alive(int(child)):
            time.sleep(0.05)
        assert not process_alive(int(child))
    finally:
        worker.kill()
        worker.wait()


def process_alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its reaper has stopped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
