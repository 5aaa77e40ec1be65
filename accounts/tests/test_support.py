"""Support actions in the staff console: resend verification, disable an account, reset MFA.

Each needs its permission, is audited for the patient's access log, and tells the patient by email.
"""

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import SUPPORT_GROUP, AuditEvent
from accounts.tests.factories import PASSWORD, StaffFactory, UserFactory


def _console(client, user):
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())
    client.force_login(user)
    return client


@pytest.fixture
def support(client, staff):
    """Staff in the Support group, with MFA, signed in to the console."""
    return _console(client, staff)


@pytest.fixture
def senior(db):
    """Staff given the MFA reset permission by name (the Support group does not have it)."""
    person = StaffFactory(email="senior@healthspace.example")
    person.user_permissions.add(Permission.objects.get(codename="reset_mfa"))
    return _console(Client(), person), person


def _signed_in(user) -> Client:
    browser = Client()
    response = browser.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert browser.get(reverse("accounts:account")).status_code == 200
    return browser


def _url(name, user):
    return reverse(f"admin:accounts_user_{name}", args=[user.pk])


def test_the_support_group_has_the_low_risk_actions_only(db):
    granted = set(Group.objects.get(name=SUPPORT_GROUP).permissions.values_list("codename", flat=True))
    assert {"resend_verification", "disable_account", "view_waitlistentry"} <= granted
    assert not {"reset_mfa", "break_glass", "change_flag"} & granted


def test_the_users_page_shows_the_actions_staff_may_take(support, patient, senior):
    page = support.get(_url("change", patient)).content.decode()
    assert _url("resend_verification", patient) in page and _url("disable", patient) in page
    assert _url("reset_mfa", patient) not in page and _url("break_glass", patient) not in page
    senior_client, _person = senior
    assert _url("reset_mfa", patient) in senior_client.get(_url("change", patient)).content.decode()


# -- resend verification -------------------------------------------------------------------------------


def test_resending_verification_asks_the_patient_to_sign_in_for_a_fresh_code(support, db):
    person = UserFactory(email="unverified@example.org")
    EmailAddress.objects.filter(user=person).update(verified=False)
    assert support.get(_url("resend_verification", person)).status_code == 200
    response = support.post(_url("resend_verification", person))
    assert response.status_code == 302 and response.url == _url("change", person)
    (message,) = mail.outbox
    assert message.to == [person.email] and "http://testserver/accounts/login/" in message.body
    event = AuditEvent.objects.get(subject=person, action="staff.verification_resent")
    assert event.actor_kind == AuditEvent.ActorKind.STAFF and event.actor.is_staff

    # What the email says works: signing in sends a code (bound to the patient's own browser).
    mail.outbox.clear()
    Client().post(reverse("account_login"), {"login": person.email, "password": PASSWORD})
    assert len(mail.outbox) == 1 and re.search(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}\b", mail.outbox[0].body)


@pytest.fixture
def verification_by_link(settings):
    """Email verification by link: allauth decides at import whether its URLconf has the link's URL."""
    import importlib

    import allauth.account.urls
    import allauth.urls
    from django.urls import clear_url_caches

    import healthspace.urls

    def reload_urls():
        for module in (allauth.account.urls, allauth.urls, healthspace.urls):
            importlib.reload(module)
        clear_url_caches()

    settings.ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
    reload_urls()
    yield
    settings.ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
    reload_urls()


def test_resending_by_link_when_verification_by_code_is_off(support, db, verification_by_link):
    person = UserFactory(email="unverified@example.org")
    EmailAddress.objects.filter(user=person).update(verified=False)
    support.post(_url("resend_verification", person))
    (message,) = mail.outbox
    link = re.search(r"http://testserver(/accounts/confirm-email/[^/\s]+/)", message.body).group(1)
    assert Client().post(link).status_code == 302
    assert EmailAddress.objects.get(user=person).verified


def test_a_verified_address_gets_no_email(support, patient):
    response = support.post(_url("resend_verification", patient))
    assert response.status_code == 200 and "already verified" in response.content.decode()
    assert mail.outbox == [] and not AuditEvent.objects.filter(action="staff.verification_resent").exists()


# -- disable ---------------------------------------------------------------------------------------------


