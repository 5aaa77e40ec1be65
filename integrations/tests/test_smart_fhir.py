"""SMART on FHIR standalone patient launch against a local fake server fed with a real Synthea bundle."""

import datetime
import io
import json
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import consent_is_granted
from integrations.exceptions import ProviderError
from integrations.models import Connection, FhirServer, SyncRun
from integrations.providers.smart_fhir import flow
from integrations.providers.smart_fhir.tasks import smart_fhir_sync_task
from integrations.services import connection_disconnect, source_data_delete
from integrations.tests.fake_fhir_server import FakeFhirServer, load_resources
from integrations.tests.fake_oauth import expire, refresh_race
from records.fhir.importer import fhir_import
from records.models import Allergy, Condition, Immunization, LabResult, VitalSign

# Until the lead includes these URLs in the project, the tests mount them themselves.


SEARCHED = {
    "Observation",
    "Condition",
    "MedicationRequest",
    "AllergyIntolerance",
    "Immunization",
    "Procedure",
    "Encounter",
    "DiagnosticReport",
    "DocumentReference",
    # Coverage too, but this server's CapabilityStatement does not list it (the bundle has none).
    "Claim",
    "ExplanationOfBenefit",
}
DENNIS = Counter(resource["resourceType"] for resource in load_resources())
# The EHR connection is gated by country (US only at launch); these tests are about the connection itself.
pytestmark = pytest.mark.usefixtures("features_open")


@pytest.fixture
def fake():
    with FakeFhirServer() as server:
        yield server


@pytest.fixture
def fhir_server(db, fake):
    return FhirServer.objects.create(name="Test EHR", base_url=fake.base_url, client_id=fake.client_id)


def _authorize(client, server) -> tuple[str, dict]:
    response = client.post(reverse("smart_fhir:connect"), {"server": str(server.public_id)})
    assert response.status_code == 302, response.content
    return response.url, {key: values[0] for key, values in parse_qs(urlsplit(response.url).query).items()}


