"""Erasure (GDPR Art. 17): asked after re-authentication and a typed confirmation, the account closes at once;
the job leaves no row, file, token or cached item of the patient, detaches the ledgers, and a task queued
before it writes nothing."""

from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from accounts import privacy
from accounts.erasure import erasure_request
from accounts.export import export_build, export_request
from accounts.models import AccountErasure, AuditEvent, ConsentEvent, DataExport, User
from accounts.tasks import account_erase_task
from accounts.tests.factories import PASSWORD
from accounts.tests.privacy_data import fill_everything, fill_links, reauthenticated, rows_for
from integrations.models import Connection, SyncRun
from integrations.providers.withings.tasks import withings_sync_task
from integrations.tasks import sync_run_execute_task
from integrations.tests.test_withings import _connect
from records.models import SampleDay

TAG = "CANARY-e7a4"
OTHER_TAG = "CANARY-OTHER-2c61"
MYFITNESSPAL = Path(__file__).resolve().parents[2] / "integrations" / "tests" / "data" / "myfitnesspal"


@pytest.fixture(autouse=True)
def _own_storage(media):
    return media


def files_in(media: Path) -> set[str]:
    return {str(path.relative_to(media)) for path in media.rglob("*") if path.is_file()}


def erase(erasure: AccountErasure) -> AccountErasure:
    account_erase_task.apply(args=[erasure.pk])  # what the worker runs, with the id only
    erasure.refresh_from_db()
    return erasure


def test_erasure_leaves_nothing_of_the_patient_and_keeps_the_ledgers_without_them(
    client, patient, other_patient, withings, media, django_capture_on_commit_callbacks
):
    reauthenticated(client, patient)
    _connect(client, django_capture_on_commit_callbacks)  # Withings, with real tokens at the fake server
    # A failed sign-in leaves a rate-limit entry keyed by the patient's address in the cache.
    Client().post(reverse("account_login"), {"login": patient.email, "password": "wrong"})
    fill_everything(patient, tag=TAG)
    assert len(fill_links(patient, tag=TAG)) >= 3  # groups, permissions, feature flags
    fill_everything(other_patient, tag=OTHER_TAG)
    export_build(export=export_request(user=patient))  # a copy waiting in storage
    patient_id, email = patient.pk, patient.email
    patient_files = set(privacy.files_of(patient))
    assert len(patient_files) == 3 and all(default_storage.exists(name) for name in patient_files)
    others_before, other_files = rows_for(other_patient.pk), files_in(media) - patient_files
    consent_ids = set(ConsentEvent.objects.filter(user=patient).values_list("pk", flat=True))
    audit_ids = set(AuditEvent.objects.filter(subject=patient).values_list("pk", flat=True))
    rate_keys = [key for key in privacy.cache_keys_of(patient) if cache.get(key)]
    assert rate_keys, "the failed sign-in left a rate-limit entry for this address"

    page = reauthenticated(client, patient).get(reverse("accounts:erasure"))
    assert page.status_code == 200 and "cannot be undone" in page.content.decode()
    refused = client.post(reverse("accounts:erasure"), {"confirm_email": "someone@else.example"})
    assert refused.status_code == 200 and "not the email address of your account" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("accounts:erasure"), {"confirm_email": email.upper()})
    assert response.url == reverse("accounts:erasure_done")
    assert len(callbacks) == 1, "the job is queued once the account is closed"

    # Closed at once: signed out, and signing in again is refused.
    patient.refresh_from_db()
    assert not patient.is_active
    assert client.get(reverse("accounts:account")).status_code == 302
    client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session

    erasure = erase(AccountErasure.objects.get())

    # No table holds a row pointing at the patient, whatever the model (through tables included).
    assert rows_for(patient_id) == {}
    assert not User.objects.filter(email=email).exists()
    assert not any(str(s.get_decoded().get("_auth_user_id")) == str(patient_id) for s in Session.objects.all())
    # No file of theirs is left in storage; everyone else's is untouched.
    assert not any(default_storage.exists(name) for name in patient_files)
    assert files_in(media) == other_files
    assert rows_for(other_patient.pk) == others_before
    # Tokens were revoked at the provider, cached items are gone.
    assert withings.revoked_users == [withings.userid]
    assert all(cache.get(key) is None for key in rate_keys)
    # The ledgers outlive the account, detached: nothing left says whose they were.
    consents = ConsentEvent.objects.filter(pk__in=consent_ids)
    assert consents.count() == len(consent_ids) and not consents.filter(user__isnull=False).exists()
    audits = AuditEvent.objects.filter(pk__in=audit_ids)
    assert audits.count() == len(audit_ids)
    assert not audits.exclude(subject=None).exists() and not audits.filter(actor_id=patient_id).exists()
    assert set(audits.values_list("actor_label", "object_id", "reason").distinct()) == {("", "", "")}
    # The receipt: when and how much, never whose.
    assert erasure.status == AccountErasure.Status.DONE and erasure.user_id is None
    assert erasure.removed["files"] == 3 and erasure.removed["connections_disconnected"] == 1
    assert erasure.removed["records.Condition"] == 1 and erasure.removed["accounts.User"] == 1
    # The confirmation email: to the address, no medical content.
    (message,) = [message for message in mail.outbox if message.to == [email]]
    assert "erased" in message.subject
    assert TAG not in message.subject + message.body and "Condition" not in message.body
    # Running the job again changes nothing.
    assert erase(erasure).status == AccountErasure.Status.DONE and len(mail.outbox) == 1


