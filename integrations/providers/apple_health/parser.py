"""Apple Health "Export All Health Data" (export.zip or export.xml) to normalised items, streamed and safely.

`open_export(path)` checks the file and finds export.xml in it; `iter_items(source)` streams it and
yields `Sample`, `WorkoutItem`, `DailyActivity`, `ProfileHint` and `ClinicalDocument` items, never
touching the database (`iter_batches`, the import's, yields samples in batches). What was skipped
or refused is counted in `source.stats`; `check_export` reads the whole file first, writing nothing.

Safety. Zip members are streamed with `zipfile.open`, never extracted. An archive with absolute or
`..` member paths, symbolic links, more than the size caps or a zip-bomb compression ratio is
refused as a whole. The XML DOCTYPE is cut out before parsing: Apple's DTD only documents the
format, iOS 16 wrote a malformed one, and without it no entity can be declared, so neither an
external entity (XXE) nor an entity expansion (billion laughs) can exist; a DOCTYPE declaring
entities is refused outright. The libxml2 parser is configured not to resolve entities, load a DTD,
use the network or lift its size limits.

Streaming. lxml calls a target object for each start and end tag (no tree is built), fed 1 MiB at
a time: memory does not depend on the size of the export, and this measured 1.8 times faster than
`iterparse` with element clearing on the same file.

Speed. An import reads millions of Records, so the Record path makes no `Sample` and no datetime:
`iter_batches` yields samples as `SampleBatch`es of the store's rows, one chunk of the store each,
and reads Apple's dates ("2024-03-10 08:15:00 +0100") from two caches, the epoch of each local
midnight with its offset and the seconds of each time of day, filled only from dates Python has
read (any other form goes through datetimes, as before). `iter_items` gives the same samples back
as objects. A large export is parsed by a process of its own (`separate_process`): the import's
merge and encryption run beside the parse, on the other core, and so does the check before
anything is written (`check_export`: the same libxml2 parser, bytes and options, nothing called
back), which the import's process runs while the parser process reads ahead.

Blood pressure. Records inside a `<Correlation>` are repeated at top level by Apple (not always in
hand-trimmed files). Records of the types that Correlations hold (blood pressure, dietary) are
yielded once per (type, start, end, value, source), whichever copy comes first; the store would
drop the exact duplicate anyway, this only keeps the counts honest.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import io
import math
import os
import pickle
import re
import stat
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from lxml import etree

from integrations.providers.items import ClinicalDocument, DailyActivity, ParseError, ProfileHint, WorkoutItem
from records.timeseries import (
    CHUNK_SAMPLES,
    METRICS,
    SECONDS_PER_DAY,
    Sample,
    SampleBatch,
    TimeSeriesError,
    UnitError,
    sleep_stage_code,
)

__all__ = [
    "RECORD_METRICS",
    "SEPARATE_PROCESS_MIN_BYTES",
    "ExportSource",
    "ParseStats",
    "ParserProcessError",
    "check_export",
    "iter_batches",
    "iter_items",
    "open_export",
]

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# Caps. A real export.xml reaches a few GB and export_cda.xml about as much again.
MAX_TOTAL_UNCOMPRESSED_BYTES = 32 * GiB
MAX_MEMBERS = 500_000
# Real members compress 5 to 25 times; deflate can reach about 1000.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_MIN_BYTES = 4 * MiB
MAX_CLINICAL_DOCUMENT_BYTES = 8 * MiB
# Apple's DTD is about 12 KB; whatever comes before the root element must fit in this.
MAX_PROLOG_BYTES = 1 * MiB
READ_CHUNK_BYTES = 1 * MiB
PROGRESS_EVERY = 50_000
# An export.xml this large is worth a parser process of its own (it starts in about 0.2 s).
SEPARATE_PROCESS_MIN_BYTES = 32 * MiB
# Caches of the Record hot path, cleared when full (a hostile file cannot grow them without bound).
MAX_CACHED_DAYS = 20_000
MAX_CACHED_SOURCES = 10_000
MAX_CACHED_UNITS = 10_000
# Keys of Records that Correlations repeat; past this many, a repeat may reach the store, which drops it.
MAX_REMEMBERED_REPEATS = 200_000

EXPORT_XML = "export.xml"
CLINICAL_FOLDER = "clinical-records"
ROOT_TAG = b"HealthData"
SOURCE_NAME = "Apple Health"

NOT_APPLE = _(
    "This file is not an Apple Health export. In the Health app, tap your picture, then "
    "“Export All Health Data”, and upload the export.zip it creates."
)
EMPTY_FILE = _("The file is empty. Export your data again from the Health app and upload the new file.")
UNREADABLE = _("The file could not be read. Upload it again.")
DAMAGED_ZIP = _(
    "The zip file is damaged or incomplete. Export your data again from the Health app and upload the new file."
)
DAMAGED_XML = _(
    "The export is damaged or incomplete and could not be read to the end. "
    "Export your data again and upload the new file."
)
NO_EXPORT = _("The zip file does not contain an Apple Health export (export.xml).")
SEVERAL_EXPORTS = _("The zip file contains more than one Apple Health export. Upload one export at a time.")
UNSAFE_PATH = _("The zip file contains a file stored with an unsafe path, so it was not opened.")
SYMLINK = _("The zip file contains a symbolic link, so it was not opened.")
TOO_LARGE = _("The zip file unpacks to more than this service accepts, so it was not opened.")
TOO_MANY_FILES = _("The zip file contains more files than an Apple Health export does, so it was not opened.")
BOMB = _("The zip file is compressed far more than a real export can be, so it was not opened.")
ENCRYPTED = _("The zip file is password-protected. Upload the export.zip exactly as the Health app created it.")
UNSUPPORTED = _(
    "The zip file uses a compression method that cannot be read. Upload the export.zip as the Health app created it."
)
ENTITIES = _("This file declares XML entities, which Apple Health exports never do, so it was not read.")

# Record type -> metric key; checked against the registry when this module loads.
RECORD_METRICS = {
    "HKQuantityTypeIdentifierHeartRate": "heart_rate",
    "HKQuantityTypeIdentifierRestingHeartRate": "resting_heart_rate",
    "HKQuantityTypeIdentifierHeartRateVariabilitySDNN": "heart_rate_variability",
    "HKQuantityTypeIdentifierStepCount": "steps",
    # Cycling, swimming and wheelchair distances are not walking: they stay out of "distance".
    "HKQuantityTypeIdentifierDistanceWalkingRunning": "distance",
    "HKQuantityTypeIdentifierActiveEnergyBurned": "active_energy",
    "HKQuantityTypeIdentifierBasalEnergyBurned": "basal_energy",
    "HKQuantityTypeIdentifierAppleExerciseTime": "exercise_time",
    "HKQuantityTypeIdentifierBodyMass": "weight",
    "HKQuantityTypeIdentifierBodyFatPercentage": "body_fat",
    "HKQuantityTypeIdentifierBodyMassIndex": "bmi",
    "HKQuantityTypeIdentifierHeight": "height",
    "HKQuantityTypeIdentifierBloodPressureSystolic": "blood_pressure_systolic",
    "HKQuantityTypeIdentifierBloodPressureDiastolic": "blood_pressure_diastolic",
    "HKQuantityTypeIdentifierBloodGlucose": "blood_glucose",
    "HKQuantityTypeIdentifierOxygenSaturation": "oxygen_saturation",
    "HKQuantityTypeIdentifierRespiratoryRate": "respiratory_rate",
    "HKQuantityTypeIdentifierVO2Max": "vo2max",
    "HKQuantityTypeIdentifierBodyTemperature": "body_temperature",
    "HKQuantityTypeIdentifierDietaryEnergyConsumed": "dietary_energy",
    "HKQuantityTypeIdentifierDietaryProtein": "protein",
    "HKQuantityTypeIdentifierDietaryCarbohydrates": "carbohydrates",
    "HKQuantityTypeIdentifierDietaryFatTotal": "fat",
    "HKQuantityTypeIdentifierDietarySugar": "sugar",
    "HKQuantityTypeIdentifierDietaryFiber": "fiber",
    "HKQuantityTypeIdentifierDietarySodium": "sodium",
    "HKQuantityTypeIdentifierDietaryWater": "water",
    "HKCategoryTypeIdentifierSleepAnalysis": "sleep",
    "HKCategoryTypeIdentifierMindfulSession": "mindful_minutes",
}

_QUANTITY, _SLEEP, _DURATION = range(3)
_MODES = {"sleep": _SLEEP, "mindful_minutes": _DURATION}
# (metric, how the value is read, whether a Correlation may repeat it, the values the metric allows)
_RULES = {
    kind: (
        METRICS[metric].key,
        _MODES.get(metric, _QUANTITY),
        "BloodPressure" in kind or "Dietary" in kind,
        METRICS[metric].valid_values,
    )
    for kind, metric in RECORD_METRICS.items()
}
_INFINITY = math.inf
_parse_datetime = datetime.datetime.fromisoformat
# Apple's own date format, the only one the hot path reads without a datetime.
_APPLE_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}")
_UNKNOWN_UNIT = object()
_PROJECT_ROOT = Path(__file__).resolve().parents[3]
# Characters XML 1.0 forbids; old exports carry vertical tabs in free text, which would stop the parse.
_CONTROL_TO_SPACE = bytes.maketrans(bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]), b" " * (9 + 2 + 18))
_DOCTYPE_END = re.compile(rb"\]\s*>")
_ROOT_NAME = re.compile(rb"<([A-Za-z_][\w.\-:]*)")
_WHITESPACE = b" \t\r\n"
# Beginnings of prolog constructs: a buffer ending inside one needs more bytes.
_OPENINGS = (b"<?", b"<!--", b"<!DOCTYPE")
_SEX = {"HKBiologicalSexFemale": "female", "HKBiologicalSexMale": "male", "HKBiologicalSexOther": "other"}
_BLOOD_TYPES = {
    f"HKBloodType{name}{sign_name}": f"{name}{sign}"
    for name in ("A", "B", "AB", "O")
    for sign_name, sign in (("Positive", "+"), ("Negative", "-"))
}
_OTHER_TAGS = frozenset(
    {
        "Workout",
        "Location",
        "FileReference",
        "WorkoutRoute",
        "Correlation",
        "ActivitySummary",
        "Me",
        "ClinicalRecord",
        "ExportDate",
    }
)
_DAILY_FIELDS = frozenset(item.name for item in fields(DailyActivity))
_PARSER_OPTIONS = {
    "resolve_entities": False,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "no_network": True,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}


@dataclass
class ParseStats:
    """What one pass over an export read, yielded, skipped and refused (complete once iteration ends)."""

    records_read: int = 0
    samples_yielded: int = 0
    duplicates_skipped: int = 0
    correlations: int = 0
    workouts: int = 0
    activity_days: int = 0
    profile_hints: int = 0
    clinical_documents: int = 0
    clinical_records_listed: int = 0
    routes: int = 0
    route_files: int = 0
    route_points: int = 0
    bytes_read: int = 0
    total_bytes: int = 0
    export_date: datetime.datetime | None = None
    skipped_by_type: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        """How many records or documents were refused, all reasons together."""
        return sum(self.rejected_by_reason.values())


@dataclass
class ExportSource:
    """A checked export: the file, where its export.xml is, and its clinical documents; holds no open handle."""

    path: Path
    xml_member: str | None  # None: `path` is the export.xml itself
    xml_bytes: int
    clinical_members: tuple[str, ...] = ()
    stats: ParseStats = field(default_factory=ParseStats)

    @property
    def is_zip(self) -> bool:
        """Whether the export came as a zip (else a bare export.xml)."""
        return self.xml_member is not None


# -- opening ---------------------------------------------------------------------------------------


def open_export(path: str | Path) -> ExportSource:
    """Check an export.zip or export.xml and find its parts (reads only the zip directory and the XML prolog)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError:
        raise ParseError(UNREADABLE) from None
    if size == 0:
        raise ParseError(EMPTY_FILE)
    if magic.startswith(b"PK"):
        with _zip_export(path) as (archive, xml_info, clinical):
            with _guard_zip(), archive.open(xml_info) as member:
                _read_prolog(member)
            return ExportSource(path, xml_info.filename, xml_info.file_size, tuple(info.filename for info in clinical))
    with path.open("rb") as handle:
        _read_prolog(handle)
    return ExportSource(path, None, size)


