"""The medication routine: doses the patient logs as taken or skipped, and adherence over 30 and 90 days.

Doses are logged from a form or, after the patient confirms, from the chat: `dose_log_parse` reads a
short line in English or French ("I took my metformin at 8am", "j'ai oublié mon Lasix hier soir"),
`medications_matching` finds which current medication it names, and `dose_log_create` writes it.
Adherence (`adherence_compute`, pure) is what the log says: doses taken out of doses logged, and days
with at least one log out of the days of the period. It measures the log, not the patient.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from . import selectors
from .models import DoseLog, Medication
from .symptoms import MAX_LINE_CHARS, _local_tz, _Onset, _vocabulary
from .vaccinations import fold

ADHERENCE_WINDOWS = (30, 90)
# Words of a medication's name that do not tell one medication from another.
# fmt: off
_NAME_NOISE = frozenset((
    "mg", "ml", "mcg", "ug", "g", "hr", "h", "oral", "tablet", "tablets", "tab", "caps", "capsule", "capsules",
    "extended", "release", "delayed", "injection", "injectable", "solution", "suspension", "spray", "inhaler",
    "patch", "cream", "ointment", "drops", "chewable", "film", "coated", "hydrochloride", "sodium", "potassium",
    "succinate", "tartrate", "besylate", "calcium", "magnesium", "acetate", "sulfate", "sulphate", "disodium",
    "dose", "unit", "units", "per", "day", "daily", "comprime", "comprimes", "gelule", "gelules", "sachet", "sirop",
    "solution", "buvable", "injectable", "pellicule", "secable", "le", "la", "les", "de", "du", "des", "and", "et",
    "with", "avec",
))
# fmt: on
# "my pill", "mes médicaments": a dose of the only current medication, when there is only one.
_GENERIC = re.compile(
    r"\b(?:meds?|medications?|medicines?|pills?|tablets?|dose|doses|treatment|medicaments?|traitements?|"
    r"comprimes?|cachets?|gelules?|pilule)\b"
)

_SKIPPED = {
    "en": r"\b(?:skipped|missed|forgot(?:\s+to\s+take)?|didn'?t\s+take|did\s+not\s+take|haven'?t\s+taken|"
    r"have\s+not\s+taken|not\s+taken)\b",
    "fr": r"(?:\bj'ai\s+)?(?:\boubli[ée](?:\s+de\s+prendre)?|\bsaut[ée]|\brat[ée]|\bmanqu[ée]|\bpas\s+pris|"
    r"\bn'ai\s+pas\s+pris)(?!\w)",
}
_TAKEN = {
    "en": r"\b(?:i\s+)?(?:just\s+)?(?:took|have\s+taken|'ve\s+taken|taken|had)\b",
    "fr": r"(?:\bj'ai\s+)?(?:\bpris|\bje\s+viens\s+de\s+prendre|\baval[ée])(?!\w)",
}
_LEAD = {
    "en": r"^(?:(?:i|i've|i have|just|my|the|a|an|dose|doses|of|to|take|this|all|both)\s+)+",
    "fr": r"^(?:(?:j'ai|je|viens|de|prendre|mon|ma|mes|le|la|les|l'|du|des|dose|doses|d'|un|une)\s+)+",
}
# An optional "at", "around", "à", "vers" before a time: doses are logged at a moment, not "since" one.
_AT = r"(?:(?:at|around|about|a|à|vers)\s+)?"


def _words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z0-9]+", fold(text)) if len(word) >= 4 and word not in _NAME_NOISE}


def dose_log_parse(text: str, language: str, *, now: datetime.datetime | None = None) -> dict | None:
    """Taken or skipped, the words naming the medication, and when, from a short line; None if it is not one.

    Pure: "I took my metformin at 8am" gives {"taken": True, "medication_text": "metformin", "at": 08:00 today}.
    Without a time, the moment is now. The medication is matched against the patient's own list elsewhere.
    """
    text = " ".join((text or "").split())
    if not text or len(text) > MAX_LINE_CHARS:
        return None
    language = "fr" if (language or "").lower().startswith("fr") else "en"
    lowered = text.lower().replace("\u2019", "'")
    skipped = re.search(_SKIPPED[language], lowered)
    taken = None if skipped else re.search(_TAKEN[language], lowered)
    verb = skipped or taken
    if verb is None:
        return None
    now = now or timezone.now()
    rest = lowered[verb.end() :]
    at = now.astimezone(_local_tz())
    located = _Onset(_vocabulary(language), now).find(rest, lead=_AT)
    if located is not None:
        at, span = located
        rest = f"{rest[: span[0]]} {rest[span[1] :]}"
    medication_text = re.sub(_LEAD[language], "", fold(rest).replace("\u2019", "'")).strip(" ,.;:!?")
    if not medication_text:
        return None
    return {"taken": skipped is None, "medication_text": medication_text, "at": at}


def medications_matching(medications: list[Medication], text: str) -> list[Medication]:
    """The medications a few words name: by a distinctive word of their name, else all of them for "my pills"."""
    words = _words(text)
    named = [medication for medication in medications if words & _words(medication.name)]
    if named:
        return named
    if _GENERIC.search(fold(text)) and len(medications) == 1:
        return list(medications)
    return []


def dose_proposal_for_user(*, user: User, text: str, languages: list[str]) -> dict:
    """A dose log a message describes for one of the owner's current medications, as JSON, or {}.

    {"medication": public_id, "name", "taken", "at" (ISO)}: offered to the patient, never written without
    their confirmation. Nothing when the line names no current medication or names several.
    """
    parsed = next((reading for language in languages if (reading := dose_log_parse(text, language))), None)
    if parsed is None:
        return {}
    matches = medications_matching(selectors.medications_current_for_user(user=user), parsed["medication_text"])
    if len(matches) != 1:
        return {}
    medication = matches[0]
    return {
        "medication": str(medication.public_id),
        "name": medication.name,
        "taken": parsed["taken"],
        "at": parsed["at"].isoformat(),
    }


@transaction.atomic
def dose_log_create(
    *, user: User, medication: Medication, taken: bool, at: datetime.datetime, note: str = ""
) -> DoseLog:
    """Log one dose of the owner's medication as taken or skipped (each call adds one)."""
    if medication.owner_id != user.pk:
        raise Http404("No such medication")
    if at > timezone.now() + datetime.timedelta(minutes=5):
        raise ValidationError(_("A dose cannot be logged in the future."))
    log = DoseLog(owner=user, medication=medication, taken=taken, at=at, note=note.strip())
    log.full_clean()
    log.save()
    return log


