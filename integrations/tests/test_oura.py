"""Oura v2 OAuth2 and heart-rate sync against a local fake Oura API (hand-written documents: no real sample exists)."""

import datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from integrations.models import Connection, SyncRun
from integrations.providers.oura import flow
from integrations.providers.oura.tasks import oura_sync_task
from integrations.tests.fake_oura_server import FakeOuraServer
from records.timeseries import day_samples


@pytest.fixture
def fake(settings):
    with FakeOuraServer() as server:
        settings.OURA_CLIENT_ID, settings.OURA_CLIENT_SECRET = server.client_id, server.client_secret
        settings.OURA_API_BASE, settings.OURA_AUTHORIZE_URL = server.origin, server.authorize_url
        yield server


def _callback(client) -> str:
    """Start the sign-in and do what the patient's browser does at Oura: the callback path and query."""
    response = client.post(reverse("oura:connect"))
    assert response.status_code == 302, response.content
    answer = httpx.get(response.url, follow_redirects=False, timeout=5)
    location = urlsplit(answer.headers["location"])
    return f"{location.path}?{location.query}"


def _connect(client, capture) -> SyncRun:
    with capture(execute=False):
        response = client.get(_callback(client))
    run = SyncRun.objects.latest("id")
    assert response.url == reverse("integrations:run", args=[run.public_id])
    return run


def _run(run: SyncRun) -> SyncRun:
    oura_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    return run


def test_connect_imports_heart_rates_then_syncs_only_new_ones(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    response = patient_client.post(reverse("oura:connect"))
    params = {key: values[0] for key, values in parse_qs(urlsplit(response.url).query).items()}
    assert response.url.startswith(fake.authorize_url) and params["scope"] == "heartrate personal daily"
    assert params["client_id"] == fake.client_id and params["state"]
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    connection = Connection.objects.get(owner=patient, provider="oura")
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [connection.pk])
        (raw,) = cursor.fetchone()
    assert raw.startswith("gAAAAA") and connection.credentials["access_token"] not in raw

    run = _run(run)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    assert (run.read, run.added, run.rejected) == (12, 12, 0)
    assert len(fake.calls("/v2/usercollection/heartrate")) == 3, "pages of 5 through next_token"
    stored = {}
    for reading in fake.readings:
        when = datetime.datetime.fromisoformat(reading["timestamp"])
        for sample in day_samples(owner=patient, metric="heart_rate", day=when.date()):
            stored[sample.start] = sample.value
    assert stored == {datetime.datetime.fromisoformat(r["timestamp"]): float(r["bpm"]) for r in fake.readings}
    connection.refresh_from_db()
    assert connection.cursor == {"since": fake.readings[-1]["timestamp"]}

    second = _run(flow.sync_queue(connection=connection))
    assert second.outcome == SyncRun.Outcome.SUCCEEDED and second.added == 0 and second.read == 1
    assert fake.calls("/v2/usercollection/heartrate")[-1]["start_datetime"] == fake.readings[-1]["timestamp"]


def test_a_replayed_state_is_refused(patient_client, patient, fake, django_capture_on_commit_callbacks):
    callback = _callback(patient_client)
    with django_capture_on_commit_callbacks(execute=False):
        patient_client.get(callback)
    response = patient_client.get(callback, follow=True)
    assert "expired or was already used" in response.content.decode()
    assert len([q for q in fake.calls("/oauth/token") if q["grant_type"] == "authorization_code"]) == 1


def test_an_expired_token_is_refreshed_once(patient_client, patient, fake, django_capture_on_commit_callbacks):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    connection = Connection.objects.get(owner=patient)
    expired = (timezone.now() - datetime.timedelta(minutes=5)).isoformat()
    connection.credentials = {**connection.credentials, "expires_at": expired}
    connection.save(update_fields=["credentials"])
    assert _run(run).outcome == SyncRun.Outcome.SUCCEEDED and fake.refresh_calls == 1


def test_a_revoked_token_needs_the_patient(patient_client, patient, fake, django_capture_on_commit_callbacks):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    fake.revoke_all()
    run = _run(run)
    connection = Connection.objects.get(owner=patient)
    assert run.error_code == "access_revoked" and connection.status == Connection.Status.NEEDS_ATTENTION
    assert connection.attention_code == "access_revoked"


def test_429_and_500_are_retried(patient_client, patient, fake, django_capture_on_commit_callbacks):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    fake.fail_once = [(429, {"Retry-After": "1"}), (500, {})]
    run = _run(run)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.attempts == 2 and run.added == 12


def test_connection_revoke_calls_oura(patient_client, patient, fake, django_capture_on_commit_callbacks):
    _connect(patient_client, django_capture_on_commit_callbacks)
    connection = Connection.objects.get(owner=patient)
    assert flow.connection_revoke(connection) is True
    assert fake.revoked == [connection.credentials["access_token"]] and fake.access_tokens == {}
    assert flow.connection_revoke(connection) is False


def test_disconnect_revokes_at_oura(patient_client, patient, fake, django_capture_on_commit_callbacks):
    from integrations.services import connection_disconnect

    _connect(patient_client, django_capture_on_commit_callbacks)
    token = Connection.objects.get(owner=patient).credentials["access_token"]
    connection = connection_disconnect(user=patient, connection=Connection.objects.get(owner=patient))
    assert connection.status == Connection.Status.DISCONNECTED and fake.revoked == [token]
