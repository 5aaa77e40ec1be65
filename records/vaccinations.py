"""Vaccination history and what a published schedule records as due, to discuss with a clinician.

The schedules are data files (`records/data/vaccination_schedules/<country>.json`), each with its
sources and date; the patient's country chooses one. An immunisation counts for a vaccine of the
schedule by its CVX code when it has one (Synthea and US records), else by the words of its name in
English or French. `vaccine_status()` and `schedule_status()` are pure: given a birth date, the
counted doses and today, they say what the schedule records as up to date, due, overdue or later.

Rules of a schedule entry (months are ages; `to_months` is exclusive):
- `milestones`: [[age, cumulative doses, overdue from age or null], ...]; `doses: n` is one milestone
  at `from_months`; `interval_months` keeps the next dose that long after the last one;
- `complete_when`: alternatives, each a list of {"cvx": [...], "doses": n} ("any": every counted dose,
  "name": doses recognised by their name only) that complete the series;
- `fewer_doses_if_started_before`: {"months", "doses"} for series shorter when started young;
- `every_years`: a booster that many years after the last dose;
- `booster_ages` + `then_every_years` + `early_years`: boosters at fixed ages, a dose given up to
  `early_years` before an age counting for it;
- `seasonal`: one dose per season, the file's `season` giving when a season's doses count and when
  the campaign recommends them;
- `born_from`, `count_from_months`: who the rule is for, and which doses count.
Overdue means the recorded due date passed more than `overdue_after_months` ago for boosters, or the
schedule's own "by" age passed for a child's series; a first adult dose is never called overdue.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone, translation
from django.utils.translation import ngettext

from accounts.models import User

from .models import Immunization

SCHEDULES_DIR = Path(__file__).resolve().parent / "data" / "vaccination_schedules"
# FHIR's system for CVX codes; a code without it is a code of another system (or none).
CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
# Immunisations recorded as not given do not count as doses.
NOT_GIVEN = {"not-done", "entered-in-error"}

UP_TO_DATE = "up_to_date"
DUE = "due"
OVERDUE = "overdue"
LATER = "later"
NOT_APPLICABLE = "not_applicable"


# -- dates -------------------------------------------------------------------------------------------------


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` calendar months later (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return datetime.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError("impossible date")


def age_in_months(birth: datetime.date, on: datetime.date) -> int:
    """Whole calendar months from birth to a date."""
    months = (on.year - birth.year) * 12 + on.month - birth.month
    return months - 1 if on.day < birth.day and add_months(birth, months) > on else months


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def _on(year: int, month_day: tuple[int, int]) -> datetime.date:
    month, day = month_day
    return datetime.date(year, month, min(day, 28) if month == 2 else day)


# -- the schedule files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    codes: frozenset[str]
    doses: int


@dataclass(frozen=True)
class Rule:
    source: str
    from_months: int = 0
    to_months: int | None = None
    born_from: datetime.date | None = None
    count_from_months: int | None = None
    seasonal: bool = False
    milestones: tuple[tuple[int, int, int | None], ...] = ()
    interval_months: int = 0
    complete_when: tuple[tuple[Requirement, ...], ...] = ()
    fewer_doses_if_started_before: tuple[int, int] | None = None
    every_years: int | None = None
    booster_ages: tuple[int, ...] = ()
    then_every_years: int | None = None
    early_years: int = 0

    def applies(self, *, birth: datetime.date, age_months: int) -> bool:
        if self.born_from is not None and birth < self.born_from:
            return False
        return self.from_months <= age_months and (self.to_months is None or age_months < self.to_months)


@dataclass(frozen=True)
class Vaccine:
    key: str
    labels: dict
    cvx: frozenset[str]
    names: tuple[str, ...]
    rules: tuple[Rule, ...]
    notes: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return localised(self.labels)

    @property
    def note(self) -> str:
        return localised(self.notes)


@dataclass(frozen=True)
class Season:
    counts_from: tuple[int, int]
    recommended_from: tuple[int, int]
    recommended_until: tuple[int, int]


class Titled:
    """A data file's title and notes, read in the active language (`titles`, `notes_text`: {"en", "fr"})."""

    titles: dict
    notes_text: dict

    @property
    def title(self) -> str:
        return localised(self.titles)

    @property
    def notes(self) -> str:
        return localised(self.notes_text)