@contextlib.contextmanager
def _guard_zip() -> Iterator[None]:
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise ParseError(DAMAGED_ZIP) from None
    except NotImplementedError:
        raise ParseError(UNSUPPORTED) from None


@contextlib.contextmanager
def _zip_export(path: Path) -> Iterator[tuple[zipfile.ZipFile, zipfile.ZipInfo, list[zipfile.ZipInfo]]]:
    """The open archive, its checked export.xml member and clinical-record members."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        # A damaged central directory shows up as any of these.
        raise ParseError(DAMAGED_ZIP) from None
    with archive:
        xml_info, clinical = _inspect_zip(archive)
        yield archive, xml_info, clinical


def _unsafe_name(name: str) -> bool:
    normal = name.replace("\\", "/")
    return (
        "\x00" in normal
        or normal.startswith("/")
        or re.match(r"[A-Za-z]:", normal) is not None
        or ".." in normal.split("/")
    )


def _ignored(parts: list[str]) -> bool:
    # macOS re-zips add __MACOSX/ AppleDouble sidecars and .DS_Store; export_cda.xml is not provider data.
    name = parts[-1]
    return parts[0] == "__MACOSX" or name == ".DS_Store" or name.startswith("._") or name.endswith("_cda.xml")


def _inspect_zip(archive: zipfile.ZipFile) -> tuple[zipfile.ZipInfo, list[zipfile.ZipInfo]]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ParseError(TOO_MANY_FILES)
    total = 0
    exports: list[zipfile.ZipInfo] = []
    other_xml: list[zipfile.ZipInfo] = []
    for info in infos:
        if _unsafe_name(info.filename):
            raise ParseError(UNSAFE_PATH)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ParseError(SYMLINK)
        total += info.file_size
        if total > MAX_TOTAL_UNCOMPRESSED_BYTES:
            raise ParseError(TOO_LARGE)
        parts = info.filename.split("/")
        if info.is_dir() or _ignored(parts):
            continue
        if info.file_size > RATIO_CHECK_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            raise ParseError(BOMB)
        if parts[-1] == EXPORT_XML:
            exports.append(info)
        elif parts[-1].lower().endswith(".xml") and len(parts) <= 2:
            # The Health app translates the file name in some languages (导出.xml in Chinese).
            other_xml.append(info)
    candidates = exports or other_xml
    if not candidates:
        raise ParseError(NO_EXPORT)
    if len(candidates) > 1:
        raise ParseError(SEVERAL_EXPORTS)
    xml_info = candidates[0]
    if xml_info.flag_bits & 0x1:
        raise ParseError(ENCRYPTED)
    folder = xml_info.filename.rpartition("/")[0]
    prefix = f"{folder}/{CLINICAL_FOLDER}/" if folder else f"{CLINICAL_FOLDER}/"
    clinical = [
        info
        for info in infos
        if info.filename.startswith(prefix)
        and info.filename.endswith(".json")
        and "/" not in info.filename[len(prefix) :]
        and not info.flag_bits & 0x1
    ]
    return xml_info, clinical


# -- prolog ----------------------------------------------------------------------------------------


def _scan_prolog(buffer: bytes, final: bool) -> bytes | None:
    """`buffer` without its DOCTYPE once the root start tag is in it; None while more bytes are needed."""
    position = 3 if buffer.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while position < len(buffer) and buffer[position] in _WHITESPACE:
            position += 1
        if position >= len(buffer):
            return None
        if buffer.startswith(b"<?", position) or buffer.startswith(b"<!--", position):
            terminator = b"?>" if buffer.startswith(b"<?", position) else b"-->"
            end = buffer.find(terminator, position + 2)
            if end < 0:
                return None
            position = end + len(terminator)
            continue
        if buffer.startswith(b"<!DOCTYPE", position):
            bracket, close = buffer.find(b"[", position), buffer.find(b">", position)
            if close < 0:
                return None
            if 0 <= bracket < close:
                match = _DOCTYPE_END.search(buffer, bracket)
                if match is None:
                    return None
                end = match.end()
            else:
                end = close + 1
            if b"<!ENTITY" in buffer[position:end]:
                raise ParseError(ENTITIES)
            buffer = buffer[:position] + buffer[end:]
            continue
        rest = buffer[position : position + 9]
        if not final and any(opening.startswith(rest) for opening in _OPENINGS):
            return None
        match = _ROOT_NAME.match(buffer, position)
        if match is None:
            raise ParseError(NOT_APPLE)
        if match.end() == len(buffer) and not final:
            return None
        if match.group(1) != ROOT_TAG:
            raise ParseError(NOT_APPLE)
        return buffer


def _read_prolog(stream) -> tuple[bytes, int]:
    """Read up to the root element: (the head to feed the parser, bytes read), or ParseError if not an Apple export."""
    buffer = b""
    while True:
        chunk = stream.read(64 * KiB)
        buffer += chunk
        head = _scan_prolog(buffer, final=not chunk)
        if head is not None:
            return head, len(buffer)
        if not chunk or len(buffer) > MAX_PROLOG_BYTES:
            raise ParseError(NOT_APPLE)


# -- values ----------------------------------------------------------------------------------------


def _text(value: str | None) -> str:
    # Without entity resolution libxml2 hands attribute values over with "&" written as "&#38;".
    if not value:
        return ""
    return value.replace("&#38;", "&") if "&" in value else value


def _number(value: str | None) -> float | None:
    """A finite, non-negative number, or None."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < _INFINITY else None


