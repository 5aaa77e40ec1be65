"""Sign-in, sign-up and recovery through allauth: no enumeration, rate limits, MFA, email login."""

import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.core import mail
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD


def _page_text(response):
    return response.content.decode()


def test_password_reset_answers_the_same_for_known_and_unknown_emails(client, patient):
    known = client.post(reverse("account_reset_password"), {"email": patient.email}, follow=True)
    unknown = client.post(reverse("account_reset_password"), {"email": "nobody@example.org"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain
    assert known.status_code == unknown.status_code == 200
    # Both get an email: the known one a code, the unknown one a note that no account exists.
    assert {message.to[0] for message in mail.outbox} == {patient.email, "nobody@example.org"}


def test_signing_up_with_a_taken_email_looks_like_any_sign_up(client, patient):
    form = {
        "email": patient.email,
        "password1": "another-long-passphrase-1",
        "password2": "another-long-passphrase-1",
        "country": "FR",
        "preferred_language": "en",
        "health_data_consent": "on",
    }
    taken = client.post(reverse("account_signup"), form)
    assert taken.status_code == 302
    assert User.objects.filter(email=patient.email).count() == 1
    other = client.__class__().post(reverse("account_signup"), {**form, "email": "fresh@example.org"})
    assert other.status_code == 302
    assert taken.url == other.url


def test_login_is_by_email_and_needs_a_verified_address(client, patient):
    response = client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert response.url == reverse("records:dashboard")


def test_repeated_failed_logins_are_rate_limited(client, patient):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": patient.email, "password": "wrong-password"})
    response = client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in _page_text(response)


def test_login_with_totp(client, patient):
    secret = generate_totp_secret()
    TOTP.activate(patient, secret)
    response = client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert response.url == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert "_auth_user_id" not in client.session and wrong.status_code == 200
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(patient.pk)


@pytest.mark.parametrize(
    "name", ["account_email", "account_change_password", "mfa_index", "usersessions_list", "mfa_activate_totp"]
)
def test_account_security_pages_render(client, patient, name):
    client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    response = client.get(reverse(name))
    assert response.status_code == 200


def test_pages_speak_french(client, db):
    response = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="fr")
    assert response.context["LANGUAGE_CODE"] == "fr"
    assert '<html lang="fr">' in _page_text(response)
    assert "Créer un compte" in _page_text(response)