@dataclass(frozen=True)
class Schedule(Titled):
    country: str
    titles: dict
    sources: dict
    checked_on: str
    season: Season
    overdue_after_months: int
    notes_text: dict
    vaccines: tuple[Vaccine, ...]

    def vaccine(self, key: str) -> Vaccine | None:
        return next((vaccine for vaccine in self.vaccines if vaccine.key == key), None)


def localised(texts: dict) -> str:
    """The text in the active language, else in English."""
    language = (translation.get_language() or "en")[:2]
    return texts.get(language) or texts.get("en", "")


def _code(code: str) -> str:
    # CVX codes are written with or without leading zeros ("08", "8").
    code = code.strip()
    if not code:
        return ""
    return code.lstrip("0") or "0"


def _rule(raw: dict) -> Rule:
    milestones = tuple(
        (int(at), int(doses), None if by is None else int(by)) for at, doses, by in raw.get("milestones", [])
    )
    if "doses" in raw and not milestones:
        milestones = ((int(raw.get("from_months", 0)), int(raw["doses"]), None),)
    fewer = raw.get("fewer_doses_if_started_before")
    return Rule(
        source=raw["source"],
        from_months=int(raw.get("from_months", 0)),
        to_months=raw.get("to_months"),
        born_from=datetime.date.fromisoformat(raw["born_from"]) if raw.get("born_from") else None,
        count_from_months=raw.get("count_from_months"),
        seasonal=bool(raw.get("seasonal")),
        milestones=milestones,
        interval_months=int(raw.get("interval_months", 0)),
        complete_when=tuple(
            tuple(
                Requirement(
                    codes=frozenset(_code(code) if code[:1].isdigit() else code for code in req["cvx"]),
                    doses=req["doses"],
                )
                for req in alternative
            )
            for alternative in raw.get("complete_when", [])
        ),
        fewer_doses_if_started_before=(int(fewer["months"]), int(fewer["doses"])) if fewer else None,
        every_years=raw.get("every_years"),
        booster_ages=tuple(raw.get("booster_ages", [])),
        then_every_years=raw.get("then_every_years"),
        early_years=int(raw.get("early_years", 0)),
    )


def schedule_parse(raw: dict) -> Schedule:
    """A schedule from its JSON document (raises KeyError or ValueError on a malformed one)."""
    season = raw["season"]
    return Schedule(
        country=raw["country"],
        titles=raw["title"],
        sources=raw["sources"],
        checked_on=raw["checked_on"],
        season=Season(
            counts_from=_month_day(season["counts_from"]),
            recommended_from=_month_day(season["recommended_from"]),
            recommended_until=_month_day(season["recommended_until"]),
        ),
        overdue_after_months=int(raw["overdue_after_months"]),
        notes_text=raw.get("notes", {}),
        vaccines=tuple(
            Vaccine(
                key=item["key"],
                labels=item["label"],
                cvx=frozenset(_code(code) for code in item.get("cvx", [])),
                names=tuple(fold(name) for name in item.get("names", [])),
                rules=tuple(_rule(rule) for rule in item["rules"]),
                notes=item.get("note", {}),
            )
            for item in raw["vaccines"]
        ),
    )


@functools.cache
def schedule_countries() -> tuple[str, ...]:
    """The countries with a schedule file (ISO codes, upper case)."""
    return tuple(sorted(path.stem.upper() for path in SCHEDULES_DIR.glob("*.json")))


@functools.cache
def schedule_load(country: str) -> Schedule | None:
    """The schedule of a country (ISO code), or None when there is no file for it."""
    country = (country or "").upper()
    if country not in schedule_countries():
        return None
    with (SCHEDULES_DIR / f"{country.lower()}.json").open(encoding="utf-8") as handle:
        return schedule_parse(json.load(handle))


# -- which vaccine a record is -------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation as spaces: how names are compared."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(char for char in text if not unicodedata.combining(char)).lower()
    return " ".join(re.sub(r"[^\w\-]+", " ", text).split())


@dataclass(frozen=True)
class Dose:
    """One given dose as the schedule sees it: its date, its CVX code ("" if none), and the record."""

    on: datetime.date
    cvx: str = ""
    record: Immunization | None = field(default=None, compare=False, repr=False)

    @property
    def by_name(self) -> bool:
        return not self.cvx