def _aware(value: str | None) -> datetime.datetime | None:
    """An Apple date ("2019-06-11 15:00:00 -0700") with its offset, or None."""
    if not value:
        return None
    try:
        moment = _parse_datetime(value)
    except ValueError:
        # Python 3.11 reads the space before the offset; without that leniency, drop the space.
        try:
            moment = _parse_datetime(value[:19] + value[20:] if value[19:20] == " " else value)
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else None


def _convert(metric: str, value: float | None, unit: str | None) -> float | None:
    """`value` in `unit` converted to the metric's canonical unit, or None."""
    if value is None:
        return None
    try:
        convert = METRICS[metric].converter(unit or METRICS[metric].unit)
    except UnitError:
        return None
    return round(convert(value) if convert is not None else value, 4)


@functools.lru_cache(maxsize=256)
def _activity(kind: str) -> str:
    name = kind.removeprefix("HKWorkoutActivityType")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower() or "other"


# -- streaming -------------------------------------------------------------------------------------


class _Target:
    """lxml parser target: turns start and end tags into items as they stream past.

    Samples go into `SampleBatch`es of `batch_size` samples (the store's chunk), as rows: no `Sample`
    object and no datetime is made for a Record in Apple's own date format.
    """

    def __init__(self, *, batch_size: int = CHUNK_SAMPLES, source_prefix: str = ""):
        self.items: list = []
        self.append = self.items.append
        self.depth = 0  # inside a workout, below it
        self.records = 0
        self.samples = 0  # in the batches handed over
        self.duplicates = 0
        self.skipped: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.seen: set[int] = set()
        self.sleep_codes: dict[str, float] = {}
        self.workout: dict | None = None
        self.stats = ParseStats()
        # Apple's dates by their parts: (date + offset) -> epoch of that local midnight, and
        # " HH:MM:SS " -> seconds into the day. Both learn only from dates Python reads (`_learn`).
        self.midnights: dict[str, int] = {}
        self.times: dict[str, int] = {}
        # The rules, each with its own cache of unit -> converter (None: already canonical).
        self.rules = {kind: (*rule, {}) for kind, rule in _RULES.items()}
        self.sources: dict[str, str] = {}
        self.batch_size = batch_size
        self.source_prefix = source_prefix
        self.batch = SampleBatch(source_prefix=source_prefix)
        self.room = batch_size  # samples the batch can still take
        self._leave_day()

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def start(self, tag: str, attrib: dict) -> None:
        if tag != "Record":
            if self.workout is not None or tag in _OTHER_TAGS:
                self._other(tag, attrib)
            return
        # The hot path: everything below runs once per Record, so it stays inline.
        if self.workout is not None:
            self.depth += 1
        self.records += 1
        kind = attrib.get("type", "")
        rule = self.rules.get(kind)
        if rule is None:
            self.skipped[kind] = self.skipped.get(kind, 0) + 1
            return
        metric, mode, repeated, valid, converters = rule
        start_text = attrib.get("startDate")
        end_text = attrib.get("endDate")
        try:
            # "2024-03-10 08:15:00 +0100": [:10] + [20:] is the local day and its offset, [10:20] the time.
            start = self.midnights[start_text[:10] + start_text[20:]] + self.times[start_text[10:20]]
            if end_text == start_text:
                end = start
            else:
                end = self.midnights[end_text[:10] + end_text[20:]] + self.times[end_text[10:20]]
            exact_span = None  # whole seconds: end - start is the span
        except (KeyError, TypeError):
            moments = self._moments(start_text, end_text)
            if moments is None:
                return
            start, end, exact_span = moments
        if end < start:
            self.reject("end_before_start")
            return
        text = attrib.get("value")
        if mode == _QUANTITY:
            try:
                value = float(text)
            except (TypeError, ValueError):
                self.reject("value")
                return
            if not 0 <= value < _INFINITY:
                self.reject("negative" if value < 0 else "not_finite")
                return
            unit = attrib.get("unit")
            if not unit:
                self.reject("missing_unit")
                return
        elif mode == _SLEEP:
            value = self.sleep_codes.get(text)
            if value is None:
                try:
                    value = self.sleep_codes[text] = float(sleep_stage_code(text))
                except TimeSeriesError:
                    self.reject("sleep_stage")
                    return
            unit = "stage"
        else:
            value, unit = (end - start if exact_span is None else exact_span) / 60, "min"
        source = self.sources.get(attrib.get("sourceName", ""))
        if source is None:
            source = self._source(attrib.get("sourceName", ""))
        if repeated:
            key = hash((kind, start_text, end_text, text, source))
            if key in self.seen:
                self.duplicates += 1
                return
            self._remember(key)
        try:
            convert = converters[unit]
        except KeyError:
            convert = self._converter(metric, unit, converters)
        if convert is not None:
            if convert is _UNKNOWN_UNIT:
                self.reject("unit")
                return
            value = convert(value)
        # What `SampleBatch.add` does, inline for whole seconds; the batch does it for anything else.
        if exact_span is None and 0 <= value < _INFINITY and (valid is None or value in valid):
            day_metric, day_start, day_end, day_rows = self.day
            if metric is not day_metric or not day_start <= start < day_end:
                day_start, day_rows = self._enter_day(metric, start)
            day_rows((start - day_start, end - start, value, source))
        elif exact_span is None:
            self.batch.rejected += 1
        else:
            self.batch.add(metric, start, end, value, source)
        self.room -= 1
        if not self.room:
            self.flush()

    def flush(self) -> None:
        """Hand the batch being filled over to the items (called when full and at the end)."""
        taken = self.batch_size - self.room
        if taken:
            self.batch.read = taken
            self.append(self.batch)
            self.samples += taken
            self.batch = SampleBatch(source_prefix=self.source_prefix)
            self.room = self.batch_size
            self._leave_day()

    def _enter_day(self, metric: str, start: int) -> tuple[int, Callable]:
        """Make the (metric, UTC day) of `start` the current one: (its first second, its rows' append)."""
        day = start // SECONDS_PER_DAY
        rows = self.batch.groups.get((metric, day))
        if rows is None:
            rows = self.batch.groups[metric, day] = []
        self.day = (metric, day * SECONDS_PER_DAY, (day + 1) * SECONDS_PER_DAY, rows.append)
        return self.day[1], rows.append

    def _leave_day(self) -> None:
        self.day = (None, 0, 0, None)

    def _moments(self, start_text: str | None, end_text: str | None) -> tuple[float, float, float | None] | None:
        """(start, end, exact span or None for whole seconds), in epoch seconds; None once refused.

        Dates in Apple's format teach the caches their parts; any other form is read as datetimes,
        as before, its fractions of seconds kept until the store floors them.
        """
        start, end = self._learn(start_text), self._learn(end_text)
        if start is not None and end is not None:
            return start, end, None
        try:
            start_moment = _parse_datetime(start_text)
            end_moment = start_moment if end_text == start_text else _parse_datetime(end_text)
        except (TypeError, ValueError):
            start_moment, end_moment = _aware(start_text), _aware(end_text)
            if start_moment is None or end_moment is None:
                self.reject("date")
                return None
        if start_moment.tzinfo is None or end_moment.tzinfo is None:
            self.reject("date")
            return None
        return start_moment.timestamp(), end_moment.timestamp(), (end_moment - start_moment).total_seconds()

    def _learn(self, text: str | None) -> int | None:
        """Epoch seconds of a date in Apple's format (its parts then read from the caches), or None."""
        if not isinstance(text, str) or _APPLE_DATE.fullmatch(text) is None:
            return None
        try:
            moment = _parse_datetime(text)
        except ValueError:
            return None
        if len(self.midnights) >= MAX_CACHED_DAYS:
            self.midnights.clear()
        seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
        epoch = int(moment.timestamp())
        self.midnights[text[:10] + text[20:]] = epoch - seconds
        self.times[text[10:20]] = seconds
        return epoch

    def _source(self, raw: str) -> str:
        if len(self.sources) >= MAX_CACHED_SOURCES:
            self.sources.clear()
        # One string object per source: rows share it, and a batch pickles it once.
        source = self.sources[raw] = self.source_prefix + (_text(raw) if "&" in raw else raw)
        return source

    def _remember(self, key: int) -> None:
        # Bounded: past the cap a repeated copy may pass, and the store then finds it already present.
        if len(self.seen) >= MAX_REMEMBERED_REPEATS:
            self.seen.clear()
        self.seen.add(key)

    @staticmethod
    def _converter(metric: str, unit: str, converters: dict) -> Callable | None:
        if len(converters) >= MAX_CACHED_UNITS:
            converters.clear()
        try:
            convert = METRICS[metric].converter(unit)
        except UnitError:
            convert = _UNKNOWN_UNIT
        converters[unit] = convert
        return convert

    def _other(self, tag: str, attrib: dict) -> None:
        workout = self.workout
        if workout is not None:
            self.depth += 1
            if self.depth == 1:
                if tag == "WorkoutStatistics":
                    workout["statistics"][attrib.get("type", "")] = dict(attrib)
                elif tag == "MetadataEntry" and attrib.get("key") == "HKElevationAscended":
                    workout["elevation"] = attrib.get("value")
        if tag == "Workout":
            self.workout = {"attrib": dict(attrib), "statistics": {}, "elevation": None}
            self.depth = 0
        elif tag == "Location":
            self.stats.route_points += 1
        elif tag == "FileReference":
            self.stats.route_files += 1
        elif tag == "WorkoutRoute":
            self.stats.routes += 1
        elif tag == "Correlation":
            self.stats.correlations += 1
        elif tag == "ActivitySummary":
            self._activity_summary(attrib)
        elif tag == "Me" and not self.stats.profile_hints:
            self._me(attrib)
        elif tag == "ClinicalRecord":
            self.stats.clinical_records_listed += 1
        elif tag == "ExportDate":
            self.stats.export_date = _aware(attrib.get("value"))

    def end(self, tag: str) -> None:
        # Only a workout's elements are counted (`depth` 1 is its direct children): nothing else needs it.
        if self.workout is not None:
            if self.depth:
                self.depth -= 1
            else:
                self._finish_workout(self.workout)
                self.workout = None

    def close(self) -> None:
        return None

    def _finish_workout(self, workout: dict) -> None:
        attrib, statistics = workout["attrib"], workout["statistics"]
        start, end = _aware(attrib.get("startDate")), _aware(attrib.get("endDate"))
        if start is None or end is None:
            self.reject("date")
            return
        if end < start:
            self.reject("end_before_start")
            return
        minutes = _convert("exercise_time", _number(attrib.get("duration")), attrib.get("durationUnit"))
        distance = _convert("distance", _number(attrib.get("totalDistance")), attrib.get("totalDistanceUnit"))
        energy = _convert(
            "active_energy", _number(attrib.get("totalEnergyBurned")), attrib.get("totalEnergyBurnedUnit")
        )
        for kind, values in statistics.items():
            if distance is None and kind.startswith("HKQuantityTypeIdentifierDistance"):
                distance = _convert("distance", _number(values.get("sum")), values.get("unit"))
            elif energy is None and kind == "HKQuantityTypeIdentifierActiveEnergyBurned":
                energy = _convert("active_energy", _number(values.get("sum")), values.get("unit"))
        extra: dict = {}
        heart = statistics.get("HKQuantityTypeIdentifierHeartRate")
        if heart is not None:
            rates = {
                name: _convert("heart_rate", _number(heart.get(attribute)), heart.get("unit"))
                for name, attribute in (("min", "minimum"), ("avg", "average"), ("max", "maximum"))
            }
            rates = {name: rate for name, rate in rates.items() if rate is not None}
            if rates:
                extra["heart_rate"] = rates
        if workout["elevation"]:
            amount, _space, unit = workout["elevation"].partition(" ")
            elevation = _convert("distance", _number(amount), unit.strip())
            if elevation is not None:
                extra["elevation_up_m"] = elevation
        seconds = minutes * 60 if minutes is not None else (end - start).total_seconds()
        self.append(
            WorkoutItem(
                activity=_activity(attrib.get("workoutActivityType", "")),
                start=start,
                end=end,
                source=_text(attrib.get("sourceName")),
                duration_s=round(seconds),
                distance_m=distance,
                energy_kcal=energy,
                statistics=extra,
            )
        )
        self.stats.workouts += 1

    def _activity_summary(self, attrib: dict) -> None:
        try:
            day = datetime.date.fromisoformat(attrib.get("dateComponents", ""))
        except ValueError:
            self.reject("date")
            return
        unit = attrib.get("activeEnergyBurnedUnit")
        values = {
            "active_energy_kcal": _convert("active_energy", _number(attrib.get("activeEnergyBurned")), unit),
            "active_energy_goal_kcal": _convert("active_energy", _number(attrib.get("activeEnergyBurnedGoal")), unit),
            "exercise_minutes": _number(attrib.get("appleExerciseTime")),
            "exercise_goal_minutes": _number(attrib.get("appleExerciseTimeGoal")),
            "stand_hours": _number(attrib.get("appleStandHours")),
            "stand_goal_hours": _number(attrib.get("appleStandHoursGoal")),
            **_move_time(attrib),
        }
        self.append(DailyActivity(day=day, source=SOURCE_NAME, **_daily_fields(values)))
        self.stats.activity_days += 1

    def _me(self, attrib: dict) -> None:
        birth = attrib.get("HKCharacteristicTypeIdentifierDateOfBirth") or ""
        try:
            date_of_birth = datetime.date.fromisoformat(birth) if birth else None
        except ValueError:
            date_of_birth = None
        hint = ProfileHint(
            date_of_birth=date_of_birth,
            biological_sex=_SEX.get(attrib.get("HKCharacteristicTypeIdentifierBiologicalSex", ""), ""),
            blood_type=_BLOOD_TYPES.get(attrib.get("HKCharacteristicTypeIdentifierBloodType", ""), ""),
        )
        if hint != ProfileHint():
            self.append(hint)
            self.stats.profile_hints += 1


