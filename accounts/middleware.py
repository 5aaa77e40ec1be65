"""Session idle timeout, the patient's language, and the health-data consent gate."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _

from .models import ConsentPurpose
from .selectors import consent_is_granted

IDLE_SESSION_KEY = "_last_activity"

# Namespaces whose pages store or show health data: no consent, no entry.
HEALTH_DATA_NAMESPACES = frozenset({"records", "chat", "integrations"})


class IdleTimeoutMiddleware:
    """Sign out a session left idle longer than SESSION_IDLE_TIMEOUT seconds."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(IDLE_SESSION_KEY)
            if last is not None and now - int(last) > settings.SESSION_IDLE_TIMEOUT:
                logout(request)
                messages.info(request, _("You were signed out after a period of inactivity."))
                return redirect_to_login(request.get_full_path())
            request.session[IDLE_SESSION_KEY] = now
        return self.get_response(request)


class UserLanguageMiddleware:
    """Use the patient's preferred language unless they picked one with the switcher."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            profile = getattr(request.user, "profile", None)
            if profile is not None and profile.preferred_language:
                translation.activate(profile.preferred_language)
                request.LANGUAGE_CODE = profile.preferred_language
        return self.get_response(request)


class HealthDataConsentMiddleware:
    """Pages that keep health data are closed to anyone without a current health-data consent."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is None or not request.user.is_authenticated:
            return None
        if not HEALTH_DATA_NAMESPACES.intersection(match.namespaces):
            return None
        if consent_is_granted(user=request.user, purpose=ConsentPurpose.HEALTH_DATA):
            return None
        messages.warning(request, _("To keep health data in HealthSpace, first give your consent to its processing."))
        return redirect("accounts:consents")
