"""The Connections page: sources, imports with live progress, run history (consent-gated)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import rollout

from . import selectors, services
from .exceptions import IntegrationError
from .forms import UploadForm, upload_options_form
from .models import Connection
from .providers.base import provider_get

# The custom header the patient configures in the app that posts to us.
TOKEN_HEADER = "X-HealthSpace-Token"  # noqa: S105 - a header name, not a secret
WEBHOOK_MAX_BYTES = getattr(settings, "WEBHOOK_MAX_BYTES", 32 * 1024 * 1024)


def _provider_of_kind(slug: str, kind: str):
    try:
        provider = provider_get(slug)
    except KeyError:
        raise Http404("Unknown source") from None
    if provider.kind != kind:
        raise Http404("This source does not work this way")
    return provider


@login_required
def index(request):
    overview = selectors.connections_overview_for_user(user=request.user)
    for row in overview:
        row["options_form"] = upload_options_form(row["provider"], user=request.user)
    return render(request, "integrations/index.html", {"overview": overview, "form": UploadForm()})


@require_POST
@login_required
def upload(request, slug):
    provider = _provider_of_kind(slug, "upload")
    if (closed := rollout.gate(request, provider.feature)) is not None:
        return closed
    form = UploadForm(request.POST, request.FILES)
    options_form = upload_options_form(provider, user=request.user, data=request.POST)
    if not form.is_valid():
        # A file chosen but refused (an empty one): the form says why; none chosen: ours says so.
        refused = form.errors.get("file") if request.FILES.get("file") is not None else None
        messages.error(request, refused[0] if refused else _("Choose a file to import."))
        return redirect("integrations:index")
    if options_form is not None and not options_form.is_valid():
        messages.error(request, _("Answer the questions under the file, then import it again."))
        return redirect("integrations:index")
    options = options_form.cleaned_data if options_form is not None else {}
    try:
        run = services.upload_store(
            user=request.user, provider=provider, uploaded_file=form.cleaned_data["file"], options=options
        )
    except IntegrationError as error:
        messages.error(request, str(error))
        return redirect("integrations:index")
    return redirect("integrations:run", public_id=run.public_id)


@login_required
def run_detail(request, public_id):
    run = selectors.sync_run_get_for_user(user=request.user, public_id=public_id)
    provider = provider_get(run.connection.provider)
    return render(request, "integrations/run.html", {"run": run, "provider": provider})


@never_cache
@login_required
def run_status(request, public_id):
    # Polled by the run page's script every second or two: counts and state, never medical content.
    run = selectors.sync_run_get_for_user(user=request.user, public_id=public_id)
    return JsonResponse(
        {
            "state": run.outcome,
            "state_label": capfirst(run.get_outcome_display()),
            "finished": run.is_finished,
            "read": run.read,
            "added": run.added,
            "already_present": run.already_present,
            "rejected": run.rejected,
            "bytes_done": run.bytes_done,
            "bytes_total": run.upload_size,
            "percent": run.percent,
            "error": run.error_message,
        }
    )


@login_required
def connection_detail(request, public_id):
    connection = selectors.connection_get_for_user(user=request.user, public_id=public_id)
    provider = provider_get(connection.provider)
    context = {
        "connection": connection,
        "provider": provider,
        "attention": provider.attention_reasons.get(connection.attention_code, "") if connection.attention_code else "",
        # Each API source's plug-in names its own "sync now" URL `<app>:sync`.
        "sync_url": f"{provider.slug.replace('-', '_')}:sync" if provider.kind == "oauth" else "",
        "runs": selectors.sync_runs_for_connection(connection=connection)[:50],
    }
    return render(request, "integrations/connection.html", context)


@require_POST
@login_required
def disconnect(request, public_id):
    connection = selectors.connection_get_for_user(user=request.user, public_id=public_id)
    services.connection_disconnect(user=request.user, connection=connection)
    messages.success(request, _("Disconnected. Nothing more will be imported from this source."))
    return redirect("integrations:connection", public_id=connection.public_id)


@require_POST
@login_required
def webhook_setup(request, slug):
    provider = _provider_of_kind(slug, "webhook")
    if (closed := rollout.gate(request, provider.feature)) is not None:
        return closed
    try:
        connection, token = services.webhook_token_issue(user=request.user, provider=provider)
    except IntegrationError as error:
        messages.error(request, str(error))
        return redirect("integrations:index")
    url = request.build_absolute_uri(reverse("integrations:webhook", args=[slug, connection.public_id]))
    context = {"provider": provider, "connection": connection, "token": token, "url": url, "header": TOKEN_HEADER}
    return render(request, "integrations/webhook_token.html", context)


@csrf_exempt
@require_POST
def webhook(request, slug, public_id):
    # Outside callers get no detail: a wrong source, connection or token are all the same 401.
    provider = _provider_of_kind(slug, "webhook")
    connection = Connection.objects.filter(public_id=public_id, provider=provider.slug).first()
    token = request.headers.get(TOKEN_HEADER, "")
    if connection is None or not services.webhook_token_matches(connection=connection, token=token):
        return HttpResponse(status=401)
    if connection.status == Connection.Status.DISCONNECTED:
        return HttpResponse(status=410)
    if request.content_type != "application/json":
        return JsonResponse({"error": "Send JSON (Content-Type: application/json)."}, status=415)
    length = int(request.headers.get("Content-Length") or 0)
    if length > WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "The body is too large."}, status=413)
    body = request.read(WEBHOOK_MAX_BYTES + 1)
    if len(body) > WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "The body is too large."}, status=413)
    try:
        run = services.webhook_receive(connection=connection, body=body)
    except IntegrationError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"status": "accepted", "run": str(run.public_id)}, status=202)


@require_POST
@login_required
def profile_hint_apply(request, public_id):
    run = selectors.sync_run_get_for_user(user=request.user, public_id=public_id)
    if services.profile_hint_apply(user=request.user, run=run):
        messages.success(request, _("Your date of birth was added to your profile."))
    return redirect("integrations:run", public_id=run.public_id)


@require_POST
@login_required
def source_data_delete(request, public_id):
    connection = selectors.connection_get_for_user(user=request.user, public_id=public_id)
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the box to confirm the deletion."))
        return redirect("integrations:connection", public_id=connection.public_id)
    try:
        services.source_data_delete(user=request.user, connection=connection)
    except IntegrationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The data from this source was deleted."))
    return redirect("integrations:connection", public_id=connection.public_id)
