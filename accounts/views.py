"""Account, profile, consents and the access log: the patient's own pages."""

from allauth.account.decorators import reauthentication_required
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import AccessLogFilterForm, ConsentForm, ProfileForm
from .models import ConsentPurpose, Profile
from .privacy import consent_purpose_family


def home(request):
    if request.user.is_authenticated:
        return redirect("records:dashboard")
    return render(request, "accounts/home.html")


def privacy_notice(request):
    return render(request, "accounts/privacy_notice.html", {"version": settings.PRIVACY_NOTICE_VERSION})


@login_required
def account(request):
    profile, _created = Profile.objects.get_or_create(user=request.user)
    return render(request, "accounts/account.html", {"profile": profile})


@login_required
@reauthentication_required(allow_get=True)
def profile_edit(request):
    profile, _created = Profile.objects.get_or_create(user=request.user)
    form = ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        services.profile_update(user=request.user, **form.cleaned_data)
        messages.success(request, _("Your profile was saved."))
        response = redirect("accounts:account")
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, form.cleaned_data["preferred_language"], samesite="Lax")
        return response
    return render(request, "accounts/profile_form.html", {"form": form})


@login_required
def privacy(request):
    context = {
        "consents": selectors.consent_status_for_user(user=request.user),
        "restricted": selectors.processing_restricted(user=request.user),
    }
    return render(request, "accounts/privacy.html", context)


@login_required
def consents(request):
    context = {
        "consents": selectors.consent_status_for_user(user=request.user),
        "ledger": selectors.consent_events_for_user(user=request.user)[:50],
        "notice_version": settings.PRIVACY_NOTICE_VERSION,
    }
    return render(request, "accounts/consents.html", context)


@require_POST
@login_required
def consent_change(request):
    # No re-authentication here: withdrawing must be as easy as giving (GDPR Art. 7(3)).
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Unknown consent purpose."))
    purpose, granted = form.cleaned_data["purpose"], form.cleaned_data["granted"]
    # A source's consent is given by connecting it, and withdrawn here (which disconnects it at once).
    if purpose not in ConsentPurpose.values and (granted or consent_purpose_family(purpose) is None):
        return HttpResponseBadRequest(_("Unknown consent purpose."))
    services.consent_set(user=request.user, purpose=purpose, granted=granted)
    messages.success(request, _("Your consent was recorded.") if granted else _("Your consent was withdrawn."))
    return redirect("accounts:consents")


@login_required
def access_log(request):
    form = AccessLogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_events_for_user(
        user=request.user,
        actor_kind=filters.get("who") or "",
        action_group=filters.get("what") or "",
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"page": page, "form": form, "query": query.urlencode()}
    return render(request, "accounts/access_log.html", context)
