"""The privacy centre's pages: the data inventory, exports, restriction and erasure (GDPR Art. 15 to 20)."""

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import privacy, restriction, selectors
from .erasure import ErasureError, erasure_request
from .export import ExportError, export_chunks, export_request
from .forms import ErasureForm


@login_required
def inventory(request):
    return render(
        request, "accounts/privacy/inventory.html", {"categories": privacy.inventory_for_user(user=request.user)}
    )


@login_required
def exports(request):
    context = {"exports": selectors.data_exports_for_user(user=request.user)[:10], "now": timezone.now()}
    return render(request, "accounts/privacy/exports.html", context)


@require_POST
@login_required
@reauthentication_required
def export_ask(request):
    export = export_request(user=request.user)
    return redirect("accounts:export_detail", public_id=export.public_id)


@login_required
def export_detail(request, public_id):
    export = selectors.data_export_get_for_user(user=request.user, public_id=public_id)
    return render(request, "accounts/privacy/export_detail.html", {"export": export})


@login_required
def export_status(request, public_id):
    # Polled by the page's script (static/js/run_progress.js): state and progress, nothing else.
    export = selectors.data_export_get_for_user(user=request.user, public_id=public_id)
    return JsonResponse(
        {
            "state": export.status,
            "state_label": capfirst(export.get_status_display()),
            "finished": export.is_finished,
            "percent": export.percent,
        }
    )


@login_required
def export_download(request, public_id):
    export = selectors.data_export_get_for_user(user=request.user, public_id=public_id)
    try:
        chunks = export_chunks(user=request.user, export=export)
    except ExportError:
        raise Http404("This copy is no longer available") from None
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Length"] = str(export.size)
    filename = f"healthspace-export-{timezone.localdate(export.finished_at):%Y-%m-%d}.zip"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def restriction_page(request):
    context = {"restricted_at": getattr(getattr(request.user, "profile", None), "processing_restricted_at", None)}
    return render(request, "accounts/privacy/restriction.html", context)


@require_POST
@login_required
def restriction_change(request):
    # Like withdrawing a consent: no password asked, it only stops things.
    restricted = request.POST.get("restrict") == "on"
    restriction.processing_restriction_set(user=request.user, restricted=restricted)
    if restricted:
        messages.success(request, _("Processing of your data is restricted: it is kept, and nothing is done with it."))
    else:
        messages.success(request, _("The restriction is lifted: HealthSpace processes your data again."))
    return redirect("accounts:restriction")


@login_required
@reauthentication_required
def erasure(request):
    # The password is asked again for the page itself; the typed address confirms what is meant.
    form = ErasureForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            erasure_request(user=request.user)
        except ErasureError as error:
            messages.error(request, str(error))
            return redirect("accounts:erasure")
        logout(request)
        return redirect("accounts:erasure_done")
    return render(request, "accounts/privacy/erasure.html", {"form": form})


def erasure_done(request):
    return render(request, "accounts/privacy/erasure_done.html")