def _at_server(authorize_url: str) -> str:
    """What the patient's browser does at the server's sign-in page: the callback path and query."""
    response = httpx.get(authorize_url, follow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    return f"{location.path}?{location.query}"


def _connect(client, server, capture) -> SyncRun:
    authorize_url, _params = _authorize(client, server)
    with capture(execute=False) as callbacks:
        response = client.get(_at_server(authorize_url))
    run = SyncRun.objects.get(pk=SyncRun.objects.latest("id").pk)
    assert response.status_code == 302 and response.url == reverse("integrations:run", args=[run.public_id])
    assert len(callbacks) == 1, "the first sync is queued after commit"
    return run


def _sync(connection: Connection) -> SyncRun:
    run = flow.sync_queue(connection=connection)
    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    return run


def test_standalone_launch_imports_the_record_then_syncs_only_changes(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    authorize_url, params = _authorize(patient_client, fhir_server)
    assert authorize_url.startswith(f"{fake.origin}/auth/authorize?")
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["aud"] == fake.base_url and params["state"] and params["client_id"] == fake.client_id
    assert "offline_access" in params["scope"]

    with django_capture_on_commit_callbacks(execute=False):
        response = patient_client.get(_at_server(authorize_url))
    connection = Connection.objects.get(owner=patient, provider="smart-fhir")
    run = SyncRun.objects.get(connection=connection)
    assert response.url == reverse("integrations:run", args=[run.public_id])
    assert connection.status == Connection.Status.CONNECTED and connection.fhir_server == fhir_server
    assert connection.credentials["patient"] == fake.patient_id
    assert connection.credentials["access_token"] in fake.access_tokens
    assert "pending" not in connection.credentials
    assert consent_is_granted(user=patient, purpose="source:smart-fhir")
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [connection.pk])
        (raw,) = cursor.fetchone()
    assert raw.startswith("gAAAAA") and connection.credentials["access_token"] not in raw and fake.patient_id not in raw

    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert run.read == sum(count for kind, count in DENNIS.items() if kind in SEARCHED)
    assert run.rejected == 0 and run.added > 0
    assert Condition.objects.filter(owner=patient).count() == DENNIS["Condition"] == 9
    assert Immunization.objects.filter(owner=patient).count() == DENNIS["Immunization"]
    assert Allergy.objects.filter(owner=patient).count() == DENNIS["AllergyIntolerance"]
    assert LabResult.objects.filter(owner=patient).exists() and VitalSign.objects.filter(owner=patient).exists()
    paged = [query for path_, query in fake.fhir_requests() if path_ == "/fhir/Observation"]
    assert len(paged) == -(-DENNIS["Observation"] // 20), "Observation pages followed through Bundle.link next"
    page = patient_client.get(reverse("integrations:run", args=[run.public_id])).content.decode()
    assert "Done" in page or "done" in page

    before = len(fake.fhir_requests())
    second = _sync(connection)
    searches = [(p, q) for p, q in fake.fhir_requests()[before:] if p != "/fhir/metadata"]
    assert second.outcome == SyncRun.Outcome.SUCCEEDED and second.added == 0 and second.read == 0
    assert len(searches) == len(SEARCHED)
    assert all(query["_lastUpdated"].startswith("gt") for _path, query in searches), searches

    condition = next(item for item in fake.resources if item["resourceType"] == "Condition")
    fake.touch("Condition", condition["id"])
    third = _sync(connection)
    assert (third.read, third.added, third.already_present) == (1, 0, 1), "only the changed resource is fetched"


def test_patient_everything_is_used_when_the_server_offers_it(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    fake.everything = True
    run = _connect(patient_client, fhir_server, django_capture_on_commit_callbacks)
    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert Condition.objects.filter(owner=patient).count() == 9
    paths = {p for p, _query in fake.fhir_requests()}
    assert paths == {"/fhir/metadata", f"/fhir/Patient/{fake.patient_id}/$everything"}


def test_a_confidential_client_authenticates_with_its_secret(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    fake.client_secret = fhir_server.client_secret = "s3cret"
    fhir_server.save()
    run = _connect(patient_client, fhir_server, django_capture_on_commit_callbacks)
    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and Condition.objects.filter(owner=patient).count() == 9


def test_a_replayed_state_or_another_users_state_is_refused(
    client, patient, other_patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    client.force_login(patient)
    authorize_url, _params = _authorize(client, fhir_server)
    callback = _at_server(authorize_url)

    client.force_login(other_patient)
    response = client.get(callback, follow=True)
    assert "expired or was already used" in response.content.decode()
    assert not Connection.objects.filter(owner=other_patient).exists()

    client.force_login(patient)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.get(callback).status_code == 302
    tokens = Connection.objects.get(owner=patient).credentials["access_token"]
    response = client.get(callback, follow=True)
    assert "expired or was already used" in response.content.decode()
    assert Connection.objects.get(owner=patient).credentials["access_token"] == tokens
    assert SyncRun.objects.filter(owner=patient).count() == 1


def test_consent_denied_at_the_server_shows_a_plain_message_and_stores_nothing(
    patient_client, patient, fake, fhir_server
):
    fake.deny = True
    authorize_url, _params = _authorize(patient_client, fhir_server)
    response = patient_client.get(_at_server(authorize_url), follow=True)
    assert "You did not allow HealthSpace to read your records" in response.content.decode()
    assert not Connection.objects.filter(owner=patient).exists()
    assert not SyncRun.objects.filter(owner=patient).exists()
    assert not consent_is_granted(user=patient, purpose="source:smart-fhir")


def test_only_enabled_servers_of_the_patients_country_can_be_chosen(patient_client, patient, other_patient, fake):
    # The patient's profile says FR.
    here = FhirServer.objects.create(name="Paris EHR", base_url=fake.base_url, client_id="x", countries="fr, BE")
    everywhere = FhirServer.objects.create(name="Global EHR", base_url=fake.base_url, client_id="x")
    abroad = FhirServer.objects.create(name="Boston EHR", base_url=fake.base_url, client_id="x", countries="US")
    disabled = FhirServer.objects.create(name="Old EHR", base_url=fake.base_url, client_id="x", enabled=False)
    page = patient_client.get(reverse("smart_fhir:servers")).content.decode()
    assert "Paris EHR" in page and "Global EHR" in page and "Boston EHR" not in page and "Old EHR" not in page
    for server in (abroad, disabled):
        assert patient_client.post(reverse("smart_fhir:connect"), {"server": str(server.public_id)}).status_code == 404
    assert patient_client.post(reverse("smart_fhir:connect"), {"server": "not-a-uuid"}).status_code == 404
    assert not Connection.objects.exists() and fake.requests == []
    assert patient_client.post(reverse("smart_fhir:connect"), {"server": str(here.public_id)}).status_code == 302
    assert everywhere


def test_another_patient_cannot_sync_my_connection(
    client, patient, other_patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    client.force_login(patient)
    _connect(client, fhir_server, django_capture_on_commit_callbacks)
    mine = Connection.objects.get(owner=patient)
    client.force_login(other_patient)
    assert client.post(reverse("smart_fhir:sync", args=[mine.public_id])).status_code == 404


@pytest.mark.postgres
def test_an_expired_token_is_refreshed_once_when_ten_workers_race(
    transactional_db, require_postgres, patient, fake, fhir_server
):
    # Through the services, not the callback view: with no test transaction, its queued sync would be sent.
    redirect_uri = "http://testserver/callback/"
    authorize_url, state = flow.authorization_start(user=patient, server=fhir_server, redirect_uri=redirect_uri)
    code = parse_qs(urlsplit(_at_server(authorize_url)).query)["code"][0]
    connection = flow.authorization_complete(user=patient, state=state, code=code, redirect_uri=redirect_uri)
    old_token = connection.credentials["access_token"]
    expire(connection)
    fake.refresh_delay = 0.3  # a refresh slow enough for every thread to be waiting on it
    tokens, errors = refresh_race(connection, flow.token_refresh)
    assert errors == []
    assert fake.refresh_calls == 1
    assert len(tokens) == 10 and len(set(tokens)) == 1 and old_token not in tokens
    connection.refresh_from_db()
    assert connection.credentials["access_token"] == tokens[0] and connection.status == Connection.Status.CONNECTED
    assert datetime.datetime.fromisoformat(connection.credentials["expires_at"]) > timezone.now()


def test_an_expired_token_is_refreshed_before_a_sync(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, fhir_server, django_capture_on_commit_callbacks)
    connection = Connection.objects.get(owner=patient)
    expire(connection)
    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and fake.refresh_calls == 1


def test_a_revoked_refresh_token_needs_the_patient_and_stops_syncing(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, fhir_server, django_capture_on_commit_callbacks)
    connection = Connection.objects.get(owner=patient)
    expire(connection)
    fake.revoke_refresh_tokens()
    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    connection.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "access_revoked"
    assert "Connect again" in run.error_message and connection.credentials["refresh_token"] not in run.error_message
    assert connection.status == Connection.Status.NEEDS_ATTENTION and connection.attention_code == "access_revoked"
    assert fake.fhir_requests() == [] and fake.refresh_calls == 1

    later = _sync(connection)
    assert later.outcome == SyncRun.Outcome.FAILED and "Connect again" in later.error_message
    assert fake.refresh_calls == 1 and fake.fhir_requests() == [], "no more calls once the grant is revoked"
    with pytest.raises(ProviderError) as raised:
        flow.token_refresh(connection=connection)
    assert raised.value.permanent


def test_a_429_with_retry_after_is_waited_out_then_the_sync_succeeds(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, fhir_server, django_capture_on_commit_callbacks)
    fake.fail_once = [(429, {"Retry-After": "1"})]
    began = time.monotonic()
    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.attempts == 1
    assert time.monotonic() - began >= 1, "the server's Retry-After was honoured"
    assert Condition.objects.filter(owner=patient).count() == 9


def test_a_server_error_is_retried_by_the_task_without_moving_the_cursor(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks, settings
):
    run = _connect(patient_client, fhir_server, django_capture_on_commit_callbacks)
    fake.fail_once = [(500, {})]
    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.attempts == 2
    assert Condition.objects.filter(owner=patient).count() == 9
    assert Connection.objects.get(owner=patient).cursor["last_updated"]


def test_a_long_retry_after_fails_the_attempt_as_transient(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks, settings
):
    settings.SMART_FHIR_RETRY_AFTER_MAX = 5
    run = _connect(patient_client, fhir_server, django_capture_on_commit_callbacks)
    fake.fail_once = [(429, {"Retry-After": "3600"})] * flow.SYNC_ATTEMPTS
    smart_fhir_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    connection = Connection.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "rate_limited"
    assert run.attempts == flow.SYNC_ATTEMPTS and connection.status == Connection.Status.CONNECTED
    assert connection.cursor is None, "a failed sync does not move the cursor"


def test_a_next_link_to_another_host_is_never_followed(
    patient_client, patient, fake, fhir_server, django_capture_on_commit_callbacks
):
    with FakeFhirServer() as elsewhere:
        fake.next_link_origin = elsewhere.origin
        run = _connect(patient_client, fhir_server, django_capture_on_commit_callbacks)
        smart_fhir_sync_task.apply(args=[run.pk])
        run.refresh_from_db()
        assert elsewhere.requests == []
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "unsafe_link"
    assert Connection.objects.get(owner=patient).cursor is None
    assert all(urlsplit(fake.origin + p).netloc == urlsplit(fake.base_url).netloc for p, _q in fake.fhir_requests())


def test_beat_queues_a_sync_for_each_due_connection_once(patient, other_patient, django_capture_on_commit_callbacks):
    import datetime

    from django.utils import timezone

    from integrations.models import Connection, SyncRun
    from integrations.services import connections_sync_due

    now = timezone.now()
    due = Connection.objects.create(
        owner=patient, provider="smart-fhir", next_sync_at=now - datetime.timedelta(minutes=1)
    )
    Connection.objects.create(
        owner=other_patient, provider="smart-fhir", next_sync_at=now + datetime.timedelta(hours=1)
    )
    Connection.objects.create(owner=other_patient, provider="myfitnesspal")  # files only: never synced by beat
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert connections_sync_due(now=now) == 1
        assert connections_sync_due(now=now) == 0  # the next sync moved forward
    assert SyncRun.objects.filter(connection=due, kind=SyncRun.Kind.SYNC).count() == 1
    assert len(sent) == 1
    due.refresh_from_db()
    assert due.next_sync_at > now


def test_a_patient_connects_each_of_their_portals(patient_client, patient, django_capture_on_commit_callbacks):
    # The same person, followed at a hospital (their conditions) and at a clinic (their vaccinations).
    resources = load_resources()
    at_hospital = [item for item in resources if item["resourceType"] in ("Patient", "Condition")]
    at_clinic = [item for item in resources if item["resourceType"] in ("Patient", "Immunization")]
    with FakeFhirServer(resources=at_hospital) as hospital, FakeFhirServer(resources=at_clinic) as clinic:
        first = FhirServer.objects.create(name="Hospital EHR", base_url=hospital.base_url, client_id=hospital.client_id)
        second = FhirServer.objects.create(name="Clinic EHR", base_url=clinic.base_url, client_id=clinic.client_id)
        page = patient_client.get(reverse("integrations:index")).content.decode()
        assert "Connect to Hospital EHR" in page and "Connect to Clinic EHR" in page

        smart_fhir_sync_task.apply(args=[_connect(patient_client, first, django_capture_on_commit_callbacks).pk])
        page = patient_client.get(reverse("integrations:index")).content.decode()
        assert "Connect to Hospital EHR" not in page and "Connect to Clinic EHR" in page
        assert "Hospital EHR: details and history" in page

        smart_fhir_sync_task.apply(args=[_connect(patient_client, second, django_capture_on_commit_callbacks).pk])
        connections = {c.fhir_server: c for c in Connection.objects.filter(owner=patient, provider="smart-fhir")}
        assert set(connections) == {first, second}
        assert connections[first].credentials["access_token"] in hospital.access_tokens
        assert connections[second].credentials["access_token"] in clinic.access_tokens
        assert all(c.status == Connection.Status.CONNECTED for c in connections.values())
        assert Condition.objects.filter(owner=patient).count() == DENNIS["Condition"]
        assert Immunization.objects.filter(owner=patient).count() == DENNIS["Immunization"]
        page = patient_client.get(reverse("integrations:index")).content.decode()
        assert "Connect to" not in page, "every portal is connected"
        assert "Hospital EHR: details and history" in page and "Clinic EHR: details and history" in page

        # Each connection syncs its own server only, from its own cursor.
        asked_hospital = len(hospital.fhir_requests())
        assert _sync(connections[second]).outcome == SyncRun.Outcome.SUCCEEDED
        assert len(hospital.fhir_requests()) == asked_hospital and len(clinic.fhir_requests()) > 0
        # Signing in again at a connected portal renews that connection; it does not add one.
        smart_fhir_sync_task.apply(args=[_connect(patient_client, first, django_capture_on_commit_callbacks).pk])
        assert Connection.objects.filter(owner=patient, provider="smart-fhir").count() == 2

    # The database keeps one connection per portal, and one per source for every other source.
    with pytest.raises(IntegrityError), transaction.atomic():
        Connection.objects.create(owner=patient, provider="smart-fhir", fhir_server=first)
    Connection.objects.create(owner=patient, provider="withings")
    with pytest.raises(IntegrityError), transaction.atomic():
        Connection.objects.create(owner=patient, provider="withings")


def test_connect_is_offered_only_when_a_server_serves_the_patients_country(patient_client, patient, fake):
    # The patient's profile says FR.
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert "This HealthSpace has not been set up to connect to Health record (SMART on FHIR)." in page
    assert reverse("smart_fhir:connect") not in page

    abroad = FhirServer.objects.create(name="Boston EHR", base_url=fake.base_url, client_id="x", countries="US")
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert "has not been set up to connect to Health record" in page and "Boston EHR" not in page
    response = patient_client.post(reverse("smart_fhir:connect"), {"server": str(abroad.public_id)}, follow=True)
    assert "No health record server is available in your country yet." in response.content.decode()
    assert not Connection.objects.exists() and fake.requests == []

    FhirServer.objects.create(name="Old EHR", base_url=fake.base_url, client_id="x", enabled=False)
    FhirServer.objects.create(name="Paris EHR", base_url=fake.base_url, client_id="x", countries="FR")
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert "has not been set up to connect to Health record" not in page
    assert "Connect to Paris EHR" in page and reverse("smart_fhir:connect") in page
    assert "Boston EHR" not in page and "Old EHR" not in page


def test_two_portals_keep_records_with_the_same_ids_apart_and_delete_only_their_own(
    patient_client, patient, django_capture_on_commit_callbacks
):
    # Resource ids are unique within one server only: two portals may both send "Condition/1".
    conditions = [item for item in load_resources() if item["resourceType"] in ("Patient", "Condition")]
    with FakeFhirServer(resources=conditions) as hospital, FakeFhirServer(resources=conditions) as clinic:
        first = FhirServer.objects.create(name="Hospital EHR", base_url=hospital.base_url, client_id=hospital.client_id)
        second = FhirServer.objects.create(name="Clinic EHR", base_url=clinic.base_url, client_id=clinic.client_id)
        smart_fhir_sync_task.apply(args=[_connect(patient_client, first, django_capture_on_commit_callbacks).pk])
        smart_fhir_sync_task.apply(args=[_connect(patient_client, second, django_capture_on_commit_callbacks).pk])
    fhir_import(owner=patient, stream=io.BytesIO(json.dumps(conditions[1]).encode()), filename="mine.json")

    assert Condition.objects.filter(owner=patient).count() == 2 * DENNIS["Condition"] + 1
    hospital_connection = Connection.objects.get(owner=patient, fhir_server=first)
    connection_disconnect(user=patient, connection=hospital_connection)
    source_data_delete(user=patient, connection=Connection.objects.get(pk=hospital_connection.pk))

    left = Condition.objects.filter(owner=patient)
    assert left.count() == DENNIS["Condition"] + 1
    assert {row.origin for row in left} == {f"smart-fhir:{second.public_id}", ""}