def _move_time(attrib: dict) -> dict[str, float | None]:
    """Move minutes of the day and their goal: `appleMoveTime` since iOS 14, `appleMoveMinutes` before."""
    time, goal = attrib.get("appleMoveTime"), attrib.get("appleMoveTimeGoal")
    if time is None and goal is None:
        time, goal = attrib.get("appleMoveMinutes"), attrib.get("appleMoveMinutesGoal")
    return {"move_minutes": _number(time), "move_goal_minutes": _number(goal)}


def _daily_fields(values: dict) -> dict:
    # DailyActivity has no move-time fields yet: values it cannot hold are left out until it does.
    return {name: value for name, value in values.items() if name in _DAILY_FIELDS}


@contextlib.contextmanager
def _xml_stream(source: ExportSource) -> Iterator[tuple]:
    """(binary stream of export.xml, open archive or None, clinical members)."""
    if source.xml_member is None:
        try:
            handle = source.path.open("rb")
        except OSError:
            raise ParseError(UNREADABLE) from None
        with handle:
            yield handle, None, []
        return
    with _zip_export(source.path) as (archive, xml_info, clinical):
        with _guard_zip():
            member = archive.open(xml_info)
        with member:
            yield member, archive, clinical


def iter_items(
    source: ExportSource, *, progress: Callable[[int, int, int], None] | None = None
) -> Iterator[Sample | WorkoutItem | DailyActivity | ProfileHint | ClinicalDocument]:
    """Stream an opened export's items, samples one by one in UTC (no database access); see `iter_batches`.

    For readers that want `Sample` objects; a sample its batch refused (a value out of range once
    converted) is counted in `stats.samples_yielded` and not yielded.
    """
    for item in iter_batches(source, progress=progress):
        if type(item) is SampleBatch:
            yield from item.samples()
        else:
            yield item


