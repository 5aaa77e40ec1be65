"""The patient's pages: symptom journal, visit preparation, printing, sharing and the after-visit form.

Consent-gated with the rest of the `records` namespace. The clinician's side is in share_views.py.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import packet, symptoms, visits
from .exceptions import RecordError
from .fhir.ips import ips_bundle
from .visit_forms import AfterVisitForm, PacketForm, QuickSymptomForm, ShareForm, SymptomForm, VisitForm

JOURNAL_PAGE = 100


def chosen_language(request, default: str) -> str:
    """The language asked for with ?lang=, if HealthSpace has it, else the default."""
    language = request.GET.get("lang", "")
    return language if language in dict(settings.LANGUAGES) else default


def fhir_document_response(snapshot: dict, *, language: str, filename: str) -> HttpResponse:
    """A snapshot as an IPS-style FHIR document, downloaded and never cached."""
    with translation.override(language):
        bundle = ips_bundle(snapshot)
    response = HttpResponse(json.dumps(bundle, indent=2, ensure_ascii=False), content_type="application/fhir+json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def symptom_journal(request):
    initial = {"onset": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}
    quick = QuickSymptomForm(request.GET or None)
    proposed = False
    if quick.is_valid():
        languages = [translation.get_language(), *(code for code, _name in settings.LANGUAGES)]
        parsed = symptoms.symptom_parse_any(quick.cleaned_data["line"], languages)
        if parsed is None:
            messages.warning(request, _("This could not be read as a symptom; fill in the form instead."))
        else:
            proposed = True
            initial = {
                "what": parsed["what"],
                "severity": parsed["severity"],
                "onset": timezone.localtime(parsed["onset"]).strftime("%Y-%m-%dT%H:%M"),
                "duration": symptoms.duration_text(round(parsed["duration"].total_seconds() / 60))
                if "duration" in parsed
                else "",
            }
    form = SymptomForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        symptoms.symptom_create(owner=request.user, **form.cleaned_data)
        messages.success(request, _("Added to your symptom journal."))
        return redirect("records:symptom_journal")
    entries = [
        (entry, symptoms.duration_text(entry.duration_minutes))
        for entry in symptoms.symptoms_for_user(user=request.user)[:JOURNAL_PAGE]
    ]
    context = {"form": form, "quick": quick, "entries": entries, "proposed": proposed}
    return render(request, "records/symptom_journal.html", context)


@login_required
def visit_list(request):
    context = {
        "visits": visits.visit_list_for_user(user=request.user),
        "follow_ups": visits.follow_ups_for_user(user=request.user),
    }
    return render(request, "records/visits/list.html", context)


@login_required
def visit_create(request):
    form = VisitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        visit = visits.visit_create(user=request.user, **form.cleaned_data)
        messages.success(
            request, _("Your visit summary is ready. Check it and change what you like before sharing it.")
        )
        return redirect("records:visit_detail", public_id=visit.public_id)
    return render(request, "records/visits/form.html", {"form": form})


@login_required
def visit_detail(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    now = timezone.now()
    links = [(link, link.is_open(now)) for link in visits.share_links_for_visit(user=request.user, visit=visit)]
    context = {
        "visit": visit,
        "summary": packet.summary_view(packet.visit_snapshot(visit=visit)),
        "share_form": ShareForm(language=packet.patient_language(request.user)),
        "links": links,
        "follow_ups": list(enumerate(visit.follow_ups or [])),
    }
    return render(request, "records/visits/detail.html", context)


@login_required
def visit_edit(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    initial = {"appointment_at": timezone.localtime(visit.appointment_at), "clinician": visit.clinician}
    visit_form = VisitForm(request.POST or None, initial={**initial, "reason": visit.reason}, prefix="visit")
    packet_form = PacketForm(request.POST or None, packet=visit.packet)
    if request.method == "POST" and visit_form.is_valid() and packet_form.is_valid():
        try:
            visit = visits.visit_packet_update(
                user=request.user,
                visit=visit,
                revision=packet_form.cleaned_data["revision"],
                edits=packet_form.edits(),
            )
            visits.visit_update(user=request.user, visit=visit, **visit_form.cleaned_data)
        except RecordError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Saved."))
            return redirect("records:visit_detail", public_id=visit.public_id)
    context = {"visit": visit, "visit_form": visit_form, "packet_form": packet_form}
    return render(request, "records/visits/edit.html", context)


@require_POST
@login_required
def visit_refresh(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    visits.visit_packet_refresh(user=request.user, visit=visit)
    messages.success(request, _("The summary was updated from your records; your changes were kept."))
    return redirect("records:visit_detail", public_id=public_id)


@login_required
def visit_print(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    language = chosen_language(request, packet.patient_language(request.user))
    with translation.override(language):
        context = {
            "visit": visit,
            "summary": packet.summary_view(packet.visit_snapshot(visit=visit)),
            "language": language,
            "languages": settings.LANGUAGES,
        }
        response = render(request, "records/visits/print.html", context)
    response["Content-Language"] = language
    return response


@login_required
def visit_fhir(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    language = chosen_language(request, packet.patient_language(request.user))
    snapshot = packet.visit_snapshot(visit=visit)
    return fhir_document_response(snapshot, language=language, filename="healthspace-visit-summary.json")


@require_POST
@login_required
def visit_share(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    form = ShareForm(request.POST, language=packet.patient_language(request.user))
    if not form.is_valid():
        messages.error(request, _("The link could not be made; check the choices and try again."))
        return redirect("records:visit_detail", public_id=public_id)
    link, token, code = visits.share_link_create(user=request.user, visit=visit, **form.cleaned_data)
    # The token and the code exist only in this response: nothing stores them in clear.
    context = {
        "visit": visit,
        "link": link,
        "url": request.build_absolute_uri(reverse("shared:view", args=[token])),
        "code": code,
    }
    response = render(request, "records/visits/share_created.html", context)
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_POST
@login_required
def share_link_revoke(request, public_id):
    link = visits.share_link_get_for_user(user=request.user, public_id=public_id)
    visits.share_link_revoke(user=request.user, link=link)
    messages.success(request, _("The link is closed: it no longer opens."))
    return redirect("records:visit_detail", public_id=link.visit.public_id)


@login_required
def visit_after(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    form = AfterVisitForm(request.POST or None, initial=AfterVisitForm.initial_from(visit))
    if request.method == "POST" and form.is_valid():
        visits.visit_after_record(user=request.user, visit=visit, **form.lines())
        messages.success(request, _("Saved. What was decided is now in your records."))
        return redirect("records:visit_detail", public_id=public_id)
    return render(request, "records/visits/after.html", {"visit": visit, "form": form})


@require_POST
@login_required
def visit_follow_up(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    try:
        index = int(request.POST.get("index", ""))
    except ValueError:
        index = -1
    visits.follow_up_set_done(user=request.user, visit=visit, index=index, done=request.POST.get("done") == "1")
    if request.POST.get("back") == "list":
        return redirect("records:visit_list")
    return redirect("records:visit_detail", public_id=public_id)


@require_POST
@login_required
def visit_delete(request, public_id):
    visit = visits.visit_get_for_user(user=request.user, public_id=public_id)
    visits.visit_delete(user=request.user, visit=visit)
    messages.success(request, _("Deleted."))
    return redirect("records:visit_list")
