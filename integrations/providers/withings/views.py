"""Pages of the Withings connection: start the sign-in, come back from it, sync now."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from integrations import selectors as integration_selectors
from integrations.exceptions import IntegrationError, ProviderError

from . import flow
from .provider import PROVIDER


def _callback_uri(request) -> str:
    return request.build_absolute_uri(reverse("withings:callback"))


@require_POST
@login_required
def connect(request):
    try:
        url, _state = flow.authorization_start(user=request.user, redirect_uri=_callback_uri(request))
    except (IntegrationError, ProviderError) as error:
        messages.error(request, str(error))
        return redirect("integrations:index")
    return redirect(url)


@login_required
def callback(request):
    state, code, error = (request.GET.get(name, "") for name in ("state", "code", "error"))
    if error or not code:
        flow.authorization_abandon(user=request.user, state=state)
        if error == "access_denied":
            messages.error(
                request, _("You did not allow HealthSpace to read your Withings data: nothing was connected.")
            )
        else:
            messages.error(request, _("Withings did not complete the sign-in: nothing was connected."))
        return redirect("integrations:index")
    try:
        connection = flow.authorization_complete(
            user=request.user, state=state, code=code, redirect_uri=_callback_uri(request)
        )
    except (IntegrationError, ProviderError) as failure:
        messages.error(request, str(failure))
        return redirect("integrations:index")
    run = flow.sync_queue(connection=connection)
    return redirect("integrations:run", public_id=run.public_id)


@require_POST
@login_required
def sync(request, public_id):
    connection = integration_selectors.connection_get_for_user(user=request.user, public_id=public_id)
    if connection.provider != PROVIDER.slug:
        raise Http404("Not a Withings connection")
    run = flow.sync_queue(connection=connection)
    return redirect("integrations:run", public_id=run.public_id)
