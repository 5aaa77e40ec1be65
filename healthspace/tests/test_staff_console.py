"""The staff console beyond model lists: break-glass access, and no medical content anywhere else.

A canary planted in a patient's records must never appear on a console page, except on the break-glass
page while a grant runs; every page seen under a grant is audited for the patient's access log.
"""

import datetime

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import rollout
from accounts.models import AuditEvent, BreakGlassGrant
from accounts.tests.factories import StaffFactory
from integrations.models import Connection, SyncRun
from records import services as record_services
from records.models import Condition, Medication
from records.tests.factories import at

CANARY = "Canary-Zebra-Condition-7Q"
CANARY_DRUG = "Canary-Zebrafen-500"
REASON = "Patient asked by phone for help reading an import, ticket 5521"


@pytest.fixture
def canary(patient, other_patient):
    record_services.record_create(user=patient, record=Condition(name=CANARY, effective_at=at("2024-01-02")))
    record_services.record_create(user=patient, record=Medication(name=CANARY_DRUG, dosage="1 daily"))
    record_services.record_create(user=other_patient, record=Condition(name="Other-Patient-Canary"))
    return patient


def _console_client(user) -> Client:
    TOTP.activate(user, generate_totp_secret())
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def responder(db):
    """Staff given the break-glass permission by name (no group has it)."""
    person = StaffFactory(email="responder@healthspace.example")
    person.user_permissions.add(Permission.objects.get(codename="break_glass"))
    return person


@pytest.fixture
def responder_client(responder):
    return _console_client(responder)


def _grant(client, patient, reason=REASON):
    return client.post(
        reverse("admin:accounts_user_break_glass", args=[patient.pk]), {"reason": reason, "acknowledge": "on"}
    )


def test_break_glass_opens_the_records_for_a_while_and_the_patient_sees_every_view(
    responder_client, responder, canary, settings
):
    form = responder_client.get(reverse("admin:accounts_user_break_glass", args=[canary.pk])).content.decode()
    assert "30 minutes" in form and CANARY not in form
    response = _grant(responder_client, canary)
    grant = BreakGlassGrant.objects.get(staff=responder, patient=canary)
    assert response.url == reverse("admin:break_glass_records", args=[grant.public_id])
    assert grant.reason == REASON
    assert (grant.expires_at - grant.created_at) - datetime.timedelta(minutes=30) < datetime.timedelta(seconds=5)

    overview = responder_client.get(response.url).content.decode()
    assert "Conditions" in overview and "Break-glass access, read only" in overview
    conditions = responder_client.get(response.url + "?kind=conditions").content.decode()
    assert CANARY in conditions and "Other-Patient-Canary" not in conditions
    assert CANARY_DRUG in responder_client.get(response.url + "?kind=medications").content.decode()

    events = AuditEvent.objects.filter(subject=canary, actor=responder).order_by("id")
    assert [(e.action, e.object_type, e.outcome) for e in events] == [
        ("staff.break_glass_granted", "break_glass", "success"),
        ("staff.break_glass_viewed", "records:overview", "success"),
        ("staff.break_glass_viewed", "records:conditions", "success"),
        ("staff.break_glass_viewed", "records:medications", "success"),
    ]
    assert all(event.reason == REASON and event.actor_kind == "staff" for event in events)

    (message,) = mail.outbox
    assert message.to == [canary.email] and "30 minutes" in message.body
    assert CANARY not in message.body and REASON not in message.body, "no medical content, no staff wording"
    assert "http://testserver/privacy/access-log/" in message.body

    patient_client = Client()
    patient_client.force_login(canary)
    log = patient_client.get(reverse("accounts:access_log") + "?who=staff").content.decode()
    assert "Staff given temporary emergency access to your records" in log
    assert "Your records viewed by staff with emergency access" in log
    assert REASON in log, "the patient reads why"


def test_break_glass_ends_on_time_and_refusals_are_audited(responder_client, responder, canary):
    url = _grant(responder_client, canary).url
    BreakGlassGrant.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = responder_client.get(url + "?kind=conditions")
    assert response.status_code == 302 and response.url == reverse("admin:accounts_user_change", args=[canary.pk])
    assert CANARY not in responder_client.get(response.url).content.decode()
    refused = AuditEvent.objects.get(subject=canary, action="staff.break_glass_viewed", outcome="denied")
    assert refused.object_type == "records:conditions"
    # A new grant needs a new reason.
    assert _grant(responder_client, canary, reason="Second look after the patient called again, ticket 5522").url != url


