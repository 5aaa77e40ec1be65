"""Sessions: idle timeout, signing out the other sessions, re-authentication, the profile."""

import datetime
import time

from django.test import Client
from django.urls import reverse

from accounts.middleware import IDLE_SESSION_KEY
from accounts.tests.factories import PASSWORD


def _login(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_an_idle_session_is_signed_out(client, patient, settings):
    _login(client, patient)
    assert client.get(reverse("records:dashboard")).status_code == 200
    session = client.session
    session[IDLE_SESSION_KEY] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT - 5
    session.save()
    response = client.get(reverse("records:dashboard"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))
    assert "signed out after a period of inactivity" in response.content.decode()
    assert not response.context["user"].is_authenticated


def test_an_active_session_stays_signed_in(client, patient, settings):
    _login(client, patient)
    session = client.session
    session[IDLE_SESSION_KEY] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT + 60
    session.save()
    assert client.get(reverse("records:dashboard")).status_code == 200


def test_signing_out_the_other_sessions(patient):
    here, elsewhere = Client(), Client()
    _login(here, patient)
    _login(elsewhere, patient)
    assert elsewhere.get(reverse("records:dashboard")).status_code == 200
    response = here.post(reverse("usersessions_list"))
    assert response.status_code == 302
    assert here.get(reverse("records:dashboard")).status_code == 200
    assert elsewhere.get(reverse("records:dashboard")).status_code == 302


def test_saving_the_profile_asks_for_the_password_again(client, patient):
    _login(client, patient)
    url = reverse("accounts:profile")
    assert client.get(url).status_code == 200  # looking is fine
    form = {"display_name": "Alex", "country": "BE", "preferred_language": "fr", "date_of_birth": "1980-02-03"}
    response = client.post(url, form)
    assert reverse("account_reauthenticate") in response.url
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    response = client.post(url, form)
    assert response.url == reverse("accounts:account")
    patient.profile.refresh_from_db()
    assert patient.profile.date_of_birth == datetime.date(1980, 2, 3)
    assert patient.profile.country == "BE"
    # The preferred language becomes the page language.
    assert response.cookies["django_language"].value == "fr"


def test_the_profile_uses_the_patients_language(client, patient):
    patient.profile.preferred_language = "fr"
    patient.profile.save()
    client.force_login(patient)
    page = client.get(reverse("accounts:account"))
    assert page.context["LANGUAGE_CODE"] == "fr"
