"""Preventive topics by age and sex, from public recommendations, as a checklist the patient marks done.

The topics and their sources are a data file (`records/data/preventive_topics.json`, by country:
USPSTF for the US, HAS, INCa and Santé publique France for France). `topic_checklist()` is pure:
given the age, the sex if known, the country's topics, the patient's checks and today, it says which
topics apply and, for each, whether the patient marked it done within its usual interval. Nothing
here is a diagnosis or an order: a topic is something to discuss with a clinician. When the profile
gives no sex, topics with a sex criterion are shown "if this applies to you".
"""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .models import PreventiveCheck
from .vaccinations import Titled, add_months, age_in_months, localised

TOPICS_FILE = Path(__file__).resolve().parent / "data" / "preventive_topics.json"
SEXES = ("female", "male")

DONE = "done"
TO_DISCUSS = "to_discuss"


@dataclass(frozen=True)
class Band:
    from_age: int
    to_age: int | None = None
    sex: str | None = None
    interval_months: int | None = None

    def holds(self, age_years: int) -> bool:
        return self.from_age <= age_years and (self.to_age is None or age_years < self.to_age)


@dataclass(frozen=True)
class Topic:
    key: str
    labels: dict
    whats: dict
    bands: tuple[Band, ...]
    source: dict
    intervals: dict = field(default_factory=dict)
    conditions: dict = field(default_factory=dict)
    once: bool = False
    once_per_band: bool = False

    @property
    def label(self) -> str:
        return localised(self.labels)

    @property
    def what(self) -> str:
        return localised(self.whats)

    @property
    def interval(self) -> str:
        return localised(self.intervals)

    @property
    def condition(self) -> str:
        return localised(self.conditions)

    @property
    def has_sex_criterion(self) -> bool:
        return any(band.sex for band in self.bands)


@dataclass(frozen=True)
class TopicList(Titled):
    country: str
    titles: dict
    topics: tuple[Topic, ...]
    notes_text: dict
    checked_on: str

    def topic(self, key: str) -> Topic | None:
        return next((topic for topic in self.topics if topic.key == key), None)


def topics_parse(raw: dict, country: str) -> TopicList | None:
    """A country's topics from the JSON document, or None when the file has none for it."""
    entry = raw["countries"].get(country.upper())
    if entry is None:
        return None
    sources = raw["sources"]
    return TopicList(
        country=country.upper(),
        titles=entry["title"],
        notes_text=raw.get("notes", {}),
        checked_on=raw["checked_on"],
        topics=tuple(
            Topic(
                key=item["key"],
                labels=item["label"],
                whats=item["what"],
                bands=tuple(
                    Band(
                        from_age=band["from_age"],
                        to_age=band.get("to_age"),
                        sex=band.get("sex"),
                        interval_months=band.get("interval_months"),
                    )
                    for band in item["bands"]
                ),
                source=sources[item["source"]],
                intervals=item.get("interval", {}),
                conditions=item.get("condition", {}),
                once=bool(item.get("once")),
                once_per_band=bool(item.get("once_per_band")),
            )
            for item in entry["topics"]
        ),
    )


@functools.cache
def _document() -> dict:
    with TOPICS_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


@functools.cache
def topics_load(country: str) -> TopicList | None:
    """The preventive topics of a country (ISO code), or None when there are none for it."""
    return topics_parse(_document(), country or "")


def topic_countries() -> tuple[str, ...]:
    return tuple(sorted(_document()["countries"]))


# -- the checklist ------------------------------------------------------------------------------------------


@dataclass
class ChecklistItem:
    topic: Topic
    status: str  # DONE or TO_DISCUSS
    band: Band
    # The sex criterion is unknown for this person: shown "if this applies to you".
    if_applies: bool = False
    last_done: datetime.date | None = None
    next_on: datetime.date | None = None  # when the usual interval since the last check ends
    checks: list[PreventiveCheck] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.topic.key


def _band_for(topic: Topic, *, age_years: int, sex: str) -> tuple[Band | None, bool]:
    """The band of the topic that holds for this age and sex, and whether the sex is an unknown criterion."""
    for band in topic.bands:
        if band.holds(age_years) and (band.sex is None or band.sex == sex):
            return band, False
    if sex not in SEXES:
        for band in topic.bands:
            if band.holds(age_years):
                return band, True
    return None, False


