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
from integrations.tests.fake_oauth import expire
from integrations.tests.fake_oura_server import FakeOuraServer, daily_activity, daily_spo2, sleep_period
from records.timeseries import daily_summaries, day_samples


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
    assert response.url.startswith(fake.authorize_url) and params["scope"] == "heartrate personal daily spo2Daily"
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
    assert connection.cursor["since"] == fake.readings[-1]["timestamp"]

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
    expire(connection)
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


def _summary(owner, metric: str, day: datetime.date) -> dict:
    return dict(daily_summaries(owner=owner, metric=metric, start=day, end=day)).get(day, {})


def test_daily_activity_is_a_day_total_replaced_as_it_grows(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    today = timezone.now().date()
    yesterday = today - datetime.timedelta(days=1)
    # New York days (UTC-4): each total is filed under its own date, midnight to midnight UTC.
    fake.collections["daily_activity"] = [
        daily_activity(yesterday, steps=8012, active_calories=410, utc_offset="-04:00"),
        daily_activity(today, steps=2100, active_calories=95, utc_offset="-04:00"),
    ]
    run = _run(_connect(patient_client, django_capture_on_commit_callbacks))
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    (call,) = fake.calls("/v2/usercollection/daily_activity")
    assert call["start_date"] == (timezone.now() - flow.HISTORY).date().isoformat()
    assert call["end_date"] == (today + datetime.timedelta(days=1)).isoformat()
    assert _summary(patient, "steps", yesterday)["sum"] == 8012
    assert _summary(patient, "active_energy", yesterday)["sum"] == 410
    (steps,) = day_samples(owner=patient, metric="steps", day=today)
    assert steps.start == datetime.datetime(today.year, today.month, today.day, tzinfo=datetime.UTC)
    assert steps.end - steps.start == datetime.timedelta(days=1)

    # The ring counted more steps since: the same day comes back with its new total.
    fake.collections["daily_activity"][1].update(steps=6480, active_calories=230)
    connection = Connection.objects.get(owner=patient)
    second = _run(flow.sync_queue(connection=connection))
    assert second.outcome == SyncRun.Outcome.SUCCEEDED
    call = fake.calls("/v2/usercollection/daily_activity")[-1]
    assert call["start_date"] == (today - datetime.timedelta(days=flow.RECENT_DAYS)).isoformat()
    assert _summary(patient, "steps", today)["sum"] == 6480, "replaced, not 2100 + 6480"
    assert _summary(patient, "steps", today)["count"] == 1
    assert _summary(patient, "active_energy", today)["sum"] == 230
    assert _summary(patient, "steps", yesterday)["sum"] == 8012
    assert second.added == 2 and second.already_present == 3, "two values changed, yesterday's two and a pulse kept"


def test_sleep_periods_give_stages_in_bed_and_hrv_and_spo2_its_average(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    night = timezone.now().date() - datetime.timedelta(days=2)
    bedtime = datetime.datetime(night.year, night.month, night.day, 0, 30, tzinfo=datetime.UTC)
    # 16 five-minute phases: awake, light x3, deep x4, REM x4, light x3, awake.
    fake.collections["sleep"] = [
        sleep_period(bedtime, "4222111133332224", average_hrv=38),
        sleep_period(bedtime + datetime.timedelta(hours=12), "2222", kind="deleted"),
    ]
    fake.collections["daily_spo2"] = [daily_spo2(night, 96.4), daily_spo2(night - datetime.timedelta(days=1), None)]
    run = _run(_connect(patient_client, django_capture_on_commit_callbacks))
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message

    sleep = _summary(patient, "sleep", night)
    # The deleted period, later that day, would have added 20 minutes of light sleep.
    assert sleep["stages"] == {"in_bed": 80, "awake": 10, "core": 30, "deep": 20, "rem": 20}
    assert sleep["sum"] == 70, "minutes asleep: light, deep and REM"
    stages = [(s.start, s.end, s.value) for s in day_samples(owner=patient, metric="sleep", day=night)]
    minutes = datetime.timedelta(minutes=5)
    assert (bedtime + minutes, bedtime + 4 * minutes, 3) in stages, "a run of equal phases is one sample"
    assert len(stages) == 1 + 6, "in bed, then six runs of phases; the deleted period is left out"
    assert _summary(patient, "heart_rate_variability", night)["mean"] == 38
    assert _summary(patient, "oxygen_saturation", night)["mean"] == 96.4
    assert not _summary(patient, "oxygen_saturation", night - datetime.timedelta(days=1))

    # The night comes again with the next syncs (the last days are always asked again): nothing twice.
    again = _run(flow.sync_queue(connection=Connection.objects.get(owner=patient)))
    assert again.outcome == SyncRun.Outcome.SUCCEEDED and again.added == 0
    assert _summary(patient, "sleep", night)["stages"]["deep"] == 20


def test_a_collection_the_patient_did_not_share_is_skipped(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    day = timezone.now().date() - datetime.timedelta(days=1)
    fake.collections["daily_activity"] = [daily_activity(day, steps=5000, active_calories=200, utc_offset="+00:00")]
    fake.collections["daily_spo2"] = [daily_spo2(day, 97.0)]
    fake.refused = {"daily_spo2"}  # spo2Daily left unticked at Oura's consent page
    run = _run(_connect(patient_client, django_capture_on_commit_callbacks))
    connection = Connection.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and connection.status == Connection.Status.CONNECTED
    assert _summary(patient, "steps", day)["sum"] == 5000
    assert not _summary(patient, "oxygen_saturation", day)
    assert len(fake.calls("/v2/usercollection/daily_spo2")) == 1


def test_without_a_registered_client_oura_cannot_be_connected(patient_client, patient, settings):
    settings.OURA_CLIENT_ID, settings.OURA_CLIENT_SECRET = "oura-test", ""
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert "This HealthSpace has not been set up to connect to Oura." in page
    assert reverse("oura:connect") not in page
    response = patient_client.post(reverse("oura:connect"), follow=True)
    assert "The Oura connection is not set up on this HealthSpace." in response.content.decode()
    assert not Connection.objects.filter(owner=patient).exists()
    settings.OURA_CLIENT_SECRET = "oura-secret"
    assert reverse("oura:connect") in patient_client.get(reverse("integrations:index")).content.decode()
