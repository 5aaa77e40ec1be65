"""MyFitnessPal CSV exports: the three kinds, weight units, odd layouts, refusals and stable re-reads."""

import datetime
import io
from pathlib import Path

import pytest

from integrations.providers.items import ParseError, Sample, WorkoutItem
from integrations.providers.myfitnesspal import parser
from integrations.providers.myfitnesspal.parser import ParseStats, detect_kind, iter_samples

DATA = Path(__file__).parent / "data" / "myfitnesspal"
BOM = b"\xef\xbb\xbf"


def parse(content: bytes, **options) -> tuple[list, ParseStats]:
    stats = ParseStats()
    return list(iter_samples(io.BytesIO(content), stats=stats, **options)), stats


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def utc(day: str, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(hour, minute), tzinfo=datetime.UTC)


def samples(items: list, metric: str) -> list[Sample]:
    return [item for item in items if isinstance(item, Sample) and item.metric == metric]


def workouts(items: list) -> list[WorkoutItem]:
    return [item for item in items if isinstance(item, WorkoutItem)]


def test_nutrition_export_gives_each_meal_its_own_time_of_the_diary_day():
    content = fixture("nutrition.csv")
    assert content.startswith(BOM) and b"\r\n" in content

    items, stats = parse(content, filename="Nutrition-Summary-2024-03-04-to-2024-03-06.csv")

    assert stats.kind == "nutrition" and stats.read == 9 and stats.samples == 63 and not stats.rejected
    energy = {(item.start, item.value) for item in samples(items, "dietary_energy") if item.start.day == 4}
    # "1,085" is read with its thousands separator; the quoted note with a comma shifts nothing.
    assert energy == {
        (utc("2024-03-04", 8), 412),
        (utc("2024-03-04", 12), 655),
        (utc("2024-03-04", 16), 230),
        (utc("2024-03-04", 19), 1085),
    }
    dinner = {item.metric: (item.value, item.unit) for item in items if item.start == utc("2024-03-04", 19)}
    assert dinner == {
        "dietary_energy": (1085, "kcal"),
        "fat": (48.3, "g"),
        "sodium": (1740, "mg"),
        "carbohydrates": (96.0, "g"),
        "fiber": (9.8, "g"),
        "sugar": (12.1, "g"),
        "protein": (62.4, "g"),
    }
    assert all(item.end == item.start and item.source == "MyFitnessPal" for item in items)
    assert {"saturated fat", "cholesterol", "vitamin a", "note"} <= set(stats.ignored_columns)


def test_nutrition_with_extra_and_missing_columns_empty_cells_and_bad_rows():
    items, stats = parse(fixture("nutrition-newer-layout.csv"))

    assert stats.read == 7 and stats.samples == 20
    assert stats.rejected == {"number": 1, "date": 1}
    assert {"time", "water"} <= set(stats.ignored_columns)
    lunch = {item.metric: item.value for item in items if item.start == utc("2024-04-10", 12)}
    assert lunch == {"dietary_energy": 610, "fat": 22, "protein": 35}
    short_row = {item.metric: item.value for item in items if item.start == utc("2024-04-11", 8)}
    assert short_row == {"dietary_energy": 410, "carbohydrates": 48}
    # A meal with its own name gets a minute after 20:00 derived from the name: the same in every run.
    other_meal = [item.start for item in samples(items, "dietary_energy") if item.value == 220]
    assert other_meal == [utc("2024-04-10", 22, 33)]
    # Rows with an impossible date or a unit inside a number give nothing.
    assert not [item for item in items if item.start.month == 2 or item.start.day == 30]


def test_exercise_export_gives_workouts_and_steps():
    content = fixture("exercise.csv")
    assert content.startswith(BOM) and b"\r\n" in content

    items, stats = parse(content)

    assert stats.kind == "exercise" and stats.workouts == 5 and not stats.rejected
    run, bench, bench_again, walk, ride = workouts(items)
    assert run.activity == "running (jogging), 5.2 mph (11.5 min mile)"
    assert (run.start, run.end, run.duration_s, run.energy_kcal) == (
        utc("2024-03-04", 12),
        utc("2024-03-04", 12, 35),
        2100,
        412,
    )
    assert bench.statistics == {"sets": 4, "reps_per_set": 8, "weight_kg": 60}
    assert bench.duration_s is None and bench.energy_kcal is None
    assert bench_again.statistics == {"sets": 3, "reps_per_set": 10, "weight_kg": 50}
    assert bench.source_id != bench_again.source_id
    assert (walk.activity, walk.duration_s, walk.energy_kcal) == ("walking", 2400, 145)
    assert (ride.duration_s, ride.energy_kcal) == (9000, 1020)
    # Calorie adjustments are not workouts; their steps (even with negative calories) are kept.
    assert not [workout for workout in workouts(items) if "adjustment" in workout.activity]
    steps = [(item.start, item.end, item.value, item.unit) for item in samples(items, "steps")]
    assert steps == [
        (utc("2024-03-04"), utc("2024-03-05"), 9412, "count"),
        (utc("2024-03-05"), utc("2024-03-06"), 4200, "count"),
        (utc("2024-03-06"), utc("2024-03-07"), 3150, "count"),
    ]


def test_exercise_load_in_pounds_is_converted():
    content = (
        b"Date,Exercise,Type,Exercise Calories,Exercise Minutes,Sets,Reps Per Set,Pounds,Steps,Note\r\n"
        b"2024-03-05,Deadlift,Strength,0,0,3,5,225,,\r\n"
    )

    (deadlift,), _stats = parse(content)

    assert deadlift.statistics == {"sets": 3, "reps_per_set": 5, "weight_kg": 102.0583}