def topic_checklist(
    topics: TopicList, *, birth: datetime.date, sex: str, checks: list[PreventiveCheck], today: datetime.date
) -> list[ChecklistItem]:
    """The topics that apply at this age (and sex, when known), each with the patient's latest check (pure).

    A topic is done when marked done within its band's interval (or ever, for a one-time topic, or
    within the current age range for a once-per-range one); otherwise it is a topic to discuss.
    """
    age_months = age_in_months(birth, today)
    age_years = age_months // 12
    by_topic: dict[str, list[PreventiveCheck]] = {}
    for check in checks:
        by_topic.setdefault(check.topic_key, []).append(check)
    items = []
    for topic in topics.topics:
        band, if_applies = _band_for(topic, age_years=age_years, sex=sex)
        if band is None:
            continue
        done = sorted(by_topic.get(topic.key, []), key=lambda check: check.done_on, reverse=True)
        last = done[0].done_on if done else None
        item = ChecklistItem(
            topic=topic, status=TO_DISCUSS, band=band, if_applies=if_applies, checks=done, last_done=last
        )
        if last is not None:
            if topic.once:
                item.status = DONE
            elif topic.once_per_band:
                band_start = add_months(birth, 12 * band.from_age)
                item.status = DONE if last >= band_start else TO_DISCUSS
            elif band.interval_months:
                item.next_on = add_months(last, band.interval_months)
                item.status = DONE if item.next_on > today else TO_DISCUSS
            else:
                item.status = DONE
        items.append(item)
    return sorted(items, key=lambda item: (item.status != TO_DISCUSS, item.topic.label))


# -- reads and writes ----------------------------------------------------------------------------------------


def preventive_checks_for_user(*, user: User) -> list[PreventiveCheck]:
    """The owner's checks, newest first (one query)."""
    return list(PreventiveCheck.objects.filter(owner=user).order_by("-created_at", "-id"))


def preventive_check_get_for_user(*, user: User, public_id) -> PreventiveCheck:
    """One of the owner's checks, or 404 (also for someone else's)."""
    try:
        return PreventiveCheck.objects.get(owner=user, public_id=public_id)
    except PreventiveCheck.DoesNotExist:
        raise Http404("No such check") from None


@dataclass
class PreventiveOverview:
    topics: TopicList | None
    country: str
    birth_date: datetime.date | None
    sex: str
    items: list[ChecklistItem]
    available: tuple[str, ...] = ()

    @property
    def to_discuss_count(self) -> int:
        return sum(1 for item in self.items if item.status == TO_DISCUSS)

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.items if item.status == DONE)


def preventive_overview_for_user(
    *, user: User, today: datetime.date | None = None, country: str | None = None
) -> PreventiveOverview:
    """The owner's checklist from their country's topics, age and sex (two queries)."""
    today = today or timezone.localdate()
    profile = getattr(user, "profile", None)
    country = (country or (str(profile.country) if profile is not None and profile.country else "")).upper()
    birth = profile.date_of_birth if profile is not None else None
    sex = (profile.sex if profile is not None else "") or ""
    topics = topics_load(country)
    items: list[ChecklistItem] = []
    if topics is not None and birth is not None:
        items = topic_checklist(topics, birth=birth, sex=sex, checks=preventive_checks_for_user(user=user), today=today)
    return PreventiveOverview(
        topics=topics, country=country, birth_date=birth, sex=sex, items=items, available=topic_countries()
    )


@transaction.atomic
def preventive_check_create(
    *, user: User, topic_key: str, done_on: datetime.date, note: str = "", today: datetime.date | None = None
) -> PreventiveCheck:
    """Mark a topic done on a date (each call adds one; the list keeps the history)."""
    today = today or timezone.localdate()
    if not any(topics.topic(topic_key) for country in topic_countries() if (topics := topics_load(country))):
        raise ValidationError(_("This topic is not one HealthSpace knows."))
    if done_on > today:
        raise ValidationError(_("The date cannot be in the future."))
    check = PreventiveCheck(owner=user, topic_key=topic_key, done_on=done_on, note=note.strip())
    check.full_clean()
    check.save()
    return check


@transaction.atomic
def preventive_check_delete(*, user: User, check: PreventiveCheck) -> None:
    """Remove one of the owner's checks (a mistaken date)."""
    if check.owner_id != user.pk:
        raise Http404("No such check")
    check.delete()
