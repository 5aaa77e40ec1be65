"""The SMART on FHIR page of its own: choose a server (connect, callback and sync are integrations.oauth's)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.rollout import feature_required

from . import selectors
from .provider import PROVIDER


@login_required
@feature_required(PROVIDER.feature)
def servers(request):
    context = {"provider": PROVIDER, "servers": selectors.fhir_servers_for_user(user=request.user)}
    return render(request, "integrations/smart_fhir/servers.html", context)
