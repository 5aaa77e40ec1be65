"""The access log: every sign-in, security change and access by others, shown to the patient."""

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.services import audit_record
from accounts.tests.factories import PASSWORD


def test_sign_in_is_in_the_patients_access_log(client, patient):
    client.post(reverse("account_login"), {"login": patient.email, "password": PASSWORD})
    page = client.get(reverse("accounts:access_log")).content.decode()
    assert "Signed in" in page
    assert AuditEvent.objects.filter(subject=patient, action="account.login").count() == 1


def test_staff_viewing_an_account_appears_in_that_patients_log(client, patient, staff):
    TOTP.activate(staff, generate_totp_secret())
    client.force_login(staff)
    url = reverse("admin:accounts_user_change", args=[patient.pk])
    assert client.get(url).status_code == 200
    event = AuditEvent.objects.get(subject=patient, action="admin.view_user")
    assert event.actor == staff
    assert event.actor_kind == "staff"

    client.force_login(patient)
    page = client.get(reverse("accounts:access_log") + "?who=staff").content.decode()
    assert "Account details viewed by staff" in page
    assert "Signed in" not in page  # filtered to staff


def test_a_patient_never_sees_another_patients_events(client, patient, other_patient):
    audit_record(actor_kind="staff", subject=other_patient, action="admin.view_user")
    client.force_login(patient)
    page = client.get(reverse("accounts:access_log")).content.decode()
    assert "Account details viewed by staff" not in page


def test_access_log_query_count_does_not_grow_with_events(client, patient, staff):
    client.force_login(patient)

    def queries_for_page():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("accounts:access_log"))
        return len(queries), response.content.decode().count("Account details viewed by staff")

    client.get(reverse("accounts:access_log"))  # the first request of a session also records it
    audit_record(actor_kind="staff", actor=staff, subject=patient, action="admin.view_user")
    few, shown = queries_for_page()
    assert shown == 1
    for _ in range(29):
        audit_record(actor_kind="staff", actor=staff, subject=patient, action="admin.view_user")
    many, shown = queries_for_page()
    assert shown == 30
    assert many == few


@pytest.mark.parametrize("attempt", ["save", "delete", "queryset_delete", "queryset_update"])
def test_audit_rows_cannot_be_changed_or_deleted(patient, attempt):
    event = audit_record(actor_kind="job", subject=patient, action="account.login")
    operations = {
        "save": event.save,
        "delete": event.delete,
        "queryset_delete": AuditEvent.objects.all().delete,
        "queryset_update": lambda: AuditEvent.objects.update(action="x"),
    }
    with pytest.raises(PermissionError):
        operations[attempt]()
    assert AuditEvent.objects.get(pk=event.pk).action == "account.login"
