"""Dashboard and records pages (filled by the records work; consent-gated by namespace)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def dashboard(request):
    return render(request, "records/dashboard.html")


@login_required
def index(request):
    return render(request, "records/index.html")
