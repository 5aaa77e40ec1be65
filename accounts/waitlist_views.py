"""The waitlist page of a gated feature: patients it is not open to yet can join (or leave) its waitlist."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import rollout


def _feature(flag: str) -> rollout.Feature:
    try:
        return rollout.feature_get(flag)
    except KeyError:
        raise Http404("No such feature") from None


@login_required
def waitlist(request, feature):
    found = _feature(feature)
    if rollout.feature_is_open(user=request.user, flag=found.flag):
        return redirect(found.url_name)
    entry = rollout.waitlist_entry_for_user(user=request.user, flag=found.flag)
    return render(request, "accounts/waitlist.html", {"feature": found, "entry": entry})


@require_POST
@login_required
def waitlist_join(request, feature):
    found = _feature(feature)
    rollout.waitlist_join(user=request.user, flag=found.flag)
    messages.success(request, _("You are on the waitlist."))
    return redirect("waitlist:feature", feature=found.flag)


@require_POST
@login_required
def waitlist_leave(request, feature):
    found = _feature(feature)
    rollout.waitlist_leave(user=request.user, flag=found.flag)
    messages.success(request, _("You left the waitlist."))
    return redirect("waitlist:feature", feature=found.flag)
