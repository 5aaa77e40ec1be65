"""The symptom journal: entries the patient logs, and a parser for a one-line entry in English or French.

`symptom_parse("headache 6/10 since 2pm", "en")` reads what, severity, onset and duration from a short
line, so a form (or the chat) can propose an entry that the patient then confirms with
`symptom_create(owner=..., **fields)`. The parser only recognises; it never judges a symptom.
"""

import datetime
import re
import zoneinfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import ngettext

from accounts.models import User

from . import services
from .models import Symptom

# Longer lines are sentences, not journal entries.
MAX_LINE_CHARS = 200
MAX_WHAT_WORDS = 10

# Minutes per unit word, both languages (keys are lower-case).
_UNIT_MINUTES = {
    **dict.fromkeys(("m", "min", "mins", "mn", "minute", "minutes"), 1),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours", "heure", "heures"), 60),
    **dict.fromkeys(("d", "day", "days", "j", "jour", "jours", "journée", "journées"), 24 * 60),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks", "semaine", "semaines"), 7 * 24 * 60),
}
_UNIT = r"(?P<unit>minutes?|mins?|mn|m|hours?|hrs?|heures?|h|days?|jours?|journées?|j|d|weeks?|wks?|semaines?|w)"
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "un": 1, "une": 1, "two": 2, "deux": 2, "three": 3, "trois": 3}
_NUMBER = r"(?P<n>\d+(?:[.,]\d+)?|an?|one|two|three|une?|deux|trois)"

_CLOCK = (
    r"(?P<hour>\d{1,2})(?:(?::|h\s?)(?P<minute>\d{2}))?\s*"
    r"(?P<meridiem>a\.?m\.?|p\.?m\.?|h(?!\w))?"
)

# Parts of the day, as the hour a person usually means by them.
_PARTS_OF_DAY = {
    "morning": 8,
    "matin": 8,
    "afternoon": 14,
    "après-midi": 14,
    "apres-midi": 14,
    "evening": 19,
    "soir": 19,
    "soirée": 19,
    "night": 23,
    "nuit": 23,
}

_WEEKDAYS = {
    "en": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
_MONTHS = {
    "en": (
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ),
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
}


def _vocabulary(language: str) -> dict:
    """The words of one language: what introduces an onset, a duration, yesterday, and so on."""
    if language == "fr":
        return {
            "since": r"depuis(?:\s+(?:le|la|ce|cet|cette))?|à partir de|a partir de|commencée?s?\s+(?:à|a|le|vers)?",
            "for": r"pendant|durant",
            "ago": (r"il y a\s+", ""),
            "yesterday": r"hier",
            "today": r"aujourd'hui|aujourd’hui",
            "this": r"ce|cet|cette",
            "last": r"dernier|dernière",
            "at": r"à|a|vers",
            "severity": r"(?:/|sur)",
            "severity_word": r"intensité|niveau",
            "lead_in": (
                r"^(?:j'ai eu|j’ai eu|j'ai|j’ai|je ressens|je sens)\s+(?:(?:un|une|des|du|de la|de l'|de l’)\s+)?"
            ),
            "joiners": r"^(?:et|avec|,|-|–)\s+|\s+(?:et|avec|,|-|–)$",
            "weekdays": _WEEKDAYS["fr"],
            "months": _MONTHS["fr"],
        }
    return {
        "since": r"since|from|starting|started(?:\s+(?:at|on))?|began(?:\s+(?:at|on))?",
        "for": r"for|lasting|lasted",
        "ago": (r"", r"\s+ago"),
        "yesterday": r"yesterday",
        "today": r"today",
        "this": r"this",
        "last": r"last",
        "at": r"at|around|about",
        "severity": r"(?:/|out of)",
        "severity_word": r"severity|pain level|level",
        "lead_in": (
            r"^(?:i've got|i have got|i have had|i've had|i have|i had|i feel|i'm feeling)\s+(?:(?:an?|some|the)\s+)?"
        ),
        "joiners": r"^(?:and|with|,|-|–)\s+|\s+(?:and|with|,|-|–)$",
        "weekdays": _WEEKDAYS["en"],
        "months": _MONTHS["en"],
    }


def _number(text: str) -> float:
    text = text.lower()
    if text in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[text])
    return float(text.replace(",", "."))


def _minutes(number: str, unit: str) -> int:
    return round(_number(number) * _UNIT_MINUTES[unit.lower()])


def _clock(match: re.Match) -> datetime.time | None:
    hour = int(match.group("hour"))
    minute = int(match.group("minute") or 0)
    meridiem = (match.group("meridiem") or "").lower().replace(".", "")
    if meridiem in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    elif not meridiem and match.group("minute") is None:
        return None  # a bare number is not a time of day
    if hour > 23 or minute > 59:
        return None
    return datetime.time(hour, minute)