def test_disabling_an_account_signs_it_out_everywhere_and_tells_the_patient(support, patient):
    phone, laptop = _signed_in(patient), _signed_in(patient)
    response = support.post(_url("disable", patient), {"reason": "Owner reported a stolen laptop, ticket 4411"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert not patient.is_active
    for browser in (phone, laptop):
        assert browser.get(reverse("accounts:account")).url.startswith(reverse("account_login"))
    stranger = Client()
    stranger.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    assert "_auth_user_id" not in stranger.session, "a disabled account cannot sign in"
    (message,) = mail.outbox
    assert message.to == [patient.email] and "disabled your account" in message.body
    event = AuditEvent.objects.get(subject=patient, action="staff.account_disabled")
    assert event.reason == "Owner reported a stolen laptop, ticket 4411"


def test_disabling_needs_a_written_reason(support, patient):
    response = support.post(_url("disable", patient), {"reason": "x"})
    assert response.status_code == 200 and "at least 10 characters" in response.content.decode()
    patient.refresh_from_db()
    assert patient.is_active and mail.outbox == []


def test_support_cannot_disable_staff_or_themselves(support, staff, db):
    colleague = StaffFactory(email="colleague@healthspace.example")
    for target in (colleague, staff):
        response = support.post(_url("disable", target), {"reason": "Testing what support may do here"})
        assert response.status_code == 200
        target.refresh_from_db()
        assert target.is_active
    assert not AuditEvent.objects.filter(action="staff.account_disabled").exists()


def test_staff_without_the_permission_are_refused(client, patient, db):
    viewer = StaffFactory(email="viewer@healthspace.example")
    viewer.groups.clear()
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    _console(client, viewer)
    for name in ("resend_verification", "disable", "reset_mfa", "break_glass"):
        assert client.get(_url(name, patient)).status_code == 403, name
        assert client.post(_url(name, patient), {"reason": "A reason long enough to pass"}).status_code == 403
    patient.refresh_from_db()
    assert patient.is_active


# -- reset MFA -------------------------------------------------------------------------------------------


def test_support_cannot_reset_mfa(support, patient):
    TOTP.activate(patient, generate_totp_secret())
    response = support.post(
        _url("reset_mfa", patient), {"checks": ["email_code", "id_document"], "reason": "Lost phone"}
    )
    assert response.status_code == 403
    assert Authenticator.objects.filter(user=patient).exists()


def test_mfa_reset_after_identity_checks(senior, patient):
    client, person = senior
    TOTP.activate(patient, generate_totp_secret())
    RecoveryCodes.activate(patient)
    browser = Client()
    browser.force_login(patient)  # signed in earlier with their authenticator
    assert browser.get(reverse("accounts:account")).status_code == 200
    page = client.get(_url("reset_mfa", patient)).content.decode()
    assert "Identity checks you did" in page and "official identity document" in page

    one_check = client.post(_url("reset_mfa", patient), {"checks": ["email_code"], "reason": "Lost phone, ticket 91"})
    assert one_check.status_code == 200 and "at least 2 identity checks" in one_check.content.decode()
    no_reason = client.post(_url("reset_mfa", patient), {"checks": ["email_code", "id_document"], "reason": ""})
    assert no_reason.status_code == 200
    assert Authenticator.objects.filter(user=patient).count() == 2

    response = client.post(
        _url("reset_mfa", patient), {"checks": ["email_code", "id_document"], "reason": "Lost phone, ticket 91"}
    )
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=patient).exists()
    assert browser.get(reverse("accounts:account")).url.startswith(reverse("account_login"))
    event = AuditEvent.objects.get(subject=patient, action="staff.mfa_reset")
    assert event.actor == person and event.reason == "checks: email_code, id_document. Lost phone, ticket 91"
    (message,) = mail.outbox
    assert message.to == [patient.email] and "two-factor authentication" in message.body.lower()
    assert message.subject.startswith("[HealthSpace] ")

    # The patient reads it in their access log, and can sign in with the password alone.
    again = _signed_in(patient)
    assert "reset by staff after identity checks" in again.get(reverse("accounts:access_log")).content.decode()


def test_the_security_email_is_in_the_patients_language(senior, patient):
    from accounts.services import profile_update

    client, _person = senior
    profile_update(user=patient, preferred_language="fr")
    TOTP.activate(patient, generate_totp_secret())
    client.post(
        _url("reset_mfa", patient), {"checks": ["email_code", "known_phone"], "reason": "Lost phone, ticket 92"}
    )
    (message,) = mail.outbox
    assert "Bonjour, c'est testserver" in message.body  # allauth's French layout around our text


def test_an_account_without_mfa_has_nothing_to_reset(senior, patient):
    client, _person = senior
    response = client.post(
        _url("reset_mfa", patient), {"checks": ["email_code", "id_document"], "reason": "Lost phone"}
    )
    assert response.status_code == 200 and "no two-factor authentication" in response.content.decode()
    assert not AuditEvent.objects.filter(action="staff.mfa_reset").exists() and mail.outbox == []
