"""Health-data consent: asked at sign-up, an append-only ledger, a gate on every health page."""

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accounts import selectors, services
from accounts.models import ConsentEvent, ConsentPurpose, User
from accounts.tests.factories import PASSWORD, UserFactory

HEALTH_PAGES = ["records:dashboard", "records:index", "chat:index", "integrations:index"]

SIGNUP = {
    "email": "new.patient@example.org",
    "password1": "a-long-and-unusual-passphrase",
    "password2": "a-long-and-unusual-passphrase",
    "display_name": "Camille",
    "country": "FR",
    "preferred_language": "fr",
}


def test_signup_without_consent_is_refused_and_creates_nobody(client, db):
    response = client.post(reverse("account_signup"), SIGNUP)
    assert response.status_code == 200
    assert "cannot keep health data without your explicit consent" in response.content.decode()
    assert not User.objects.filter(email=SIGNUP["email"]).exists()


def test_signup_with_consent_records_it_against_the_notice_version(client, db, settings):
    response = client.post(reverse("account_signup"), {**SIGNUP, "health_data_consent": "on"})
    assert response.status_code == 302
    user = User.objects.get(email=SIGNUP["email"])
    event = ConsentEvent.objects.get(user=user)
    assert (event.purpose, event.action) == ("health_data", "grant")
    assert event.notice_version == settings.PRIVACY_NOTICE_VERSION
    assert user.profile.country == "FR"
    assert user.profile.preferred_language == "fr"
    # Verification by code: the email carries a code, not a link.
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("name", HEALTH_PAGES)
def test_health_pages_are_closed_without_consent(client, db, name):
    user = UserFactory()
    client.force_login(user)
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url == reverse("accounts:consents")


@pytest.mark.parametrize("name", HEALTH_PAGES)
def test_health_pages_open_with_consent(patient_client, name):
    assert patient_client.get(reverse(name)).status_code == 200


def _login(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content


def test_withdrawing_consent_closes_the_gate_at_once(client, patient):
    _login(client, patient)
    response = client.post(reverse("accounts:consent_change"), {"purpose": "health_data"})
    assert response.status_code == 302
    assert not selectors.consent_is_granted(user=patient, purpose=ConsentPurpose.HEALTH_DATA)
    assert client.get(reverse("records:dashboard")).url == reverse("accounts:consents")
    client.post(reverse("accounts:consent_change"), {"purpose": "health_data", "granted": "on"})
    assert client.get(reverse("records:dashboard")).status_code == 200
    actions = list(
        ConsentEvent.objects.filter(user=patient, purpose="health_data")
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == ["grant", "withdraw", "grant"]


def test_withdrawing_is_as_easy_as_giving_no_password_asked(client, patient):
    client.force_login(patient)
    response = client.post(reverse("accounts:consent_change"), {"purpose": "health_data"})
    assert response.url == reverse("accounts:consents")
    assert not selectors.consent_is_granted(user=patient, purpose=ConsentPurpose.HEALTH_DATA)


def test_unknown_purpose_is_refused(client, patient):
    _login(client, patient)
    response = client.post(reverse("accounts:consent_change"), {"purpose": "marketing", "granted": "on"})
    assert response.status_code == 400


def test_granting_twice_writes_one_event(patient):
    assert services.consent_set(user=patient, purpose="health_data", granted=True) is None
    assert ConsentEvent.objects.filter(user=patient).count() == 1


def test_consent_page_lists_the_ledger(patient_client):
    page = patient_client.get(reverse("accounts:consents")).content.decode()
    assert "Storing and processing my health data" in page
    assert "Withdraw" in page


def test_ledger_rows_cannot_be_changed_or_deleted_through_the_orm(patient):
    event = ConsentEvent.objects.get(user=patient)
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        ConsentEvent.objects.filter(user=patient).update(action="withdraw")
    with pytest.raises(PermissionError):
        ConsentEvent.objects.filter(user=patient).delete()
    assert ConsentEvent.objects.get(user=patient).action == "grant"


@pytest.mark.parametrize("table", ["accounts_consentevent", "accounts_auditevent"])
def test_the_database_refuses_updates_of_ledger_rows(patient, table):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET created_at = created_at")  # noqa: S608