def iter_batches(
    source: ExportSource,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    separate_process: bool = False,
    source_prefix: str = "",
    check_first: bool = False,
) -> Iterator[SampleBatch | WorkoutItem | DailyActivity | ProfileHint | ClinicalDocument]:
    """Stream an opened export's items, samples in `SampleBatch`es (no database access).

    Sample sources start with `source_prefix` (the batches say so: see `SampleBatch.with_source_prefix`).
    Counts land in `source.stats` (complete once iteration ends); ParseError stops it. With
    `check_first`, nothing is yielded before `check_export` has read the whole file: a damaged
    export fails before its first item. With `separate_process`, another process parses the XML
    (and runs ahead while this one checks it) and this one only receives its items: the caller's
    work on them (the import's merge) runs beside the parse, on the other core. This process's
    memory holds one batch in transit whatever the size of the export.
    """
    if separate_process:
        yield from _xml_items_from_process(source, progress, source_prefix, check_first)
    else:
        if check_first:
            check_export(source)
        yield from _xml_items(source, progress, source_prefix)
    stats = source.stats
    if source.is_zip and source.clinical_members:
        with _zip_export(source.path) as (archive, _xml_info, clinical):
            yield from _clinical_documents(archive, clinical, source, stats)
    if progress is not None:
        progress(stats.records_read, stats.bytes_read, source.xml_bytes)