def test_a_task_queued_before_erasure_writes_nothing_when_it_runs_after(
    patient_client, patient, django_capture_on_commit_callbacks
):
    upload = (MYFITNESSPAL / "nutrition.csv").read_bytes()
    with django_capture_on_commit_callbacks(execute=False):
        patient_client.post(
            reverse("integrations:upload", args=["myfitnesspal"]),
            {"file": SimpleUploadedFile("nutrition.csv", upload, "text/csv")},
        )
    run = SyncRun.objects.get(owner=patient)
    with django_capture_on_commit_callbacks(execute=False):
        erasure = erasure_request(user=patient)

    # The worker reaches the import between the request and the erasure job: it writes nothing.
    sync_run_execute_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.QUEUED and run.started_at is None and run.read == 0
    assert not SampleDay.objects.filter(owner=patient).exists()

    erase(erasure)
    # After it: the run is gone, and the late task still writes nothing.
    sync_run_execute_task.apply(args=[run.pk])
    assert rows_for(patient.pk) == {}


def test_a_sync_queued_before_erasure_calls_nothing_and_writes_nothing(
    patient_client, patient, withings, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        erasure_request(user=patient)
    calls = len(withings.requests)

    withings_sync_task.apply(args=[run.pk])

    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.QUEUED and run.started_at is None
    assert len(withings.requests) == calls, "no call to Withings for a closed account"
    assert Connection.objects.get(owner=patient).cursor is None


def test_an_export_asked_before_erasure_is_not_built(patient, media, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        export = export_request(user=patient)
        erasure_request(user=patient)
    export = export_build(export=export)
    assert export.status == DataExport.Status.FAILED and export.storage_name == ""
    assert files_in(media) == set()


def test_erasure_needs_the_password_again(client, patient):
    client.force_login(patient)
    response = client.post(reverse("accounts:erasure"), {"confirm_email": patient.email})
    assert reverse("account_reauthenticate") in response.url
    patient.refresh_from_db()
    assert patient.is_active and not AccountErasure.objects.exists()


def test_staff_accounts_are_not_erased_from_the_privacy_centre(client, staff):
    reauthenticated(client, staff)
    response = client.post(reverse("accounts:erasure"), {"confirm_email": staff.email})
    assert response.url == reverse("accounts:erasure")
    staff.refresh_from_db()
    assert staff.is_active and not AccountErasure.objects.exists()


def test_ledger_rows_can_only_be_detached(patient):
    events = AuditEvent.objects.filter(subject=patient)
    with pytest.raises(PermissionError):
        events.detach(action="")  # not a detachable field
    with pytest.raises(PermissionError):
        events.detach(reason="rewritten")  # detachable, but only to empty it
    # The database itself refuses anything else, even with a detach in the same statement.
    for table, assignment in (
        ("accounts_auditevent", "subject_id = NULL, action = 'other'"),
        ("accounts_auditevent", "reason = 'rewritten'"),
        ("accounts_consentevent", "user_id = NULL, purpose = 'other'"),
        ("accounts_consentevent", "action = 'withdraw'"),
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {assignment}")  # noqa: S608
    count = events.count()
    assert count and events.detach(subject=None, object_id="") == count
    assert not AuditEvent.objects.filter(subject=patient).exists()
    assert ConsentEvent.objects.filter(user=patient).detach(user=None) == 1
