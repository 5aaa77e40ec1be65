"""A synthetic Apple Health export for benchmarks and tests: the real layout with made-up values.

The file looks like what the Health app writes: the inline DTD, `<ExportDate>` and `<Me>`, then
Records grouped by type and in time order (heart rate every few minutes, steps and energy from
phone and watch, nightly sleep stages, a weekly blood pressure whose Records are also repeated
inside a `<Correlation>`), then Correlations, Workouts with statistics and a route reference, and
one ActivitySummary a day. Values are random but plausible; nobody's data is in it.
"""

from __future__ import annotations

import datetime
import random
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

EXPORT_FOLDER = "apple_health_export"
WATCH = "Sam’s Apple Watch"
PHONE = "Sam’s iPhone"
WATCH_DEVICE = (
    "&lt;&lt;HKDevice: 0x2834f1a40&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
    "hardware:Watch6,2, software:10.2&gt;"
)
PHONE_DEVICE = (
    "&lt;&lt;HKDevice: 0x2834f2b80&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, "
    "hardware:iPhone14,5, software:17.2.1&gt;"
)
START_DAY = datetime.date(2021, 1, 4)
# Records written between two flushes of the text buffer: bounds memory, keeps writes large.
FLUSH_EVERY = 20_000

_HEALTH_DATA = (
    "<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord|Audiogram|"
    "VisionPrescription)*)>"
)
_HRV_NOTE = (
    "<!-- Note: Heart Rate Variability records captured by Apple Watch may include an associated list of "
    "instantaneous beats-per-minute readings. -->"
)
DTD = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 14 -->
{_HEALTH_DATA}
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate
  value CDATA #REQUIRED
>
<!ELEMENT Me EMPTY>
<!ATTLIST Me
  HKCharacteristicTypeIdentifierDateOfBirth         CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBiologicalSex       CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBloodType           CDATA #REQUIRED
  HKCharacteristicTypeIdentifierFitzpatrickSkinType CDATA #REQUIRED
  HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!-- Note: Any Records that appear as children of a correlation also appear as top-level records in this document. -->
<!ELEMENT Correlation ((MetadataEntry|Record)*)>
<!ATTLIST Correlation
  type          CDATA #REQUIRED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute|WorkoutStatistics)*)>
<!ATTLIST Workout
  workoutActivityType   CDATA #REQUIRED
  duration              CDATA #IMPLIED
  durationUnit          CDATA #IMPLIED
  totalDistance         CDATA #IMPLIED
  totalDistanceUnit     CDATA #IMPLIED
  totalEnergyBurned     CDATA #IMPLIED
  totalEnergyBurnedUnit CDATA #IMPLIED
  sourceName            CDATA #REQUIRED
  sourceVersion         CDATA #IMPLIED
  device                CDATA #IMPLIED
  creationDate          CDATA #IMPLIED
  startDate             CDATA #REQUIRED
  endDate               CDATA #REQUIRED
>
<!ELEMENT WorkoutActivity ((WorkoutEvent|WorkoutStatistics|MetadataEntry)*)>
<!ATTLIST WorkoutActivity
  uuid          CDATA #REQUIRED
  startDate     CDATA #REQUIRED
  endDate       CDATA #IMPLIED
  duration      CDATA #IMPLIED
  durationUnit  CDATA #IMPLIED
>
<!ELEMENT WorkoutEvent EMPTY>
<!ATTLIST WorkoutEvent
  type         CDATA #REQUIRED
  date         CDATA #REQUIRED
  duration     CDATA #IMPLIED
  durationUnit CDATA #IMPLIED
>
<!ELEMENT WorkoutStatistics EMPTY>
<!ATTLIST WorkoutStatistics
  type      CDATA #REQUIRED
  startDate CDATA #REQUIRED
  endDate   CDATA #REQUIRED
  average   CDATA #IMPLIED
  minimum   CDATA #IMPLIED
  maximum   CDATA #IMPLIED
  sum       CDATA #IMPLIED
  unit      CDATA #IMPLIED
