"""What a provider's parser yields: normalised items, written by the records services.

Samples are `records.timeseries.Sample` (converted to the metric's unit when created). The
other kinds of item are defined here so that every provider speaks the same language.
"""

import datetime
from dataclasses import dataclass, field

from records.timeseries import Sample

__all__ = ["ClinicalDocument", "DailyActivity", "ParseError", "ProfileHint", "Sample", "WorkoutItem"]


class ParseError(ValueError):
    """Input a parser cannot read; the message is plain words for the patient, with no values in it."""


@dataclass(frozen=True)
class WorkoutItem:
    """One workout as the source described it."""

    activity: str  # e.g. "running", "cycling" (lower case, no HKWorkoutActivityType prefix)
    start: datetime.datetime  # aware
    end: datetime.datetime  # aware
    source: str  # the app or device that recorded it
    duration_s: int | None = None
    distance_m: float | None = None
    energy_kcal: float | None = None
    # Statistics from the source: {"heart_rate": {"min":..,"avg":..,"max":..}, "elevation_up_m": ..}
    statistics: dict = field(default_factory=dict)
    # The source's own id when it has one (Health Auto Export's UUID), else "".
    source_id: str = ""


@dataclass(frozen=True)
class DailyActivity:
    """A day's activity rings or summary (Apple ActivitySummary, Oura daily_activity)."""

    day: datetime.date
    source: str
    active_energy_kcal: float | None = None
    active_energy_goal_kcal: float | None = None
    exercise_minutes: float | None = None
    exercise_goal_minutes: float | None = None
    stand_hours: float | None = None
    stand_goal_hours: float | None = None


@dataclass(frozen=True)
class ProfileHint:
    """What a source says about the person (Apple's <Me>): offered to the patient, never applied silently."""

    date_of_birth: datetime.date | None = None
    biological_sex: str = ""  # "female", "male", "other" or ""
    blood_type: str = ""


@dataclass(frozen=True)
class ClinicalDocument:
    """A FHIR resource file found inside an export (Apple's clinical-records/*.json), for the FHIR importer."""

    name: str
    content: bytes
    # One document among the many of an export: one the importer refuses (not FHIR, DSTU2) is left
    # out and counted instead of failing the whole import. False: the document is the whole upload.
    one_of_many: bool = field(default=False, compare=False)
