"""Every URL not on the allow-list sends an anonymous visitor to the login page.

The walk covers every pattern of the URLconf, so a new URL is checked without touching this test.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import get_converters

# URL names an anonymous visitor may open (sign-in, sign-up and recovery flows, public pages).
PUBLIC = {
    "home",
    "health",
    "set_language",
    "javascript-catalog",
    "accounts:privacy_notice",
    "account_login",
    "account_signup",
    "account_confirm_login_code",
    "account_email_verification_sent",
    "account_reset_password",
    "account_confirm_password_reset_code",
    "account_password_reset_completed",
    "account_complete_password_reset",
    "account_inactive",
    "account_logout",
    "account_reauthenticate",
    "mfa_authenticate",
    "mfa_login_webauthn",
    "usersessions_list",
    # The admin's login page hands over to allauth's login; its i18n catalogue is public text.
    "admin:login",
    "admin:jsi18n",
    "admin:view_on_site",
    # Webhooks authenticate with their own secret token (401 without it), not with a session.
    "integrations:webhook",
    # A visit summary shared with a clinician: the link's secret token is the credential (404 without
    # it, records/tests/test_share_links.py).
    "shared:view",
    "shared:note",
    "shared:fhir",
    # Where a patient lands once signed out by the erasure of their account (no data on it).
    "accounts:erasure_done",
}

SAMPLE = {"int": "1", "uuid": str(uuid.uuid4()), "slug": "x", "str": "x", "path": "x"}
# Regular-expression routes (Django admin's) get a concrete path by hand.
REGEX_SAMPLES = {"admin:app_list": "accounts/", None: "anything/"}


def _walk(resolver, prefix="", namespace=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            yield from _walk(entry, prefix + str(entry.pattern), f"{namespace}{ns}:" if ns else namespace)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}" if entry.name else None, prefix + str(entry.pattern), entry


def _sample_path(name: str | None, route: str) -> str:
    """A concrete path for a route: converters filled with sample values."""
    regex = re.search(r"\^|\(\?P", route)
    if regex:
        return "/" + route[: regex.start()] + REGEX_SAMPLES[name]
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda match: _sample_value(match.group(1) or "str"), route)


def _sample_value(converter: str) -> str:
    if converter in SAMPLE:
        return SAMPLE[converter]
    # A project converter (such as records' `kind`): the first value its pattern accepts.
    return get_converters()[converter].regex.split("|")[0]


PATTERNS = [item for item in _walk(get_resolver()) if item[0] not in PUBLIC]


@pytest.mark.parametrize(("name", "route", "pattern"), PATTERNS, ids=[f"{n}:{r}" for n, r, _ in PATTERNS])
def test_anonymous_visitors_are_sent_to_login(client, db, name, route, pattern):
    path = _sample_path(name, route)
    response = client.get(path, follow=True)
    if response.status_code == 405:  # POST-only views must refuse anonymous posts the same way
        response = client.post(path, follow=True)
    login = reverse("account_login")
    assert response.redirect_chain, f"{name} {path} answered {response.status_code} to an anonymous visitor"
    final_url = response.redirect_chain[-1][0]
    assert final_url.startswith(login), f"{name} {path} ended at {final_url}, not the login page"
    assert response.status_code == 200


def test_the_allow_list_names_real_urls():
    names = {name for name, _route, _pattern in _walk(get_resolver())}
    assert PUBLIC - names == set(), "remove these stale names from PUBLIC"
