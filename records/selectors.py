"""Reads of medical records, always scoped to one owner.

Views, the dashboard, exports and (later) the chat's tools read through these functions only.
Encrypted columns cannot be filtered or ordered by the database, so filters use the owner,
the plain clinical date and keyed hashes; anything else is done in Python on one owner's rows.
"""

import heapq
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User

from . import units
from .models import (
    Allergy,
    ClinicalNote,
    ClinicalRecord,
    Condition,
    Document,
    Encounter,
    Immunization,
    LabResult,
    Medication,
    Procedure,
    Symptom,
    VitalSign,
    Workout,
)

# URL slug -> model, in the order the records page lists them.
RECORD_KINDS: dict[str, type[ClinicalRecord]] = {
    "conditions": Condition,
    "medications": Medication,
    "allergies": Allergy,
    "immunisations": Immunization,
    "lab-results": LabResult,
    "vital-signs": VitalSign,
    "procedures": Procedure,
    "visits": Encounter,
    "notes": ClinicalNote,
    "symptoms": Symptom,
    "documents": Document,
    "workouts": Workout,
}
KIND_BY_MODEL = {model: kind for kind, model in RECORD_KINDS.items()}

ACTIVE_STATUSES = {"", "active", "recurrence", "relapse", "intended", "on-hold"}


def record_model_for_kind(kind: str) -> type[ClinicalRecord]:
    """The model behind a URL slug, or 404."""
    try:
        return RECORD_KINDS[kind]
    except KeyError:
        raise Http404("Unknown kind of record") from None


def record_list_for_user(*, user: User, kind: str) -> QuerySet:
    """The owner's records of one kind, newest first."""
    return record_model_for_kind(kind).objects.filter(owner=user).order_by("-effective_at", "-id")


def record_get_for_user(*, user: User, kind: str, public_id) -> ClinicalRecord:
    """One of the owner's records, or 404 (also for someone else's)."""
    model = record_model_for_kind(kind)
    try:
        return model.objects.get(owner=user, public_id=public_id)
    except model.DoesNotExist:
        raise Http404("No such record") from None


def record_counts_for_user(*, user: User) -> list[dict]:
    """Each kind with how many records the owner has (one query per kind)."""
    return [
        {"kind": kind, "label": model._meta.verbose_name_plural, "count": model.objects.filter(owner=user).count()}
        for kind, model in RECORD_KINDS.items()
    ]


def timeline_for_user(*, user: User, limit: int = 50, before=None) -> list[ClinicalRecord]:
    """The owner's records of every kind merged by date, newest first (one query per kind)."""
    streams = []
    for model in RECORD_KINDS.values():
        rows = model.objects.filter(owner=user, effective_at__isnull=False)
        if before is not None:
            rows = rows.filter(effective_at__lt=before)
        streams.append(rows.order_by("-effective_at", "-id")[:limit])
    merged = heapq.merge(*streams, key=lambda record: record.effective_at, reverse=True)
    return [record for _, record in zip(range(limit), merged, strict=False)]


def medication_is_current(medication: Medication) -> bool:
    """The rule of the current-medication list: not ended, and a status that means it is taken."""
    return medication.ended_on is None and medication.status.lower() in ACTIVE_STATUSES


def medications_current_for_user(*, user: User) -> list[Medication]:
    """Medications not stopped, newest first."""
    rows = Medication.objects.filter(owner=user).order_by("-effective_at", "-id")
    return [row for row in rows if medication_is_current(row)]


def conditions_active_for_user(*, user: User) -> list[Condition]:
    """Conditions not resolved, newest first."""
    rows = Condition.objects.filter(owner=user).order_by("-effective_at", "-id")
    return [row for row in rows if row.abated_on is None and row.clinical_status.lower() in ACTIVE_STATUSES]


def allergies_for_user(*, user: User) -> list[Allergy]:
    """Allergies not marked resolved or refuted."""
    rows = Allergy.objects.filter(owner=user).order_by("-effective_at", "-id")
    return [row for row in rows if row.clinical_status.lower() not in {"resolved", "inactive", "refuted"}]


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


@dataclass
class LabPoint:
    record: LabResult
    value: float | None
    low: float | None
    high: float | None
    flag: str  # "high", "low" or ""


@dataclass
class LabTest:
    test_key: str
    name: str
    loinc_code: str
    unit: str
    points: list[LabPoint] = field(default_factory=list)
    unconverted: int = 0

    @property
    def latest(self) -> LabPoint | None:
        return self.points[-1] if self.points else None

    @property
    def reference_low(self) -> float | None:
        latest = self.latest
        return latest.low if latest else None

    @property
    def reference_high(self) -> float | None:
        latest = self.latest
        return latest.high if latest else None


def _lab_point(result: LabResult, unit: str, loinc: str) -> LabPoint | None:
    value, low, high = (_as_float(result.value), _as_float(result.reference_low), _as_float(result.reference_high))
    if result.unit and unit and result.unit != unit:
        try:
            value = None if value is None else units.convert(value, result.unit, unit, loinc_code=loinc)
            low = None if low is None else units.convert(low, result.unit, unit, loinc_code=loinc)
            high = None if high is None else units.convert(high, result.unit, unit, loinc_code=loinc)
        except units.UnitMismatch:
            return None
    flag = ""
    interpretation = result.interpretation.upper()
    if value is not None and high is not None and value > high or interpretation in {"H", "HH", "HU"}:
        flag = "high"
    elif value is not None and low is not None and value < low or interpretation in {"L", "LL", "LU"}:
        flag = "low"
    return LabPoint(record=result, value=value, low=low, high=high, flag=flag)


def _lab_test(test_key: str, results: list[LabResult]) -> LabTest:
    # One unit for the whole history: the one most results already use.
    unit = Counter(result.unit for result in results if result.unit).most_common(1)
    unit = unit[0][0] if unit else ""
    loinc = next((result.loinc_code for result in results if result.loinc_code), "")
    test = LabTest(test_key=test_key, name=results[-1].name, loinc_code=loinc, unit=unit)
    for result in results:
        point = _lab_point(result, unit, loinc)
        if point is None:
            test.unconverted += 1
        else:
            test.points.append(point)
    return test


def lab_test_history_for_user(*, user: User, test_key: str, model=LabResult) -> LabTest:
    """One test's results in one unit (the most used), oldest first, with range flags; or 404."""
    results = list(model.objects.filter(owner=user, test_key=test_key).order_by("effective_at", "id"))
    if not results:
        raise Http404("No such test")
    return _lab_test(test_key, results)


def lab_tests_for_user(*, user: User, model=LabResult) -> list[LabTest]:
    """Every test the owner has results for, each with its history (one query)."""
    grouped: dict[str, list[LabResult]] = {}
    for result in model.objects.filter(owner=user).order_by("effective_at", "id"):
        grouped.setdefault(result.test_key, []).append(result)
    tests = [_lab_test(test_key, results) for test_key, results in grouped.items()]
    return sorted(tests, key=lambda test: test.name.lower())


def lab_results_out_of_range_for_user(*, user: User, limit: int = 10) -> list[LabPoint]:
    """The latest result of each test when it is outside its reference range."""
    flagged = [test.latest for test in lab_tests_for_user(user=user) if test.latest and test.latest.flag]
    return sorted(flagged, key=lambda point: point.record.effective_at, reverse=True)[:limit]


def vitals_latest_for_user(*, user: User) -> list[LabPoint]:
    """The latest value of each vital sign."""
    return [test.latest for test in lab_tests_for_user(user=user, model=VitalSign) if test.latest]