>
<!ELEMENT WorkoutRoute ((MetadataEntry|FileReference)*)>
<!ATTLIST WorkoutRoute
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT FileReference EMPTY>
<!ATTLIST FileReference
  path CDATA #REQUIRED
>
<!ELEMENT ActivitySummary EMPTY>
<!ATTLIST ActivitySummary
  dateComponents           CDATA #IMPLIED
  activeEnergyBurned       CDATA #IMPLIED
  activeEnergyBurnedGoal   CDATA #IMPLIED
  activeEnergyBurnedUnit   CDATA #IMPLIED
  appleMoveTime            CDATA #IMPLIED
  appleMoveTimeGoal        CDATA #IMPLIED
  appleExerciseTime        CDATA #IMPLIED
  appleExerciseTimeGoal    CDATA #IMPLIED
  appleStandHours          CDATA #IMPLIED
  appleStandHoursGoal      CDATA #IMPLIED
>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry
  key   CDATA #REQUIRED
  value CDATA #REQUIRED
>
{_HRV_NOTE}
<!ELEMENT HeartRateVariabilityMetadataList (InstantaneousBeatsPerMinute*)>
<!ELEMENT InstantaneousBeatsPerMinute EMPTY>
<!ATTLIST InstantaneousBeatsPerMinute
  bpm  CDATA #REQUIRED
  time CDATA #REQUIRED
>
<!ELEMENT ClinicalRecord EMPTY>
<!ATTLIST ClinicalRecord
  type              CDATA #REQUIRED
  identifier        CDATA #REQUIRED
  sourceName        CDATA #REQUIRED
  sourceURL         CDATA #REQUIRED
  fhirVersion       CDATA #REQUIRED
  receivedDate      CDATA #REQUIRED
  resourceFilePath  CDATA #REQUIRED