def _local_tz():
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _at(day: datetime.date, time: datetime.time) -> datetime.datetime:
    return datetime.datetime.combine(day, time, tzinfo=_local_tz())


class _Onset:
    """Finds an onset expression in a line and resolves it against `now`."""

    def __init__(self, vocabulary: dict, now: datetime.datetime):
        self.v = vocabulary
        self.now = now.astimezone(_local_tz())
        self.today = self.now.date()

    def _not_future(self, moment: datetime.datetime, step: datetime.timedelta) -> datetime.datetime:
        # "since 2pm" said at 11am means yesterday; "since March 3" said in February means last year.
        while moment > self.now:
            moment -= step
        return moment

    def _resolve(self, match: re.Match) -> datetime.datetime | None:
        groups = {key: value for key, value in match.groupdict().items() if value is not None}
        if "n" in groups and "unit" in groups:
            return self.now - datetime.timedelta(minutes=_minutes(groups["n"], groups["unit"]))
        day = self.today
        if "yesterday" in groups:
            day = self.today - datetime.timedelta(days=1)
        if "weekday" in groups:
            index = self.v["weekdays"].index(groups["weekday"].lower())
            day = self.today - datetime.timedelta(days=(self.today.weekday() - index) % 7)
        if "iso" in groups:
            try:
                day = datetime.date.fromisoformat(groups["iso"])
            except ValueError:
                return None
        if "month" in groups:
            month = self.v["months"].index(groups["month"].lower()) + 1
            try:
                day = datetime.date(self.today.year, month, int(groups["day"]))
            except ValueError:
                return None
            if day > self.today:
                day = day.replace(year=day.year - 1)
        time = datetime.time(0, 0)
        if "part" in groups:
            hour = _PARTS_OF_DAY[groups["part"].lower()]
            time = datetime.time(hour, 0)
            if hour == 23 and "yesterday" not in groups and "iso" not in groups:
                day = self.today - datetime.timedelta(days=1)  # "last night", "cette nuit": the night just gone
        if "hour" in groups:
            time = _clock(match)
            if time is None:
                return None
        moment = _at(day, time)
        if {"weekday", "iso", "month", "yesterday"} & set(groups):
            return moment if moment <= self.now else None
        return self._not_future(moment, datetime.timedelta(days=1))

    def patterns(self, lead: str | None = None) -> list[re.Pattern]:
        """The expressions, each after "since" (or after `lead`: a dose is logged "at" a moment)."""
        v = self.v
        weekdays = "|".join(v["weekdays"])
        months = "|".join(v["months"])
        parts = "|".join(re.escape(part) for part in _PARTS_OF_DAY)
        ago_before, ago_after = v["ago"]
        since = rf"(?:{v['since']})\s+" if lead is None else lead
        at = rf"(?:(?:{v['at']})\s+)?"
        expressions = [
            rf"(?P<yesterday>{v['yesterday']})(?:\s+(?P<part>{parts}))?(?:\s+{at}{_CLOCK})?",
            rf"(?:(?:{v['this']})\s+|{v['last']}\s+)(?P<part>{parts})",
            rf"(?:(?:{v['today']})\s+{at})?{_CLOCK}",
            rf"(?P<weekday>{weekdays})(?:\s+(?:{v['last']}))?(?:\s+(?P<part>{parts}))?",
            rf"(?:(?:{v['last']})\s+)?(?P<weekday>{weekdays})",
            r"(?P<iso>\d{4}-\d{2}-\d{2})",
            rf"(?P<day>\d{{1,2}})(?:st|nd|rd|th|er)?\s+(?P<month>{months})",
            rf"(?P<month>{months})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?",
            rf"{_NUMBER}\s*{_UNIT}",
        ]
        compiled = [re.compile(rf"\b{since}{expression}(?!\w)", re.IGNORECASE) for expression in expressions]
        # "2 hours ago", "il y a 2 heures": an onset without "since".
        compiled.append(re.compile(rf"\b{ago_before}{_NUMBER}\s*{_UNIT}{ago_after}(?!\w)", re.IGNORECASE))
        return compiled

    def find(self, text: str, lead: str | None = None) -> tuple[datetime.datetime, tuple[int, int]] | None:
        """The first onset expression that resolves to a moment not in the future, and its span."""
        for pattern in self.patterns(lead):
            for match in pattern.finditer(text):
                moment = self._resolve(match)
                if moment is not None:
                    return moment, match.span()
        return None


def _remove(text: str, span: tuple[int, int]) -> str:
    return f"{text[: span[0]]} {text[span[1] :]}"