def vaccine_keys(*, vaccine: str, code: str, code_system: str, schedule: Schedule) -> tuple[set[str], str]:
    """The schedule's vaccines an immunisation counts for, and its CVX code ("" when it has none).

    A CVX code decides alone (Zostavax's code does not count for the recombinant shingles vaccine
    whatever its name says); without one, the name's words do (EN and FR, accents ignored).
    """
    if code.strip() and CVX_SYSTEM in (code_system or "").lower():
        cvx = _code(code)
        return {item.key for item in schedule.vaccines if cvx in item.cvx}, cvx
    text = fold(vaccine)
    return {
        item.key
        for item in schedule.vaccines
        if any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) for name in item.names)
    }, ""


def doses_by_vaccine(records, schedule: Schedule) -> tuple[dict[str, list[Dose]], dict[int, set[str]]]:
    """The given doses per vaccine key, oldest first, and the keys each record counted for (by record id)."""
    doses: dict[str, list[Dose]] = {}
    counted: dict[int, set[str]] = {}
    for record in records:
        if record.effective_at is None or (record.status or "").lower() in NOT_GIVEN:
            counted[record.pk] = set()
            continue
        keys, cvx = vaccine_keys(
            vaccine=record.vaccine, code=record.code, code_system=record.code_system, schedule=schedule
        )
        counted[record.pk] = keys
        for key in keys:
            doses.setdefault(key, []).append(Dose(on=timezone.localdate(record.effective_at), cvx=cvx, record=record))
    for items in doses.values():
        items.sort(key=lambda dose: dose.on)
    return doses, counted


# -- what the schedule records as due -------------------------------------------------------------------------