>
]>
"""

# Layout: (start of the window in seconds from local midnight, its length in seconds).
DAYTIME = (7 * 3600, 15 * 3600)
WHOLE_DAY = (0, 86_400)
NIGHT = (23 * 3600, 8 * 3600)
SLEEP_STAGES = ("AsleepCore", "AsleepDeep", "AsleepCore", "AsleepREM", "AsleepCore", "Awake")

# Share of the records per type; heart rate takes what is left.
SHARES = {
    "HKQuantityTypeIdentifierStepCount": 0.10,
    "HKQuantityTypeIdentifierActiveEnergyBurned": 0.15,
    "HKQuantityTypeIdentifierBasalEnergyBurned": 0.08,
    "HKQuantityTypeIdentifierDistanceWalkingRunning": 0.08,
    "HKQuantityTypeIdentifierAppleExerciseTime": 0.02,
    "HKQuantityTypeIdentifierAppleStandTime": 0.02,
    "HKQuantityTypeIdentifierHeartRateVariabilitySDNN": 0.005,
    "HKQuantityTypeIdentifierOxygenSaturation": 0.005,
    "HKQuantityTypeIdentifierRespiratoryRate": 0.008,
    "HKCategoryTypeIdentifierSleepAnalysis": 0.012,
    "HKQuantityTypeIdentifierDietaryWater": 0.002,
    "HKQuantityTypeIdentifierDietaryEnergyConsumed": 0.002,
}
DAILY = ("HKQuantityTypeIdentifierRestingHeartRate", "HKQuantityTypeIdentifierBodyMass")


def _offset(day: datetime.date) -> str:
    # Central European time, roughly: summer time from April to October.
    return "+0200" if 4 <= day.month <= 10 else "+0100"


class _Clock:
    """Local timestamps as Apple writes them, cached per day."""

    def __init__(self, days: int):
        self.days = [START_DAY + datetime.timedelta(days=index) for index in range(days + 2)]
        self.prefixes = [f"{day.isoformat()} " for day in self.days]
        self.suffixes = [f" {_offset(day)}" for day in self.days]

    def stamp(self, day: int, seconds: int) -> str:
        # A time past midnight keeps the offset of the day it started from, so no interval runs backwards.
        extra, seconds = divmod(int(seconds), 86_400)
        hours, rest = divmod(seconds, 3600)
        return f"{self.prefixes[day + extra]}{hours:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}{self.suffixes[day]}"


class _TravellingClock(_Clock):
    """The phone's wall clock on a journey through time zones, with their daylight saving changes.

    `seconds` count real time from the local midnight of `day`, in the zone of that day: on the day
    the clocks change, 10 h after midnight reads 9:00 or 11:00, and the offset changes mid-night.
    """

    def __init__(self, days: int, itinerary: Sequence[tuple[int, str]]):
        super().__init__(days)
        stops = sorted(itinerary)
        self.zones = [
            ZoneInfo(next(zone for first, zone in reversed(stops) if first <= index)) for index in range(days + 2)
        ]
        self.midnights = [
            datetime.datetime.combine(day, datetime.time(), zone).astimezone(datetime.UTC)
            for day, zone in zip(self.days, self.zones, strict=True)
        ]

    def stamp(self, day: int, seconds: int) -> str:
        moment = self.midnights[day] + datetime.timedelta(seconds=int(seconds))
        return moment.astimezone(self.zones[day]).strftime("%Y-%m-%d %H:%M:%S %z")


# A journey for tests: half-hour and 45-minute offsets, both sides of UTC, and three clock changes
# (New York on 14 March 2021, Paris on 28 March, Adelaide back an hour on 4 April) for START_DAY.
TRAVEL = (
    (0, "Europe/Paris"),
    (10, "Asia/Kolkata"),
    (20, "Asia/Kathmandu"),
    (30, "Pacific/Auckland"),
    (40, "America/St_Johns"),
    (50, "Asia/Tokyo"),
    (65, "America/New_York"),
    (76, "Europe/Paris"),
    (89, "Australia/Adelaide"),
    (96, "Europe/London"),
)


def _spread(total: int, days: int) -> list[int]:
    base, extra = divmod(total, days)
    return [base + (1 if index < extra else 0) for index in range(days)]


def _slots(count: int, window: tuple[int, int]) -> Iterator[int]:
    start, length = window
    step = length / max(count, 1)
    for index in range(count):
        yield int(start + index * step)


def _record(
    clock: _Clock, kind: str, day: int, start: int, end: int, value: str, unit: str | None, watch: bool = True
) -> str:
    source, device = (WATCH, WATCH_DEVICE) if watch else (PHONE, PHONE_DEVICE)
    unit_attribute = f' unit="{unit}"' if unit else ""
    return (
        f' <Record type="{kind}" sourceName="{source}" sourceVersion="10.2" device="{device}"{unit_attribute}'
        f' creationDate="{clock.stamp(day, end + 7)}" startDate="{clock.stamp(day, start)}"'
        f' endDate="{clock.stamp(day, end)}" value="{value}"'
    )


Writer = Callable[[_Clock, random.Random, int, int], Iterator[str]]


def _instant(kind: str, unit: str, window: tuple[int, int], low: float, high: float, digits: int = 0) -> Writer:
    def write(clock: _Clock, rng: random.Random, day: int, count: int) -> Iterator[str]:
        for start in _slots(count, window):
            value = round(rng.uniform(low, high), digits) if digits else int(rng.uniform(low, high))
            yield _record(clock, kind, day, start, start, str(value), unit) + "/>\n"

    return write


def _interval(
    kind: str, unit: str, window: tuple[int, int], seconds: int, low: float, high: float, digits: int = 0
) -> Writer:
    def write(clock: _Clock, rng: random.Random, day: int, count: int) -> Iterator[str]:
        for index, start in enumerate(_slots(count, window)):
            value = round(rng.uniform(low, high), digits) if digits else int(rng.uniform(low, high))
            yield _record(clock, kind, day, start, start + seconds, str(value), unit, watch=index % 3 != 0) + "/>\n"

    return write


def _heart_rate(clock: _Clock, rng: random.Random, day: int, count: int) -> Iterator[str]:
    kind = "HKQuantityTypeIdentifierHeartRate"
    for index, start in enumerate(_slots(count, WHOLE_DAY)):
        value = int(rng.gauss(72, 9))
        record = _record(clock, kind, day, start, start, str(max(value, 38)), "count/min")
        if index % 2:
            yield record + "/>\n"
        else:
            yield record + '>\n  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="0"/>\n </Record>\n'


def _variability(clock: _Clock, rng: random.Random, day: int, count: int) -> Iterator[str]:
    kind = "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"
    for start in _slots(count, WHOLE_DAY):
        beats = "".join(
            f'   <InstantaneousBeatsPerMinute bpm="{int(rng.uniform(55, 75))}" time="3:1{beat}:4{beat}.25 AM"/>\n'
            for beat in range(1, 9)
        )
        yield (
            _record(clock, kind, day, start, start + 60, f"{rng.uniform(20, 80):.3f}", "ms")
            + f">\n  <HeartRateVariabilityMetadataList>\n{beats}  </HeartRateVariabilityMetadataList>\n </Record>\n"
        )


def _sleep(clock: _Clock, rng: random.Random, day: int, count: int) -> Iterator[str]:
    kind = "HKCategoryTypeIdentifierSleepAnalysis"
    if not count:
        return
    start, length = NIGHT
    start += int(rng.uniform(-1800, 1800))
    yield (
        _record(clock, kind, day, start, start + length, "HKCategoryValueSleepAnalysisInBed", None, watch=False)
        + "/>\n"
    )
    stages = count - 1
    for index, begin in enumerate(_slots(stages, (start + 600, length - 600))):
        end = begin + (length - 600) // max(stages, 1)
        stage = SLEEP_STAGES[index % len(SLEEP_STAGES)]
        yield _record(clock, kind, day, begin, end, f"HKCategoryValueSleepAnalysis{stage}", None) + "/>\n"


def _oxygen(clock: _Clock, rng: random.Random, day: int, count: int) -> Iterator[str]:
    kind = "HKQuantityTypeIdentifierOxygenSaturation"
    for start in _slots(count, NIGHT):
        yield _record(clock, kind, day, start, start, f"{rng.uniform(0.93, 0.99):.2f}", "%") + "/>\n"


WRITERS: dict[str, Writer] = {
    "HKQuantityTypeIdentifierHeartRate": _heart_rate,
    "HKQuantityTypeIdentifierStepCount": _interval("HKQuantityTypeIdentifierStepCount", "count", DAYTIME, 420, 20, 900),
    "HKQuantityTypeIdentifierActiveEnergyBurned": _interval(
        "HKQuantityTypeIdentifierActiveEnergyBurned", "kcal", DAYTIME, 60, 0.1, 6, 3
    ),
    "HKQuantityTypeIdentifierBasalEnergyBurned": _interval(
        "HKQuantityTypeIdentifierBasalEnergyBurned", "kcal", WHOLE_DAY, 900, 12, 20, 3
    ),
    "HKQuantityTypeIdentifierDistanceWalkingRunning": _interval(
        "HKQuantityTypeIdentifierDistanceWalkingRunning", "km", DAYTIME, 300, 0.01, 0.6, 5
    ),
    "HKQuantityTypeIdentifierAppleExerciseTime": _interval(
        "HKQuantityTypeIdentifierAppleExerciseTime", "min", DAYTIME, 60, 1, 2
    ),
    "HKQuantityTypeIdentifierAppleStandTime": _interval(
        "HKQuantityTypeIdentifierAppleStandTime", "min", DAYTIME, 300, 1, 5
    ),
    "HKQuantityTypeIdentifierHeartRateVariabilitySDNN": _variability,
    "HKQuantityTypeIdentifierRestingHeartRate": _instant(
        "HKQuantityTypeIdentifierRestingHeartRate", "count/min", (86_000, 1), 50, 64
    ),
    "HKQuantityTypeIdentifierBodyMass": _instant("HKQuantityTypeIdentifierBodyMass", "kg", (27_000, 1), 70, 74, 1),
    "HKQuantityTypeIdentifierOxygenSaturation": _oxygen,
    "HKQuantityTypeIdentifierRespiratoryRate": _instant(
        "HKQuantityTypeIdentifierRespiratoryRate", "count/min", NIGHT, 12, 17, 1
    ),
    "HKCategoryTypeIdentifierSleepAnalysis": _sleep,
    "HKQuantityTypeIdentifierDietaryWater": _instant("HKQuantityTypeIdentifierDietaryWater", "mL", DAYTIME, 150, 500),
    "HKQuantityTypeIdentifierDietaryEnergyConsumed": _instant(
        "HKQuantityTypeIdentifierDietaryEnergyConsumed", "kcal", DAYTIME, 200, 900
    ),
}


def _blood_pressure(clock: _Clock, rng: random.Random, days: int) -> tuple[list[str], list[str], list[str]]:
    """(systolic Records, diastolic Records, Correlations) for one reading a week, as Apple repeats them."""
    systolic, diastolic, correlations = [], [], []
    for day in range(3, days, 7):
        at = 8 * 3600 + 300
        high = _record(
            clock,
            "HKQuantityTypeIdentifierBloodPressureSystolic",
            day,
            at,
            at,
            str(int(rng.uniform(110, 135))),
            "mmHg",
            watch=False,
        )
        low = _record(
            clock,
            "HKQuantityTypeIdentifierBloodPressureDiastolic",
            day,
            at,
            at,
            str(int(rng.uniform(68, 85))),
            "mmHg",
            watch=False,
        )
        systolic.append(high + "/>\n")
        diastolic.append(low + "/>\n")
        correlations.append(
            f' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="{PHONE}" sourceVersion="17.2"'
            f' creationDate="{clock.stamp(day, at + 7)}" startDate="{clock.stamp(day, at)}"'
            f' endDate="{clock.stamp(day, at)}">\n  <MetadataEntry key="HKWasUserEntered" value="1"/>\n'
            f" {low}/>\n {high}/>\n </Correlation>\n"
        )
    return systolic, diastolic, correlations


def _workouts(clock: _Clock, rng: random.Random, days: int) -> Iterator[str]:
    for day in range(1, days, 3):
        start, minutes = 18 * 3600, rng.uniform(25, 55)
        end = start + int(minutes * 60)
        kilometres, energy = minutes / 5.8, minutes * 11.5
        span = f'startDate="{clock.stamp(day, start)}" endDate="{clock.stamp(day, end)}"'
        yield (
            f' <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="{minutes:.4f}"'
            f' durationUnit="min" sourceName="{WATCH}" sourceVersion="10.2" device="{WATCH_DEVICE}"'
            f' creationDate="{clock.stamp(day, end + 30)}" {span}>\n'
            '  <MetadataEntry key="HKIndoorWorkout" value="0"/>\n'
            f'  <MetadataEntry key="HKElevationAscended" value="{int(rng.uniform(500, 4000))} cm"/>\n'
            f'  <WorkoutEvent type="HKWorkoutEventTypeSegment" date="{clock.stamp(day, start)}"'
            f' duration="{minutes / 2:.4f}" durationUnit="min"/>\n'
            f'  <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" {span} sum="{energy:.3f}"'
            ' unit="kcal"/>\n'
            f'  <WorkoutStatistics type="HKQuantityTypeIdentifierHeartRate" {span}'
            f' average="{rng.uniform(140, 160):.2f}"'
            f' minimum="{int(rng.uniform(95, 110))}" maximum="{int(rng.uniform(170, 185))}" unit="count/min"/>\n'
            f'  <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" {span}'
            f' sum="{kilometres:.4f}" unit="km"/>\n'
            f'  <WorkoutRoute sourceName="{WATCH}" sourceVersion="10.2" creationDate="{clock.stamp(day, end + 40)}"'
            f" {span}>\n"
            f'   <FileReference path="/workout-routes/route_{clock.days[day].isoformat()}_6.00pm.gpx"/>\n'
            "  </WorkoutRoute>\n </Workout>\n"
        )


def _activity_summaries(clock: _Clock, rng: random.Random, days: int) -> Iterator[str]:
    for day in range(days):
        yield (
            f' <ActivitySummary dateComponents="{clock.days[day].isoformat()}"'
            f' activeEnergyBurned="{rng.uniform(250, 800):.3f}" activeEnergyBurnedGoal="500"'
            ' activeEnergyBurnedUnit="kcal" appleMoveTime="0" appleMoveTimeGoal="0"'
            f' appleExerciseTime="{int(rng.uniform(5, 70))}" appleExerciseTimeGoal="30"'
            f' appleStandHours="{int(rng.uniform(6, 15))}" appleStandHoursGoal="12"/>\n'
        )


def _document(
    records: int, days: int, seed: int, itinerary: Sequence[tuple[int, str]] | None
) -> Iterator[tuple[str, int]]:
    """The export as (text, Records in it) pieces."""
    rng = random.Random(seed)  # noqa: S311 -- made-up values, not secrets
    clock = _TravellingClock(days, itinerary) if itinerary else _Clock(days)
    systolic, diastolic, correlations = _blood_pressure(clock, rng, days)
    counts = {kind: int(records * share) for kind, share in SHARES.items()}
    counts.update(dict.fromkeys(DAILY, days))
    counts["HKQuantityTypeIdentifierHeartRate"] = max(records - sum(counts.values()) - 4 * len(systolic), 0)
    yield DTD, 0
    yield (
        '<HealthData locale="en_GB">\n'
        f' <ExportDate value="{clock.stamp(days, 9 * 3600)}"/>\n'
        ' <Me HKCharacteristicTypeIdentifierDateOfBirth="1984-03-02"'
        ' HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"'
        ' HKCharacteristicTypeIdentifierBloodType="HKBloodTypeAPositive"'
        ' HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet"'
        ' HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse="None"/>\n',
        0,
    )
    for kind, writer in WRITERS.items():
        for day, count in enumerate(_spread(counts[kind], days)):
            if count:
                yield "".join(writer(clock, rng, day, count)), count
    yield "".join(systolic), len(systolic)
    yield "".join(diastolic), len(diastolic)
    yield "".join(correlations), 2 * len(correlations)
    yield "".join(_workouts(clock, rng, days)), 0
    yield "".join(_activity_summaries(clock, rng, days)), 0
    yield "</HealthData>\n", 0


def write_export(
    path: str | Path,
    *,
    records: int = 1_000_000,
    days: int = 365 * 3,
    zipped: bool = True,
    seed: int = 1,
    itinerary: Sequence[tuple[int, str]] | None = None,
) -> int:
    """Write a synthetic export.zip (apple_health_export/export.xml) or bare export.xml; return its Record count.

    Times are Central European by default; an `itinerary` of (first day, IANA time zone) stops, such
    as `TRAVEL`, writes them as the phone of someone travelling through those zones would.
    """
    path = Path(path)
    written = 0
    if zipped:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            archive.writestr(f"{EXPORT_FOLDER}/", b"")
            with archive.open(f"{EXPORT_FOLDER}/export.xml", "w", force_zip64=True) as member:
                written = _write_pieces(member, _document(records, days, seed, itinerary))
    else:
        with path.open("wb") as handle:
            written = _write_pieces(handle, _document(records, days, seed, itinerary))
    return written


def _write_pieces(handle, pieces: Iterator[tuple[str, int]]) -> int:
    written = 0
    buffer: list[str] = []
    pending = 0
    for text, count in pieces:
        buffer.append(text)
        written += count
        pending += count
        if pending >= FLUSH_EVERY:
            handle.write("".join(buffer).encode("utf-8"))
            buffer.clear()
            pending = 0
    handle.write("".join(buffer).encode("utf-8"))
    return written