@transaction.atomic
def dose_log_delete(*, user: User, log: DoseLog) -> None:
    """Remove one of the owner's dose logs (a mistaken entry)."""
    if log.owner_id != user.pk:
        raise Http404("No such dose log")
    log.delete()


def dose_log_get_for_user(*, user: User, public_id) -> DoseLog:
    """One of the owner's dose logs, or 404 (also for someone else's)."""
    try:
        return DoseLog.objects.select_related("medication").get(owner=user, public_id=public_id)
    except DoseLog.DoesNotExist:
        raise Http404("No such dose log") from None


def medication_current_get_for_user(*, user: User, public_id) -> Medication:
    """One of the owner's current medications, or 404 (a stopped one takes no new dose log)."""
    medication = selectors.record_get_for_user(user=user, kind="medications", public_id=public_id)
    if not selectors.medication_is_current(medication):
        raise Http404("Not a current medication")
    return medication


# -- adherence -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adherence:
    """What the log says over a period: doses taken out of doses logged, days logged out of days."""

    days: int
    logged: int
    taken: int
    logged_days: int

    @property
    def skipped(self) -> int:
        return self.logged - self.taken

    @property
    def taken_ratio(self) -> float | None:
        return self.taken / self.logged if self.logged else None

    @property
    def logged_days_ratio(self) -> float | None:
        return self.logged_days / self.days if self.days else None

    @property
    def taken_percent(self) -> int | None:
        return round(100 * self.taken_ratio) if self.taken_ratio is not None else None

    @property
    def logged_days_percent(self) -> int | None:
        return round(100 * self.logged_days_ratio) if self.logged_days_ratio is not None else None


def adherence_compute(
    logs: list[tuple[datetime.datetime, bool]], *, days: int, today: datetime.date, started: datetime.date | None = None
) -> Adherence:
    """Adherence over the `days` days ending today, from (moment, taken) pairs (pure).

    A medication started within the period counts only its own days; moments are read in TIME_ZONE.
    """
    start = today - datetime.timedelta(days=days - 1)
    if started is not None and started > start:
        start = min(started, today)
    zone = _local_tz()
    in_period = [(moment.astimezone(zone).date(), taken) for moment, taken in logs]
    in_period = [(day, taken) for day, taken in in_period if start <= day <= today]
    return Adherence(
        days=(today - start).days + 1,
        logged=len(in_period),
        taken=sum(1 for _day, taken in in_period if taken),
        logged_days=len({day for day, _taken in in_period}),
    )


@dataclass
class MedicationRoutine:
    medication: Medication
    adherence: dict[int, Adherence]  # by window in days
    recent: list[DoseLog]
    form: object = None  # the page's form to log a dose, set by the view


RECENT_LOGS = 5


def routine_for_user(*, user: User, today: datetime.date | None = None) -> list[MedicationRoutine]:
    """Each current medication with its adherence over 30 and 90 days and its latest logs (two queries)."""
    today = today or timezone.localdate()
    medications = selectors.medications_current_for_user(user=user)
    since = datetime.datetime.combine(
        today - datetime.timedelta(days=max(ADHERENCE_WINDOWS) + 1), datetime.time(), tzinfo=_local_tz()
    )
    logs: dict[int, list[DoseLog]] = {}
    for log in DoseLog.objects.filter(owner=user, at__gte=since).order_by("-at", "-id"):
        logs.setdefault(log.medication_id, []).append(log)
    routines = []
    for medication in medications:
        own = logs.get(medication.pk, [])
        pairs = [(log.at, log.taken) for log in own]
        started = timezone.localdate(medication.effective_at) if medication.effective_at else None
        routines.append(
            MedicationRoutine(
                medication=medication,
                adherence={
                    days: adherence_compute(pairs, days=days, today=today, started=started)
                    for days in ADHERENCE_WINDOWS
                },
                recent=own[:RECENT_LOGS],
            )
        )
    return routines


def dose_logs_for_user(*, user: User, limit: int = 100) -> list[DoseLog]:
    """The owner's latest dose logs with their medication, newest first (one query)."""
    return list(DoseLog.objects.filter(owner=user).select_related("medication").order_by("-at", "-id")[:limit])
