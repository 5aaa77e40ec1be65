"""The insurance pages: plans, what each visit cost, and plan comparisons (consent-gated with `records`)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import insurance, services
from .exceptions import RecordError
from .forms import record_form_class
from .insurance_forms import AMOUNT_FIELDS, PlanForm, PlanTermsFormSet, ScenarioForm
from .models import Coverage

COMPARE_ROWS = 3


def _bars(progress: insurance.PlanProgress) -> list[tuple[str, insurance.Chart, str]]:
    """(label, bar, what is left) for the deductible and the out-of-pocket maximum the plan has."""
    limits = [
        (_("Deductible"), _("Deductible met"), progress.deductible, progress.deductible_met, progress.deductible_left),
        (
            _("Out-of-pocket maximum"),
            _("Out-of-pocket spent"),
            progress.out_of_pocket_max,
            progress.out_of_pocket_spent,
            progress.out_of_pocket_left,
        ),
    ]
    return [
        (
            label,
            insurance.progress_bar(title=title, spent=spent, limit=limit, currency=progress.currency),
            _("%(amount)s left") % {"amount": insurance.money(left, progress.currency)},
        )
        for label, title, limit, spent, left in limits
        if limit is not None
    ]


@login_required
def insurance_index(request):
    today = timezone.localdate()
    rows = insurance.costs_for_user(user=request.user)
    plans = [
        (progress, _bars(progress)) for progress in insurance.plans_progress_for_user(user=request.user, today=today)
    ]
    context = {
        "plans": plans,
        "years": insurance.totals_per_year(rows),
        "insurers": sorted({row.record.insurer for row in rows if row.record.insurer}),
    }
    return render(request, "records/insurance/index.html", context)


@login_required
def plan_detail(request, public_id):
    plan = insurance.plan_get_for_user(user=request.user, public_id=public_id)
    progress = insurance.plan_progress(user=request.user, plan=plan, today=timezone.localdate())
    context = {"plan": plan, "progress": progress, "bars": _bars(progress)}
    return render(request, "records/insurance/plan.html", context)


@login_required
def plan_create(request):
    initial = {"insurer": request.GET.get("insurer", "")[:200]}
    form = PlanForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        plan = services.record_create(user=request.user, record=form.save(commit=False))
        messages.success(request, _("Saved."))
        return redirect("records:insurance_plan", public_id=plan.public_id)
    return render(request, "records/insurance/plan_form.html", {"form": form, "plan": None})


@login_required
def plan_edit(request, public_id):
    plan = insurance.plan_get_for_user(user=request.user, public_id=public_id)
    # An imported plan stays as the source sent it: the patient adds a note or disputes it.
    form_class = PlanForm if plan.is_manual else record_form_class(Coverage, manual=False)
    form = form_class(request.POST or None, instance=plan)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.record_update(user=request.user, record=plan, changes=changes)
        except RecordError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Saved."))
            return redirect("records:insurance_plan", public_id=plan.public_id)
    return render(request, "records/insurance/plan_form.html", {"form": form, "plan": plan})


@login_required
@require_POST
def plan_delete(request, public_id):
    plan = insurance.plan_get_for_user(user=request.user, public_id=public_id)
    try:
        services.record_delete(user=request.user, record=plan)
    except RecordError as error:
        messages.error(request, str(error))
        return redirect("records:insurance_plan", public_id=plan.public_id)
    messages.success(request, _("Deleted."))
    return redirect("records:insurance")


@login_required
def cost_list(request):
    rows = insurance.costs_for_user(user=request.user)
    return render(request, "records/insurance/costs.html", {"years": insurance.totals_per_year(rows)})


@login_required
def cost_detail(request, public_id):
    row = insurance.cost_get_for_user(user=request.user, public_id=public_id)
    return render(request, "records/insurance/cost.html", {"row": row})


@login_required
def cost_edit(request, public_id):
    row = insurance.cost_get_for_user(user=request.user, public_id=public_id)
    form = record_form_class(type(row.record), manual=False)(request.POST or None, instance=row.record)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        services.record_update(user=request.user, record=row.record, changes=changes)
        messages.success(request, _("Saved."))
        return redirect("records:insurance_cost", public_id=row.record.public_id)
    return render(request, "records/insurance/cost_edit.html", {"form": form, "row": row})


def _saved_terms(user) -> tuple[list[dict], str]:
    """The patient's own plans that have the numbers a comparison needs, as rows to start from, and the
    currency the first of them is in ("" without one)."""
    rows, currency = [], ""
    for plan in insurance.plans_for_user(user=user):
        amounts = {name: insurance.amount(getattr(plan, name)) for name in AMOUNT_FIELDS}
        if amounts["deductible"] is None and amounts["premium_monthly"] is None:
            continue
        rows.append({"name": str(plan)[:100], **amounts})
        currency = currency or plan.currency
    return rows, currency


@login_required
def plan_compare(request):
    today = timezone.localdate()
    comparison = None
    if request.method == "POST":
        formset = PlanTermsFormSet(request.POST, form_kwargs={"empty_permitted": True})
        scenarios = ScenarioForm(request.POST)
        currency = scenarios.data.get("currency", "") if scenarios.is_valid() else ""
        past = insurance.past_year_care_for_user(user=request.user, today=today, currency=currency)
        if formset.is_valid() and scenarios.is_valid():
            comparison = insurance.plans_compare(
                plans=[form.terms() for form in formset.filled()],
                scenarios=[
                    insurance.Scenario("past", past.care),
                    insurance.Scenario("low", scenarios.cleaned_data["low_use"]),
                    insurance.Scenario("high", scenarios.cleaned_data["high_use"]),
                ],
            )
    else:
        saved, currency = _saved_terms(request.user)
        past = insurance.past_year_care_for_user(user=request.user, today=today, currency=currency)
        formset = PlanTermsFormSet(initial=saved + [{}] * max(COMPARE_ROWS - len(saved), 1))
        scenarios = ScenarioForm(initial={"currency": past.currency})
    context = {"formset": formset, "scenarios": scenarios, "past": past, "comparison": comparison}
    return render(request, "records/insurance/compare.html", context)
