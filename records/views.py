"""Records pages: thin views over selectors and services (consent-gated by namespace)."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from integrations.exceptions import IntegrationError
from integrations.providers.base import provider_get
from integrations.services import upload_store

from . import selectors, services
from .charts import line_chart
from .dashboards import DEFAULT_PERIOD, PERIODS, metric_charts_for_user
from .exceptions import RecordError
from .fhir.exporter import fhir_export_bundle
from .forms import DocumentUploadForm, FhirUploadForm, record_form_class
from .models import Document

# The upload provider that brings FHIR files in (integrations/providers/fhir_file).
FHIR_FILE = "fhir-file"


def _private_file(content: bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    safe_name = "".join(char for char in filename if char.isalnum() or char in "._- ") or "download"
    response["Content-Disposition"] = f'attachment; filename="{safe_name}"'
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _shown_fields(record) -> list[tuple[str, object]]:
    shown = []
    for name in record.source_fields:
        if name == "effective_at":
            continue  # the page shows the date at the top
        field = record._meta.get_field(name)
        value = getattr(record, name)
        if value in (None, "", [], {}):
            continue
        if field.choices:
            value = getattr(record, f"get_{name}_display")()
        shown.append((field.verbose_name, value))
    return shown


@login_required
def dashboard(request):
    period = request.GET.get("period", DEFAULT_PERIOD)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    context = {
        "period": period,
        "periods": [(key, label) for key, (_days, label) in PERIODS.items()],
        "charts": metric_charts_for_user(user=request.user, period=period),
        "counts": selectors.record_counts_for_user(user=request.user),
        "medications": selectors.medications_current_for_user(user=request.user)[:10],
        "allergies": selectors.allergies_for_user(user=request.user)[:10],
        "out_of_range": selectors.lab_results_out_of_range_for_user(user=request.user),
        "vitals": selectors.vitals_latest_for_user(user=request.user),
    }
    return render(request, "records/dashboard.html", context)


@login_required
def index(request):
    return render(request, "records/index.html", {"counts": selectors.record_counts_for_user(user=request.user)})


TIMELINE_PAGE = 100


@login_required
def timeline(request):
    try:
        before = parse_datetime(request.GET.get("before", ""))
    except ValueError:  # well formed but impossible, such as month 13
        before = None
    if before is not None and timezone.is_naive(before):
        before = timezone.make_aware(before)
    records = selectors.timeline_for_user(user=request.user, limit=TIMELINE_PAGE, before=before)
    older = records[-1].effective_at.isoformat() if len(records) == TIMELINE_PAGE else ""
    return render(request, "records/timeline.html", {"records": records, "older": older})


@login_required
def record_list(request, kind):
    model = selectors.record_model_for_kind(kind)
    records = selectors.record_list_for_user(user=request.user, kind=kind)[:500]
    context = {"kind": kind, "records": records, "title": model._meta.verbose_name_plural}
    return render(request, "records/list.html", context)


@login_required
def record_detail(request, kind, public_id):
    record = selectors.record_get_for_user(user=request.user, kind=kind, public_id=public_id)
    context = {"kind": kind, "record": record, "fields": _shown_fields(record)}
    return render(request, "records/detail.html", context)


@login_required
def record_create(request, kind):
    if kind == "documents":
        return redirect("records:document_upload")
    if kind == "symptoms":
        return redirect("records:symptom_journal")
    model = selectors.record_model_for_kind(kind)
    form = record_form_class(model, manual=True)(request.POST or None)
    if request.method == "POST" and form.is_valid():
        record = services.record_create(user=request.user, record=form.save(commit=False))
        messages.success(request, _("Saved."))
        return redirect("records:detail", kind=kind, public_id=record.public_id)
    return render(request, "records/form.html", {"form": form, "kind": kind, "title": model._meta.verbose_name})


@login_required
def record_edit(request, kind, public_id):
    record = selectors.record_get_for_user(user=request.user, kind=kind, public_id=public_id)
    form_class = record_form_class(type(record), manual=record.is_manual)
    form = form_class(request.POST or None, instance=record)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.record_update(user=request.user, record=record, changes=changes)
        except RecordError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Saved."))
            return redirect("records:detail", kind=kind, public_id=record.public_id)
    context = {"form": form, "kind": kind, "record": record, "title": record._meta.verbose_name}
    return render(request, "records/form.html", context)


@require_POST
@login_required
def record_delete(request, kind, public_id):
    record = selectors.record_get_for_user(user=request.user, kind=kind, public_id=public_id)
    try:
        services.record_delete(user=request.user, record=record)
    except RecordError as error:
        messages.error(request, str(error))
        return redirect("records:detail", kind=kind, public_id=public_id)
    messages.success(request, _("Deleted."))
    return redirect("records:list", kind=kind)


@login_required
def document_upload(request):
    form = DocumentUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        day = form.cleaned_data["effective_at"]
        effective_at = timezone.make_aware(timezone.datetime(day.year, day.month, day.day)) if day else None
        try:
            document = services.document_upload(
                user=request.user,
                uploaded_file=form.cleaned_data["file"],
                title=form.cleaned_data["title"],
                effective_at=effective_at,
            )
        except RecordError as error:
            form.add_error("file", str(error))
        else:
            messages.success(request, _("Document added."))
            return redirect("records:detail", kind="documents", public_id=document.public_id)
    return render(request, "records/document_form.html", {"form": form})


@login_required
def document_download(request, public_id):
    document: Document = selectors.record_get_for_user(user=request.user, kind="documents", public_id=public_id)
    content = services.document_read(user=request.user, document=document)
    return _private_file(content, content_type=document.content_type, filename=document.filename)


@login_required
def lab_tests(request):
    return render(request, "records/lab_tests.html", {"tests": selectors.lab_tests_for_user(user=request.user)})


@login_required
def lab_test(request, test_key):
    test = selectors.lab_test_history_for_user(user=request.user, test_key=test_key)
    chart = line_chart(
        [(point.record.effective_at.date(), point.value) for point in test.points if point.value is not None],
        title=test.name,
        unit=test.unit,
        reference_low=test.reference_low,
        reference_high=test.reference_high,
    )
    return render(request, "records/lab_test.html", {"test": test, "chart": chart})


@login_required
def fhir_upload(request):
    # The file goes the way of every upload: encrypted into storage, imported by the worker,
    # followed on the run's page.
    form = FhirUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = upload_store(
                user=request.user, provider=provider_get(FHIR_FILE), uploaded_file=form.cleaned_data["file"]
            )
        except IntegrationError as error:
            form.add_error("file", str(error))
        else:
            return redirect("integrations:run", public_id=run.public_id)
    return render(request, "records/fhir_upload.html", {"form": form})


@login_required
def fhir_download(request):
    bundle = fhir_export_bundle(owner=request.user)
    content = json.dumps(bundle, indent=2, ensure_ascii=False, default=str).encode("utf-8")
    return _private_file(content, content_type="application/fhir+json", filename="healthspace-record.json")