@dataclass
class VaccineStatus:
    """One vaccine of the schedule for one person today."""

    vaccine: Vaccine
    status: str
    due_on: datetime.date | None = None  # when it became (or becomes, for "later") recommended
    next_on: datetime.date | None = None  # for up to date: when the next dose or booster is recommended
    doses: list[Dose] = field(default_factory=list)
    needed: int | None = None  # doses the series asks for, when it is a count
    rule: Rule | None = None
    birth: datetime.date | None = None

    @property
    def key(self) -> str:
        return self.vaccine.key

    @property
    def label(self) -> str:
        return self.vaccine.label

    @property
    def last_dose(self) -> datetime.date | None:
        return self.doses[-1].on if self.doses else None

    @property
    def age_text(self) -> str:
        """The age at which it is (or becomes) recommended: "age 50", "age 4 months"."""
        on = self.due_on or self.next_on
        if on is None or self.birth is None:
            return ""
        months = age_in_months(self.birth, on)
        if months < 24:
            return ngettext("age %(count)d month", "age %(count)d months", months) % {"count": months}
        return ngettext("age %(count)d", "age %(count)d", months // 12) % {"count": months // 12}


def _count(requirement: Requirement, doses: list[Dose]) -> int:
    if "any" in requirement.codes:
        return len(doses)
    return sum(1 for dose in doses if dose.cvx in requirement.codes or (dose.by_name and "name" in requirement.codes))


def _season_dates(season: Season, today: datetime.date) -> tuple[datetime.date, datetime.date, datetime.date]:
    """The current season's start (doses count from it), and its campaign's first and last days."""
    year = today.year if (today.month, today.day) >= season.counts_from else today.year - 1
    start = _on(year, season.counts_from)
    recommended_from = _on(year if season.recommended_from >= season.counts_from else year + 1, season.recommended_from)
    until_year = (
        recommended_from.year if season.recommended_until >= season.recommended_from else recommended_from.year + 1
    )
    return start, recommended_from, _on(until_year, season.recommended_until)


def _seasonal(doses: list[Dose], season: Season, today: datetime.date) -> tuple[str, datetime.date]:
    start, recommended_from, recommended_until = _season_dates(season, today)
    next_campaign = _on(recommended_from.year + 1, season.recommended_from)
    if any(dose.on >= start for dose in doses):
        return UP_TO_DATE, next_campaign
    if recommended_from <= today <= recommended_until:
        return DUE, recommended_from
    return LATER, recommended_from if today < recommended_from else next_campaign


def _booster(rule: Rule, doses: list[Dose], birth: datetime.date, today: datetime.date) -> tuple[str, datetime.date]:
    points = [add_months(birth, 12 * age) for age in rule.booster_ages]
    if rule.then_every_years and rule.booster_ages:
        age = rule.booster_ages[-1]
        while points[-1] <= today:
            age += rule.then_every_years
            points.append(add_months(birth, 12 * age))
    past = [point for point in points if point <= today]
    future = [point for point in points if point > today]
    if not past:
        return LATER, future[0]
    latest = past[-1]
    window = add_months(latest, -12 * rule.early_years)
    if any(dose.on >= window for dose in doses):
        return UP_TO_DATE, future[0] if future else latest
    return DUE, latest


def _series(
    rule: Rule, doses: list[Dose], birth: datetime.date, today: datetime.date
) -> tuple[str, datetime.date | None, int | None, bool]:
    """(status, date, doses needed, overdue) of a counted series."""
    start = add_months(birth, rule.from_months)
    if rule.complete_when:
        needed = rule.milestones[-1][1] if rule.milestones else None
        if any(
            all(_count(requirement, doses) >= requirement.doses for requirement in alternative)
            for alternative in rule.complete_when
        ):
            return UP_TO_DATE, None, needed, False
        due_on = max(start, add_months(doses[-1].on, rule.interval_months)) if doses else start
        if due_on > today:
            return (UP_TO_DATE if doses else LATER), due_on, needed, False
        return DUE, due_on, needed, False
    milestones = list(rule.milestones)
    if rule.fewer_doses_if_started_before and milestones:
        months, fewer = rule.fewer_doses_if_started_before
        started = doses[0].on if doses else None
        if started is not None and age_in_months(birth, started) < months:
            at, _needed, by = milestones[-1]
            milestones[-1] = (at, fewer, by)
    needed = milestones[-1][1] if milestones else None
    count = len(doses)
    for at, cumulative, by in milestones:
        if count >= cumulative:
            continue
        due_on = add_months(birth, at)
        if doses and rule.interval_months:
            due_on = max(due_on, add_months(doses[-1].on, rule.interval_months))
        if due_on > today:
            return (UP_TO_DATE if count else LATER), due_on, needed, False
        overdue = by is not None and add_months(birth, by) <= today
        return DUE, due_on, needed, overdue
    return UP_TO_DATE, None, needed, False


def _evaluate(
    rule: Rule, doses: list[Dose], *, birth: datetime.date, today: datetime.date, schedule: Schedule
) -> tuple[str, datetime.date | None, int | None]:
    if rule.count_from_months is not None:
        counted_from = add_months(birth, rule.count_from_months)
        doses = [dose for dose in doses if dose.on >= counted_from]
    grace = schedule.overdue_after_months
    if rule.seasonal:
        status, on = _seasonal(doses, schedule.season, today)
        return status, on, None
    if rule.booster_ages:
        status, on = _booster(rule, doses, birth, today)
        if status == DUE and add_months(on, grace) <= today:
            status = OVERDUE
        return status, on, None
    if rule.every_years:
        start = add_months(birth, rule.from_months)
        if not doses:
            return DUE, start, None
        due_on = max(start, add_months(doses[-1].on, 12 * rule.every_years))
        if due_on > today:
            return UP_TO_DATE, due_on, None
        return (OVERDUE if add_months(due_on, grace) <= today else DUE), due_on, None
    status, on, needed, overdue = _series(rule, doses, birth, today)
    return (OVERDUE if overdue else status), on, needed


def vaccine_status(
    vaccine: Vaccine, *, birth: datetime.date, doses: list[Dose], today: datetime.date, schedule: Schedule
) -> VaccineStatus:
    """What the schedule records for one vaccine today, given the person's birth date and given doses (pure)."""
    age = age_in_months(birth, today)
    doses = sorted((dose for dose in doses if dose.on <= today), key=lambda dose: dose.on)
    current = next((rule for rule in vaccine.rules if rule.applies(birth=birth, age_months=age)), None)
    upcoming = sorted(
        (
            rule
            for rule in vaccine.rules
            if rule.from_months > age and (rule.born_from is None or birth >= rule.born_from)
        ),
        key=lambda rule: rule.from_months,
    )
    if current is None:
        for rule in upcoming:
            start = add_months(birth, rule.from_months)
            status, _on_date, needed = _evaluate(rule, doses, birth=birth, today=start, schedule=schedule)
            if status in (DUE, OVERDUE, LATER):
                return VaccineStatus(vaccine, LATER, due_on=start, doses=doses, needed=needed, rule=rule, birth=birth)
        return VaccineStatus(vaccine, NOT_APPLICABLE, doses=doses, birth=birth)
    status, on, needed = _evaluate(current, doses, birth=birth, today=today, schedule=schedule)
    result = VaccineStatus(vaccine, status, doses=doses, needed=needed, rule=current, birth=birth)
    if status == UP_TO_DATE:
        result.next_on = on
        if on is None:
            # A completed series may start again under a later rule (a child's series, then adult boosters).
            for rule in upcoming:
                start = add_months(birth, rule.from_months)
                later_status, later_on, _needed = _evaluate(rule, doses, birth=birth, today=start, schedule=schedule)
                if later_status in (DUE, OVERDUE):
                    result.next_on = later_on or start
                    break
                if later_status == UP_TO_DATE and later_on:
                    result.next_on = later_on
                    break
    else:
        result.due_on = on
    return result


# Vaccines of a much later age are left out of the list (a baby's page does not list shingles).
LATER_HORIZON_YEARS = 20
ORDER = {OVERDUE: 0, DUE: 1, UP_TO_DATE: 2, LATER: 3, NOT_APPLICABLE: 4}


def schedule_status(
    schedule: Schedule, *, birth: datetime.date, doses: dict[str, list[Dose]], today: datetime.date
) -> list[VaccineStatus]:
    """Every vaccine of the schedule that applies now or in the next 20 years, overdue and due first (pure)."""
    statuses = [
        vaccine_status(vaccine, birth=birth, doses=doses.get(vaccine.key, []), today=today, schedule=schedule)
        for vaccine in schedule.vaccines
    ]
    horizon = add_months(today, 12 * LATER_HORIZON_YEARS)
    applicable = [
        status
        for status in statuses
        if status.status != NOT_APPLICABLE and not (status.status == LATER and status.due_on > horizon)
    ]
    return sorted(
        applicable,
        key=lambda status: (ORDER[status.status], status.due_on or status.next_on or datetime.date.max, status.label),
    )


# -- the patient's page and the assistant's tool --------------------------------------------------------------


@dataclass
class HistoryRow:
    record: Immunization
    vaccines: list[str]  # labels of the schedule's vaccines it counts for


@dataclass
class VaccinationOverview:
    schedule: Schedule | None
    country: str
    birth_date: datetime.date | None
    history: list[HistoryRow]
    statuses: list[VaccineStatus]
    available: tuple[str, ...] = ()

    def with_status(self, *names: str) -> list[VaccineStatus]:
        return [status for status in self.statuses if status.status in names]

    @property
    def due_count(self) -> int:
        return len(self.with_status(DUE, OVERDUE))


def vaccination_overview_for_user(
    *, user: User, today: datetime.date | None = None, country: str | None = None
) -> VaccinationOverview:
    """The owner's immunisations, newest first, and their country's schedule read against them (two queries)."""
    today = today or timezone.localdate()
    profile = getattr(user, "profile", None)
    own_country = str(profile.country) if profile is not None and profile.country else ""
    country = (country or own_country).upper()
    birth = profile.date_of_birth if profile is not None else None
    schedule = schedule_load(country)
    records = list(Immunization.objects.filter(owner=user).order_by("-effective_at", "-id"))
    statuses: list[VaccineStatus] = []
    counted: dict[int, set[str]] = {}
    if schedule is not None:
        doses, counted = doses_by_vaccine(records, schedule)
        if birth is not None:
            statuses = schedule_status(schedule, birth=birth, doses=doses, today=today)
    history = [
        HistoryRow(
            record=record,
            vaccines=[schedule.vaccine(key).label for key in sorted(counted.get(record.pk, ()))] if schedule else [],
        )
        for record in records
    ]
    return VaccinationOverview(
        schedule=schedule,
        country=country,
        birth_date=birth,
        history=history,
        statuses=statuses,
        available=schedule_countries(),
    )