def test_break_glass_can_be_ended_early(responder_client, responder, canary):
    url = _grant(responder_client, canary).url
    grant = BreakGlassGrant.objects.get()
    response = responder_client.post(reverse("admin:break_glass_end", args=[grant.public_id]))
    assert response.url == reverse("admin:accounts_user_change", args=[canary.pk])
    grant.refresh_from_db()
    assert grant.ended_at is not None and not grant.is_active()
    assert responder_client.get(url).status_code == 302
    assert AuditEvent.objects.filter(subject=canary, action="staff.break_glass_ended").count() == 1


def test_a_second_request_while_access_runs_goes_back_to_it(responder_client, canary):
    url = _grant(responder_client, canary).url
    assert responder_client.get(reverse("admin:accounts_user_break_glass", args=[canary.pk])).url == url
    assert BreakGlassGrant.objects.count() == 1


def test_break_glass_needs_a_reason_and_the_acknowledgement(responder_client, canary):
    url = reverse("admin:accounts_user_break_glass", args=[canary.pk])
    assert responder_client.post(url, {"reason": "because", "acknowledge": "on"}).status_code == 200
    assert responder_client.post(url, {"reason": REASON}).status_code == 200
    assert not BreakGlassGrant.objects.exists() and mail.outbox == []
    assert not AuditEvent.objects.filter(action__startswith="staff.break_glass").exists()


def test_without_the_permission_there_is_no_break_glass(client, staff, canary):
    support = _console_client(staff)  # the Support group: no break-glass permission
    assert support.get(reverse("admin:accounts_user_break_glass", args=[canary.pk])).status_code == 403
    assert _grant(support, canary).status_code == 403
    assert not BreakGlassGrant.objects.exists()


def test_a_grant_is_only_its_holders_and_only_while_they_keep_the_permission(responder_client, responder, canary):
    url = _grant(responder_client, canary).url
    colleague = StaffFactory(email="colleague@healthspace.example")
    colleague.user_permissions.add(Permission.objects.get(codename="break_glass"))
    assert _console_client(colleague).get(url).status_code == 404
    responder.user_permissions.clear()
    assert responder_client.get(url).status_code == 403


def test_staff_cannot_break_glass_into_their_own_records(responder_client, responder):
    response = _grant(responder_client, responder)
    assert response.status_code == 200 and not BreakGlassGrant.objects.exists()


def test_an_unknown_kind_of_record_is_a_404(responder_client, canary):
    url = _grant(responder_client, canary).url
    assert responder_client.get(url + "?kind=nonsense").status_code == 404


# -- no medical content elsewhere in the console ------------------------------------------------------


def test_no_console_page_but_break_glass_shows_medical_content(client, staff, canary, other_patient):
    """The canary appears on no console page (lists, change pages, staff pages) and no search finds it."""
    staff.is_superuser = True
    staff.save()
    console = _console_client(staff)
    connection = Connection.objects.create(owner=canary, provider="withings", status="needs_attention")
    SyncRun.objects.create(
        owner=canary,
        connection=connection,
        kind="sync",
        outcome="failed",
        error_code="server_error",
        finished_at=timezone.now(),
    )
    rollout.waitlist_join(user=canary, flag="ehr-connection")
    _grant(console, canary)  # a superuser may; the grant page itself is the one exception
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = staff
    urls = [
        reverse("admin:index"),
        reverse("admin:sync_health"),
        reverse("admin:accounts_user_change", args=[canary.pk]),
        *(
            reverse(f"admin:accounts_user_{name}", args=[canary.pk])
            for name in ("resend_verification", "disable", "reset_mfa")
        ),
    ]
    for model, model_admin in admin.site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        changelist = reverse(f"{info}_changelist")
        urls.append(changelist)
        # Searching for medical content finds nothing (the search box echoes the words back, so only the count).
        if model_admin.get_search_fields(request):
            assert console.get(changelist, {"q": CANARY}).context["cl"].result_count == 0, changelist
        first = model_admin.get_queryset(request).first()
        if first is not None:
            urls.append(reverse(f"{info}_change", args=[first.pk]))
    for url in urls:
        response = console.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        page = response.content.decode()
        assert CANARY not in page and CANARY_DRUG not in page, f"{url} shows medical content"