def _xml_items(
    source: ExportSource,
    progress: Callable[[int, int, int], None] | None,
    source_prefix: str = "",
    batch_size: int = CHUNK_SAMPLES,
) -> Iterator:
    """The items of export.xml, parsed in this process; the stats are `source.stats`."""
    target = _Target(batch_size=batch_size, source_prefix=source_prefix)
    stats = source.stats = target.stats
    stats.total_bytes = source.xml_bytes
    parser = etree.XMLParser(target=target, **_PARSER_OPTIONS)
    next_progress = PROGRESS_EVERY
    with _xml_stream(source) as (stream, _archive, _clinical):
        try:
            with _guard_zip():
                head, bytes_read = _read_prolog(stream)
                parser.feed(head.translate(_CONTROL_TO_SPACE))
                while True:
                    yield from _drain(target)
                    if progress is not None and target.records >= next_progress:
                        _sync(target, stats, bytes_read)
                        progress(target.records, bytes_read, source.xml_bytes)
                        next_progress = (target.records // PROGRESS_EVERY + 1) * PROGRESS_EVERY
                    chunk = stream.read(READ_CHUNK_BYTES)
                    if not chunk:
                        break
                    bytes_read += len(chunk)
                    parser.feed(chunk.translate(_CONTROL_TO_SPACE))
                parser.close()
        except etree.LxmlError:
            raise ParseError(DAMAGED_XML) from None
    target.flush()
    yield from _drain(target)
    _sync(target, stats, bytes_read)


def _drain(target: _Target) -> list:
    items = target.items
    if items:
        target.items = []
        target.append = target.items.append
    return items


def _sync(target: _Target, stats: ParseStats, bytes_read: int) -> None:
    stats.records_read = target.records
    stats.samples_yielded = target.samples + target.batch_size - target.room
    stats.duplicates_skipped = target.duplicates
    stats.skipped_by_type = dict(target.skipped)
    stats.rejected_by_reason = dict(target.rejected)
    stats.bytes_read = bytes_read


def _clinical_documents(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], source: ExportSource, stats: ParseStats
) -> Iterator[ClinicalDocument]:
    folder = source.xml_member.rpartition("/")[0] if source.xml_member else ""
    for info in members:
        content = None
        if info.file_size <= MAX_CLINICAL_DOCUMENT_BYTES:
            with _guard_zip(), archive.open(info) as member:
                content = member.read(MAX_CLINICAL_DOCUMENT_BYTES + 1)
        if content is None or len(content) > MAX_CLINICAL_DOCUMENT_BYTES:
            stats.rejected_by_reason["clinical_too_large"] = stats.rejected_by_reason.get("clinical_too_large", 0) + 1
            continue
        stats.clinical_documents += 1
        yield ClinicalDocument(
            name=info.filename.removeprefix(f"{folder}/") if folder else info.filename,
            content=content,
            one_of_many=True,
        )