def test_exercise_name_cannot_start_a_spreadsheet_formula():
    content = b'Date,Exercise,Exercise Minutes\r\n2024-03-05,"=HYPERLINK(""http://example.test"",""Run"")",30\r\n'

    (workout,), _stats = parse(content)

    assert workout.activity == 'hyperlink("http://example.test","run")'


def test_measurement_in_pounds_is_converted_to_kilograms():
    content = fixture("measurement-pounds.csv")
    assert content.startswith(BOM) and b"\r\n" in content

    items, stats = parse(content)

    assert [(item.start, item.value, item.unit) for item in samples(items, "weight")] == [
        (utc("2024-03-01", 12), 74.8427, "kg"),
        (utc("2024-03-04", 12), 74.4799, "kg"),
        (utc("2024-03-08", 12), 74.117, "kg"),
    ]
    assert [(item.start, item.value, item.unit) for item in samples(items, "body_fat")] == [
        (utc("2024-03-01", 12), 24.1, "%"),
        (utc("2024-03-08", 12), 23.8, "%"),
    ]
    assert stats.read == 4 and stats.ignored_columns == ["waist"]


def test_measurement_in_kilograms_is_kept():
    items, _stats = parse(fixture("measurement-kilograms.csv"))

    assert [item.value for item in samples(items, "weight")] == [74.8, 74.5, 74.1]


def test_measurement_with_a_pounds_column():
    items, _stats = parse(b"Date,Pounds\r\n2024-03-01,165\r\n")

    assert [(item.value, item.unit) for item in items] == [(74.8427, "kg")]


def test_measurement_without_a_unit_is_refused_until_the_patient_chooses_one():
    content = fixture("measurement-no-unit.csv")

    with pytest.raises(ParseError, match="kilograms or pounds"):
        parse(content)
    in_pounds, _stats = parse(content, weight_unit="lb")
    in_kilograms, _stats = parse(content, weight_unit="kg")

    assert [item.value for item in samples(in_pounds, "weight")] == [33.9287, 33.6112]
    assert [item.value for item in samples(in_kilograms, "weight")] == [74.8, 74.1]


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (["Meal", "date", "Protein (g)", "Calories"], "nutrition"),
        (["Date", "Calories", "Fat", "Carbs"], "nutrition"),
        (["Date", "Exercise Name", "Exercise Minutes", "Exercise Calories Burned"], "exercise"),
        (["Date", "Exercise", "Sets", "Reps Per Set", "Kilograms"], "exercise"),
        (["Date", "Body Fat %", "Weight", "Neck"], "measurement"),
        (["\ufeffDate", "Kilograms"], "measurement"),
    ],
)
def test_kind_is_recognised_by_header_whatever_the_order(header, kind):
    assert detect_kind(header) == kind


@pytest.mark.parametrize(
    "header",
    [
        ["Date", "Calories Burned", "Steps", "Distance", "Floors"],
        ["Type", "Value", "Unit"],
        ["Meal", "Calories", "Protein"],
        [],
    ],
)
def test_unknown_header_is_not_an_export(header):
    with pytest.raises(ParseError, match="not a MyFitnessPal export"):
        detect_kind(header)


def test_another_apps_csv_is_refused():
    with pytest.raises(ParseError, match="^This file is not a MyFitnessPal export: "):
        parse(fixture("not-myfitnesspal.csv"))


def test_empty_file_is_refused():
    with pytest.raises(ParseError, match="empty"):
        parse(fixture("empty.csv"))


def test_text_that_is_not_utf8_is_refused():
    with pytest.raises(ParseError, match="UTF-8"):
        parse(b"Date,Meal,Calories,Note\r\n2024-03-04,Lunch,500,Caf\xe9 au lait\r\n")


def test_a_huge_line_is_refused():
    with pytest.raises(ParseError, match="line"):
        parse(b"Date,Meal,Calories,Note\r\n2024-03-04,Lunch,500," + b"x" * (parser.MAX_LINE_CHARS + 10) + b"\r\n")


def test_a_huge_quoted_field_over_many_lines_is_refused():
    note = (b"x" * 1_000 + b"\r\n") * 140

    with pytest.raises(ParseError, match="not a readable CSV"):
        parse(b'Date,Meal,Calories,Note\r\n2024-03-04,Lunch,500,"' + note + b'"\r\n')


def test_too_many_rows_are_refused(monkeypatch):
    monkeypatch.setattr(parser, "MAX_ROWS", 3)

    with pytest.raises(ParseError, match="more rows"):
        parse(fixture("nutrition.csv"))


def test_progress_is_reported_in_rows_and_bytes(monkeypatch):
    monkeypatch.setattr(parser, "PROGRESS_EVERY", 4)
    content = fixture("nutrition.csv")
    calls = []

    list(iter_samples(io.BytesIO(content), progress=lambda *args: calls.append(args)))

    assert [(rows, total) for rows, _position, total in calls] == [(4, len(content)), (8, len(content))]
    assert all(0 < position <= len(content) for _rows, position, _total in calls)


def test_the_callers_stream_stays_open():
    stream = io.BytesIO(fixture("measurement-kilograms.csv"))

    list(iter_samples(stream))

    assert not stream.closed


@pytest.mark.parametrize(
    "name",
    ["nutrition.csv", "nutrition-newer-layout.csv", "exercise.csv", "measurement-pounds.csv"],
)
def test_the_same_file_twice_gives_the_same_items(name):
    first, _stats = parse(fixture(name))
    again, _stats = parse(fixture(name))

    assert first and first == again
