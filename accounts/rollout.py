"""Region gating and staged rollout: who has a feature yet, and the waitlist for everyone else.

A gated feature is a django-waffle flag (`accounts.Flag`: everyone, countries, groups, users, a
percentage; managed in the staff console) plus a `Feature` that the app owning it registers in its
`AppConfig.ready()` (its name on the waitlist page and where it lives once open). To gate a new one:
add the flag in a data migration, register the Feature, then guard its views with
`@feature_required(flag)` (or `gate(request, flag)` inside a view) and its pages with the
`{% feature_open flag as open %}` tag of `rollout` (or a selector that calls `feature_is_open`).
Patients outside a flag are sent to `waitlist:feature`, where they can join its waitlist.

Flags are read through waffle's cache (the shared cache; flushed when a flag or its groups and users
change), so checking one costs no query on a warm cache.
"""

import functools
from dataclasses import dataclass

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from waffle import get_waffle_flag_model

from .models import User, WaitlistEntry


@dataclass(frozen=True)
class Feature:
    """A feature behind a flag: what the waitlist page calls it, and where it lives once open."""

    flag: str
    name: str | Promise
    description: str | Promise
    url_name: str


_FEATURES: dict[str, Feature] = {}


def feature_register(feature: Feature) -> Feature:
    """Make a gated feature known to the waitlist (from an AppConfig.ready(); registering twice is harmless)."""
    _FEATURES[feature.flag] = feature
    return feature


def feature_get(flag: str) -> Feature:
    """A registered feature by its flag's name; KeyError when none is."""
    return _FEATURES[flag]


def features() -> dict[str, Feature]:
    """Every registered gated feature, by flag name."""
    return dict(_FEATURES)


def feature_is_open(*, user: User, flag: str) -> bool:
    """Whether the user has the feature now; an empty flag name means "not gated"."""
    if not flag:
        return True
    found = get_waffle_flag_model().get(flag)
    if not found.pk:
        # Missing from the database: waffle logs it and answers WAFFLE_FLAG_DEFAULT (closed).
        return bool(found.is_active(None))
    return found.is_active_for(user)


def waitlist_url(flag: str) -> str:
    """The waitlist page of a gated feature."""
    return reverse("waitlist:feature", args=[flag])


def gate(request, flag: str):
    """None when the request's user has the feature, else a redirect to its waitlist page."""
    if feature_is_open(user=request.user, flag=flag):
        return None
    if request.method != "GET":
        messages.info(request, _("This is not available to you yet. You can join the waitlist."))
    return redirect(waitlist_url(flag))


def feature_required(flag: str):
    """View decorator: patients without the feature land on its waitlist page (use under @login_required)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            closed = gate(request, flag)
            return closed if closed is not None else view(request, *args, **kwargs)

        return wrapped

    return decorator


def waitlist_entry_for_user(*, user: User, flag: str) -> WaitlistEntry | None:
    """The user's place on a feature's waitlist, if they joined it."""
    return WaitlistEntry.objects.filter(user=user, feature=flag).first()


def waitlist_flags_for_user(*, user: User) -> set[str]:
    """The features whose waitlist the user is on (one query)."""
    return set(WaitlistEntry.objects.filter(user=user).values_list("feature", flat=True))


def waitlist_join(*, user: User, flag: str) -> WaitlistEntry:
    """Put the user on a feature's waitlist; joining again keeps the first date."""
    feature_get(flag)
    try:
        with transaction.atomic():
            entry, _created = WaitlistEntry.objects.get_or_create(user=user, feature=flag)
    except IntegrityError:  # a double click raced the first one
        entry = WaitlistEntry.objects.get(user=user, feature=flag)
    return entry


def waitlist_leave(*, user: User, flag: str) -> None:
    """Take the user off a feature's waitlist (nothing happens if they were not on it)."""
    WaitlistEntry.objects.filter(user=user, feature=flag).delete()


def waitlist_counts() -> dict[str, int]:
    """How many patients wait for each feature (one query)."""
    rows = WaitlistEntry.objects.values("feature").annotate(count=Count("id")).order_by("feature")
    return {row["feature"]: row["count"] for row in rows}
