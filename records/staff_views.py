"""Break-glass reading of one patient's records in the staff console (accounts/break_glass.py grants it).

The records come through `records.selectors` with the patient as the user, read only; every page view
is checked against the grant and audited for the patient's access log.
"""

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts import break_glass

from . import selectors
from .views import _shown_fields

PAGE_SIZE = 50


def break_glass_records(request, grant):
    """The patient's records by kind (counts), or one kind's records with their fields, while the grant runs."""
    grant = break_glass.break_glass_get_for_staff(staff=request.user, public_id=grant)
    kind = request.GET.get("kind", "")
    model = selectors.record_model_for_kind(kind) if kind else None  # an unknown kind is a 404
    if not break_glass.break_glass_check(grant=grant, what=kind or "overview"):
        messages.error(request, _("Your access to this patient's records has ended."))
        return redirect(reverse("admin:accounts_user_change", args=[grant.patient.pk]))
    context = {
        **admin.site.each_context(request),
        "title": _("Break-glass access to a patient's records"),
        "grant": grant,
        "patient": grant.patient,
        "kind": kind,
    }
    if model is None:
        context["counts"] = selectors.record_counts_for_user(user=grant.patient)
    else:
        rows = selectors.record_list_for_user(user=grant.patient, kind=kind)
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        context.update(
            {
                "label": model._meta.verbose_name_plural,
                "page": page,
                "records": [{"record": record, "fields": _shown_fields(record)} for record in page],
            }
        )
    return TemplateResponse(request, "admin/records/break_glass.html", context)
