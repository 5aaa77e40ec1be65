"""The care-habits pages: vaccinations, preventive topics, the medication routine and habits over time.

Included in the `records` namespace (consent-gated). Every page phrases what it shows as something to
discuss with a clinician; none of it is a diagnosis or an order.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import habits, preventive, routine, vaccinations
from .care_forms import DoseLogForm, HabitsPeriodForm, PreventiveCheckForm


def _country(request) -> str | None:
    """A schedule's country asked for with ?country= (to look at another one), else None (the profile's)."""
    country = request.GET.get("country", "").upper()
    return country if country in vaccinations.schedule_countries() else None


def _submit(request, form, save, *, done: str, invalid: str) -> None:
    """Save a valid form with `save(cleaned_data)`; a message says it was done, or what was wrong."""
    if not form.is_valid():
        messages.error(request, invalid)
        return
    try:
        save(form.cleaned_data)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)


@login_required
def care(request):
    context = {
        "vaccinations": vaccinations.vaccination_overview_for_user(user=request.user),
        "preventive": preventive.preventive_overview_for_user(user=request.user),
        "routines": routine.routine_for_user(user=request.user),
    }
    return render(request, "records/care/index.html", context)


@login_required
def care_vaccinations(request):
    overview = vaccinations.vaccination_overview_for_user(user=request.user, country=_country(request))
    context = {
        "overview": overview,
        "due": overview.with_status(vaccinations.OVERDUE, vaccinations.DUE),
        "up_to_date": overview.with_status(vaccinations.UP_TO_DATE),
        "later": overview.with_status(vaccinations.LATER),
    }
    return render(request, "records/care/vaccinations.html", context)


@login_required
def care_preventive(request):
    overview = preventive.preventive_overview_for_user(user=request.user, country=_country(request))
    context = {"overview": overview, "form": PreventiveCheckForm()}
    return render(request, "records/care/preventive.html", context)


@login_required
@require_POST
def care_preventive_done(request, topic):
    _submit(
        request,
        PreventiveCheckForm(request.POST),
        lambda data: preventive.preventive_check_create(user=request.user, topic_key=topic, **data),
        done=_("Marked as done."),
        invalid=_("Give the date it was done (not in the future)."),
    )
    return redirect(reverse("records:care_preventive") + f"#topic-{topic}")


@login_required
@require_POST
def care_check_delete(request, public_id):
    check = preventive.preventive_check_get_for_user(user=request.user, public_id=public_id)
    preventive.preventive_check_delete(user=request.user, check=check)
    messages.success(request, _("Removed."))
    return redirect(reverse("records:care_preventive") + f"#topic-{check.topic_key}")


def _dose_form(medication, data=None) -> DoseLogForm:
    # One form per medication on the page: a prefix keeps their fields' ids apart.
    return DoseLogForm(data, prefix=f"dose-{medication.public_id.hex[:8]}")


@login_required
def care_routine(request):
    routines = routine.routine_for_user(user=request.user)
    for item in routines:
        item.form = _dose_form(item.medication)
    context = {"routines": routines, "logs": routine.dose_logs_for_user(user=request.user, limit=50)}
    return render(request, "records/care/routine.html", context)


@login_required
@require_POST
def care_dose_log(request, public_id):
    medication = routine.medication_current_get_for_user(user=request.user, public_id=public_id)
    _submit(
        request,
        _dose_form(medication, request.POST),
        lambda data: routine.dose_log_create(user=request.user, medication=medication, **data),
        done=_("Dose logged."),
        invalid=_("Say whether the dose was taken or skipped, and when."),
    )
    return redirect(reverse("records:care_routine") + f"#medication-{medication.public_id}")


@login_required
@require_POST
def care_dose_delete(request, public_id):
    log = routine.dose_log_get_for_user(user=request.user, public_id=public_id)
    routine.dose_log_delete(user=request.user, log=log)
    messages.success(request, _("Removed."))
    return redirect("records:care_routine")


@login_required
def care_habits(request):
    # Always bound, so the form shows the period and threshold the page uses.
    defaults = {"weeks": habits.DEFAULT_WEEKS, "steps": habits.DEFAULT_STEP_THRESHOLD}
    form = HabitsPeriodForm({**defaults, **request.GET.dict()})
    if not form.is_valid():
        form = HabitsPeriodForm(defaults)  # an unknown period or threshold: the defaults, shown as such
    weeks, threshold = form.period()
    context = {"form": form, "habits": habits.habits_for_user(user=request.user, weeks=weeks, threshold=threshold)}
    return render(request, "records/care/habits.html", context)