class _Checker:
    """A parser target without callbacks: libxml2 reads the document at C speed and builds nothing."""

    def close(self) -> None:
        return None


def check_export(source: ExportSource) -> None:
    """Read the whole export once, checking it is complete and well formed, without building items (fast)."""
    # The same parser, options and bytes as the item pass, with nothing called back: what passes
    # here parses there, and a truncated or damaged file is found before anything is written.
    parser = etree.XMLParser(target=_Checker(), **_PARSER_OPTIONS)
    with _xml_stream(source) as (stream, _archive, _clinical):
        try:
            with _guard_zip():
                head, _bytes = _read_prolog(stream)
                parser.feed(head.translate(_CONTROL_TO_SPACE))
                while chunk := stream.read(READ_CHUNK_BYTES):
                    parser.feed(chunk.translate(_CONTROL_TO_SPACE))
                parser.close()
        except etree.LxmlError:
            raise ParseError(DAMAGED_XML) from None


# -- the parser process ----------------------------------------------------------------------------
#
# `iter_batches(separate_process=True)` runs this module (`python -m ...parser <path> <member>
# <size> <source prefix> <spool descriptor>`). The process writes frames (a 4-byte length and a
# pickled (kind, payload) message: "item"s and "progress", then "done" with the stats, or "refused"
# with the name of the ParseError's message, or "failed" with an exception's type, never its text:
# it could quote the file) to a spool, an unlinked temporary file, and after each frame tells its
# standard output how far the spool is written. It never waits for its reader: while the reader
# checks the whole file, the parse runs ahead into the spool (on disk, about 2 % of the XML).
# It imports no settings, no models and no key, gets no secret in its environment, holds one batch
# at a time, and stops at its next frame once its reader is gone (a killed worker).

_FRAME_HEADER = 4
_COMMIT_BYTES = 8
# The process sends each batch in parts, put together again by the reader: the process holds a part,
# not a batch, and the reader gets the same batches as from `_xml_items` (parts divide a batch).
_PART_SAMPLES = CHUNK_SAMPLES // 5 if CHUNK_SAMPLES % 5 == 0 else CHUNK_SAMPLES
PROCESS_EXIT_SECONDS = 5
_PROCESS_ENVIRONMENT = ("PATH", "HOME", "LANG", "TMPDIR", "LC_", "PYTHON")
_PROCESS_MESSAGES = {
    name: message for name, message in globals().items() if isinstance(message, Promise) and name.isupper()
}
_UNPICKLABLE_CLASSES = {
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("integrations.providers.apple_health.parser", "ParseStats"),
    ("integrations.providers.items", "DailyActivity"),
    ("integrations.providers.items", "ProfileHint"),
    ("integrations.providers.items", "WorkoutItem"),
    ("records.timeseries", "SampleBatch"),
}


