"""The clinician's side of a share link: no account, read-only, time-boxed, audited, rate limited.

Outside the consent-gated `records` namespace and open to anonymous visitors: the token is the
credential. An unknown, expired or revoked token gets the same plain 404 (the same bytes), and
each failed lookup counts against the visitor's address. A wrong access code shows the code
form again and nothing else. Every response that carries the summary is counted and audited.

The pages send `Referrer-Policy: same-origin`: the address, and so the token, never leaves for
another site in a Referer header, while the page's own forms keep their Origin and Django's CSRF
check (with `no-referrer`, browsers post with `Origin: null`, which that check refuses).
"""

from allauth.core.internal import ratelimit
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import packet, visits
from .visit_forms import AccessCodeForm, ClinicianNoteForm
from .visit_views import chosen_language, fhir_document_response

# Failed lookups per address; wrong codes and notes per link and per address (allauth's syntax).
RATE_LIMITS = {
    "share_link_lookup": "20/m/ip,200/h/ip",
    "share_link_code": "10/15m/key,30/h/ip",
    "share_link_note": "10/h/key,30/h/ip",
}
UNLOCKED_SESSION_KEY = "shared_links_unlocked"


def _allowed(request, action: str, *, key: str | None = None, count: bool) -> bool:
    """Whether the visitor is under the limit for an action; `count` records one more attempt."""
    usage = ratelimit.consume(
        request,
        app="records.share",
        action=action,
        config=RATE_LIMITS,
        key=key,
        limit_get=True,
        dry_run=not count,
    )
    return usage is not None


def _private(response):
    """Never cached, never indexed, and no address of this page sent on to another site."""
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0, private"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow, noarchive"
    return response


def _not_found(request):
    # A fixed page: no token, no form, no language switch, so every refusal is byte for byte the same.
    return _private(render(request, "shared/not_found.html", status=404))


def _too_many(request):
    return _private(render(request, "shared/too_many.html", status=429))


def _render(request, link, template: str, context: dict, *, status: int = 200):
    language = chosen_language(request, link.language)
    with translation.override(language):
        response = render(request, template, {"link": link, "language": language, **context}, status=status)
    response["Content-Language"] = language
    return _private(response)


def _open_link(request, token: str):
    """(link, refusal): the open link a token names, or the response to send instead."""
    if not _allowed(request, "share_link_lookup", count=False):
        return None, _too_many(request)
    link = visits.share_link_open(token=token)
    if link is None:
        _allowed(request, "share_link_lookup", count=True)
        return None, _not_found(request)
    return link, None


def _unlocked(request, link) -> bool:
    return not link.has_code or str(link.public_id) in request.session.get(UNLOCKED_SESSION_KEY, [])


def _summary_page(request, link, token: str, note_form=None, *, status: int = 200):
    visits.share_link_viewed(link=link)
    language = chosen_language(request, link.language)
    with translation.override(language):
        summary = packet.summary_view(link.snapshot)
    context = {"summary": summary, "token": token, "note_form": note_form or ClinicianNoteForm()}
    return _render(request, link, "shared/view.html", context, status=status)


@require_http_methods(["GET", "POST"])
def shared_view(request, token):
    link, refusal = _open_link(request, token)
    if refusal is not None:
        return refusal
    if _unlocked(request, link):
        if request.method == "POST":
            return redirect("shared:view", token=token)
        return _summary_page(request, link, token)
    form = AccessCodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        key = str(link.pk)
        if not _allowed(request, "share_link_code", key=key, count=False):
            form.add_error(None, _("Too many wrong codes. Wait a few minutes, then try again."))
            status = 429
        elif form.is_valid() and visits.share_link_code_matches(link=link, code=form.cleaned_data["code"]):
            unlocked = request.session.get(UNLOCKED_SESSION_KEY, [])
            request.session[UNLOCKED_SESSION_KEY] = [*unlocked, str(link.public_id)][-20:]
            return redirect("shared:view", token=token)
        else:
            _allowed(request, "share_link_code", key=key, count=True)
            form.add_error("code", _("This code does not open the summary. Check it with the patient."))
    return _render(request, link, "shared/code.html", {"form": form, "token": token}, status=status)


@require_POST
def shared_note(request, token):
    link, refusal = _open_link(request, token)
    if refusal is not None:
        return refusal
    if not _unlocked(request, link):
        return redirect("shared:view", token=token)
    form = ClinicianNoteForm(request.POST)
    if not form.is_valid():
        return _summary_page(request, link, token, note_form=form)
    if not _allowed(request, "share_link_note", key=str(link.pk), count=True):
        return _too_many(request)
    visits.share_link_note_add(link=link, **form.cleaned_data)
    return _render(request, link, "shared/note_sent.html", {"token": token})


@require_GET
def shared_fhir(request, token):
    link, refusal = _open_link(request, token)
    if refusal is not None:
        return refusal
    if not _unlocked(request, link):
        return redirect("shared:view", token=token)
    visits.share_link_viewed(link=link, action="share_link.downloaded")
    response = fhir_document_response(
        link.snapshot, language=chosen_language(request, link.language), filename="patient-summary.json"
    )
    return _private(response)