def symptom_parse(text: str, language: str, *, now: datetime.datetime | None = None) -> dict | None:
    """What, severity, onset (aware, in TIME_ZONE) and duration of a one-line entry, or None if it is not one.

    A line is an entry when it names something and gives at least a severity, an onset or a
    duration: "headache 6/10 since 2pm", "mal de tête 6/10 depuis 14h". Without an onset, the onset
    is now. Pure: reads no database.
    """
    text = " ".join((text or "").split())
    if not text or len(text) > MAX_LINE_CHARS:
        return None
    language = (language or "en").split("-")[0].lower()
    vocabulary = _vocabulary(language)
    now = now or timezone.now()
    rest = text
    found = False

    severity = None
    severity_pattern = re.compile(
        rf"(?:(?:{vocabulary['severity_word']})\s*:?\s*)?\b(?P<value>\d{{1,2}})\s*{vocabulary['severity']}\s*10\b",
        re.IGNORECASE,
    )
    match = severity_pattern.search(rest)
    if match and 0 <= int(match.group("value")) <= 10:
        severity = int(match.group("value"))
        rest = _remove(rest, match.span())
        found = True

    duration = None
    duration_pattern = re.compile(
        rf"\b(?:{vocabulary['for']})\s+(?:(?:about|around|environ)\s+)?{_NUMBER}\s*{_UNIT}(?!\w)", re.IGNORECASE
    )
    match = duration_pattern.search(rest)
    if match:
        duration = datetime.timedelta(minutes=_minutes(match.group("n"), match.group("unit")))
        rest = _remove(rest, match.span())
        found = True

    onset = now.astimezone(_local_tz())
    located = _Onset(vocabulary, now).find(rest)
    if located is not None:
        onset, span = located
        rest = _remove(rest, span)
        found = True

    what = " ".join(rest.split()).strip(" ,.;:-–!")
    for _ in range(3):
        what = re.sub(vocabulary["lead_in"], "", what, flags=re.IGNORECASE)
        what = re.sub(vocabulary["joiners"], "", what, flags=re.IGNORECASE).strip(" ,.;:-–!")
    if not found or not what or len(what.split()) > MAX_WHAT_WORDS:
        return None
    fields = {"what": what, "severity": severity, "onset": onset}
    if duration is not None:
        fields["duration"] = duration
    return fields


def symptom_parse_any(text: str, languages: list[str], *, now: datetime.datetime | None = None) -> dict | None:
    """The best reading of a line in any of the languages (the first wins a tie): the one that understood most."""
    readings = [reading for language in languages if (reading := symptom_parse(text, language, now=now))]
    return min(readings, key=lambda reading: len(reading["what"].split()), default=None)


def duration_parse(text: str, language: str = "en") -> datetime.timedelta | None:
    """A duration typed by the patient ("2 hours", "1h30", "3 jours", "45"), or None if blank; ValueError if unreadable.

    A bare number is minutes.
    """
    text = " ".join((text or "").lower().split())
    if not text:
        return None
    if re.fullmatch(r"\d+", text):
        return datetime.timedelta(minutes=int(text))
    hours_minutes = re.fullmatch(r"(\d{1,3})\s*h\s*(\d{1,2})(?:\s*(?:min|mn|m))?", text)
    if hours_minutes:
        return datetime.timedelta(hours=int(hours_minutes.group(1)), minutes=int(hours_minutes.group(2)))
    total = 0
    position = 0
    for match in re.finditer(rf"{_NUMBER}\s*{_UNIT}(?!\w)(?:\s*(?:and|et|,)\s*)?", text):
        if text[position : match.start()].strip():
            raise ValueError("unreadable duration")
        total += _minutes(match.group("n"), match.group("unit"))
        position = match.end()
    if position == 0 or text[position:].strip():
        raise ValueError("unreadable duration")
    return datetime.timedelta(minutes=total)


def duration_text(minutes: int | None) -> str:
    """A duration in the active language, in days, hours and minutes ("1 day 2 hours", "45 minutes")."""
    if minutes is None:
        return ""
    days, rest = divmod(int(minutes), 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(ngettext("%(count)d day", "%(count)d days", days) % {"count": days})
    if hours:
        parts.append(ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours})
    if mins or not parts:
        parts.append(ngettext("%(count)d minute", "%(count)d minutes", mins) % {"count": mins})
    return " ".join(parts[:2])


def symptom_create(
    *,
    owner: User,
    what: str,
    onset: datetime.datetime,
    severity: int | None = None,
    duration: datetime.timedelta | None = None,
    notes: str = "",
) -> Symptom:
    """Add one entry to the owner's symptom journal (each call adds one; the patient confirmed it)."""
    symptom = Symptom(
        what=what.strip(),
        severity=severity,
        duration_minutes=None if duration is None else round(duration.total_seconds() / 60),
        effective_at=onset,
        patient_note=notes,
    )
    return services.record_create(user=owner, record=symptom)


def symptoms_for_user(*, user: User, since: datetime.datetime | None = None) -> QuerySet:
    """The owner's symptom entries, newest onset first, optionally since a moment."""
    rows = Symptom.objects.filter(owner=user)
    if since is not None:
        rows = rows.filter(effective_at__gte=since)
    return rows.order_by("-effective_at", "-id")