class ParserProcessError(RuntimeError):
    """The parser process stopped without finishing (killed, or an error it does not describe)."""


class _Unpickler(pickle.Unpickler):
    """Unpickles the parser process's messages: only the classes it sends."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _UNPICKLABLE_CLASSES:
            raise pickle.UnpicklingError("unexpected class in a parser message")
        return super().find_class(module, name)


def _xml_items_from_process(
    source: ExportSource, progress: Callable[[int, int, int], None] | None, source_prefix: str, check_first: bool
) -> Iterator:
    """The items of export.xml, parsed by a parser process; the stats become `source.stats` at the end."""
    source.stats = ParseStats(total_bytes=source.xml_bytes)
    if not Path(sys.executable).name.startswith("python"):
        # Not run by a Python interpreter (an embedding server): the parse runs here, only slower.
        if check_first:
            check_export(source)
        yield from _xml_items(source, progress, source_prefix)
        return
    environment = {name: value for name, value in os.environ.items() if name.startswith(_PROCESS_ENVIRONMENT)}
    with tempfile.TemporaryFile(prefix="healthspace-parse-") as spool:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, this module, a path we chose
            [
                sys.executable,
                "-m",
                __name__,
                str(source.path.resolve()),
                source.xml_member or "",
                str(source.xml_bytes),
                source_prefix,
                str(spool.fileno()),
            ],
            cwd=_PROJECT_ROOT,
            env=environment,
            pass_fds=(spool.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        last_word = None
        try:
            if check_first:
                check_export(source)  # meanwhile the parser process reads ahead, into the spool
            last_word = yield from _messages(process, spool.fileno(), progress)
        finally:
            # Its last word said, it exits by itself; stopped early (a failed import), it is stopped here.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=PROCESS_EXIT_SECONDS if last_word else 0)
            if process.returncode is None:
                process.kill()
                process.wait()
            process.stdout.close()
    kind, payload = last_word
    if kind == "done":
        source.stats = payload
    elif kind == "refused" and payload in _PROCESS_MESSAGES:
        raise ParseError(_PROCESS_MESSAGES[payload])
    else:
        raise ParserProcessError(f"The parser process failed ({payload}).")


def _messages(process: subprocess.Popen, spool: int, progress: Callable[[int, int, int], None] | None) -> Iterator:
    """The parser process's items, read from its spool as far as it says it has written; returns its last word."""
    read = 0
    batch = None
    while True:
        committed = process.stdout.read(_COMMIT_BYTES)
        if len(committed) < _COMMIT_BYTES:
            raise ParserProcessError("The parser process ended without finishing.")
        while read < int.from_bytes(committed, "big"):
            length = int.from_bytes(_read_at(spool, read, _FRAME_HEADER), "big")
            kind, payload = _Unpickler(io.BytesIO(_read_at(spool, read + _FRAME_HEADER, length))).load()
            read += _FRAME_HEADER + length
            if kind == "item" and type(payload) is SampleBatch:
                batch = _joined(batch, payload)
                if batch.read >= CHUNK_SAMPLES:
                    yield batch
                    batch = None  # one batch at a time: this one goes before the next is read
            elif kind == "item":
                yield payload
            elif kind == "progress":
                if progress is not None:
                    progress(*payload)
            else:
                if batch is not None and kind == "done":
                    yield batch
                return kind, payload
            del payload


def _joined(batch: SampleBatch | None, part: SampleBatch) -> SampleBatch:
    """The batch with a part's rows after its own (a part is a batch of the process's smaller size)."""
    if batch is None:
        return part
    groups = batch.groups
    for key, rows in part.groups.items():
        if key in groups:
            groups[key].extend(rows)
        else:
            groups[key] = rows
    batch.read += part.read
    batch.rejected += part.rejected
    return batch


def _read_at(descriptor: int, offset: int, length: int) -> bytes:
    parts = []
    while length:
        part = os.pread(descriptor, length, offset)
        if not part:
            raise ParserProcessError("The parser process's spool ended early.")
        parts.append(part)
        offset, length = offset + len(part), length - len(part)
    return b"".join(parts)


def _serve(path: str, member: str, size: str, source_prefix: str, spool: str) -> int:
    """The parser process's work: export.xml's items as frames in the spool (see above)."""
    commits = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but commits reaches the reader
    spool_descriptor, written = int(spool), 0
    source = ExportSource(Path(path), member or None, int(size))

    def send(kind: str, payload) -> None:
        nonlocal written
        frame = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        for data in (memoryview(len(frame).to_bytes(_FRAME_HEADER, "big")), memoryview(frame)):
            while data:
                data = data[os.write(spool_descriptor, data) :]
        written += _FRAME_HEADER + len(frame)
        # Said at once: the reader may be waiting for it, and a reader gone is found out here.
        commits.write(written.to_bytes(_COMMIT_BYTES, "big"))
        commits.flush()

    def report(*counts: int) -> None:
        send("progress", counts)

    try:
        try:
            for item in _xml_items(source, report, source_prefix, _PART_SAMPLES):
                send("item", item)
            send("done", source.stats)
        except BrokenPipeError:
            raise
        except ParseError as error:
            names = [name for name, message in _PROCESS_MESSAGES.items() if message is error.args[0]]
            send("refused", names[0] if names else "")
        except Exception as error:  # noqa: BLE001 - reported by type only: its text could quote the file
            send("failed", type(error).__name__)
    except BrokenPipeError:
        return 1  # nobody reads any more (a killed worker): nothing to tell
    return 0


if __name__ == "__main__":
    # Run as a module by `_xml_items_from_process`: the module is imported again under its own name,
    # so that what it pickles names classes the reader knows.
    from integrations.providers.apple_health.parser import _serve as serve

    sys.exit(serve(*sys.argv[1:6]))
