"""Withings OAuth2 and measure sync against a local fake Withings API serving real Withings payloads."""

import datetime
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import time_machine
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import consent_is_granted
from integrations.exceptions import ProviderError
from integrations.models import Connection, SyncRun
from integrations.providers.withings import flow, mapping
from integrations.providers.withings.tasks import withings_sync_task
from integrations.tests.fake_oauth import expire, refresh_race
from integrations.tests.fake_withings_server import DATA, FakeWithingsServer, load_groups
from records.timeseries import daily_summaries, day_samples

# Until the lead includes these URLs in the project, the tests mount them themselves.

KEPT = {1, 4, 6, 9, 10, 11, 54}
REQUESTED = {1, 4, 5, 6, 8, 9, 10, 11, 54}


def _day(epoch: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).date()


@pytest.fixture
def fake(settings):
    with FakeWithingsServer() as server:
        settings.WITHINGS_CLIENT_ID = server.client_id
        settings.WITHINGS_CLIENT_SECRET = server.client_secret
        settings.WITHINGS_API_BASE = server.origin
        settings.WITHINGS_AUTHORIZE_URL = server.authorize_url
        yield server


def _authorize(client) -> tuple[str, dict]:
    response = client.post(reverse("withings:connect"))
    assert response.status_code == 302, response.content
    return response.url, {key: values[0] for key, values in parse_qs(urlsplit(response.url).query).items()}


def _at_withings(authorize_url: str) -> str:
    """What the patient's browser does at Withings' sign-in page: the callback path and query."""
    response = httpx.get(authorize_url, follow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    return f"{location.path}?{location.query}"


def _connect(client, capture) -> SyncRun:
    authorize_url, _params = _authorize(client)
    with capture(execute=False) as callbacks:
        response = client.get(_at_withings(authorize_url))
    run = SyncRun.objects.latest("id")
    assert response.status_code == 302 and response.url == reverse("integrations:run", args=[run.public_id])
    assert len(callbacks) == 1, "the first sync is queued after commit"
    return run


def _run(run: SyncRun) -> SyncRun:
    withings_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    return run


def _sync(connection: Connection) -> SyncRun:
    return _run(flow.sync_queue(connection=connection))


def test_connect_imports_the_real_measures_then_syncs_only_changes(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    fake.page_size = 10
    fake.activities = []  # measures only here: activity and sleep have tests of their own
    authorize_url, params = _authorize(patient_client)
    assert authorize_url.startswith(f"{fake.authorize_url}?")
    assert params["client_id"] == fake.client_id and params["response_type"] == "code"
    assert params["scope"] == "user.metrics,user.activity" and len(params["state"]) == 43
    assert params["redirect_uri"].endswith(reverse("withings:callback"))

    with django_capture_on_commit_callbacks(execute=False):
        response = patient_client.get(_at_withings(authorize_url))
    connection = Connection.objects.get(owner=patient, provider="withings")
    run = SyncRun.objects.get(connection=connection)
    assert response.url == reverse("integrations:run", args=[run.public_id])
    assert connection.status == Connection.Status.CONNECTED and "pending" not in connection.credentials
    assert connection.credentials["access_token"] in fake.access_tokens
    assert connection.credentials["userid"] == fake.userid
    assert consent_is_granted(user=patient, purpose="source:withings")
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [connection.pk])
        (raw,) = cursor.fetchone()
    assert raw.startswith("gAAAAA")
    assert connection.credentials["access_token"] not in raw and connection.credentials["refresh_token"] not in raw

    run = _run(run)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    groups = load_groups()
    kept = [m for g in groups for m in g["measures"] if m["type"] in KEPT]
    assert run.read == len(kept) and run.rejected == 0
    assert run.added + run.already_present == run.read and run.added > 0

    # The real Body+ reading: 118003 x 10^-3 kg on 2023-09-02.
    envelope = json.loads((DATA / "measurement.json").read_text())
    group = envelope["body"]["measuregrps"][0]
    ((day, summary),) = daily_summaries(
        owner=patient, metric="weight", start=_day(group["date"]), end=_day(group["date"])
    )
    assert summary["last"] == 118.003 and day == datetime.date(2023, 9, 2)
    # Every weight, body fat and pulse of the Body Scan, value x 10^unit, in the store.
    for kind, metric in ((1, "weight"), (6, "body_fat"), (11, "heart_rate")):
        expected = {}
        for g in sorted(groups, key=lambda g: g["date"]):
            for m in g["measures"]:
                if m["type"] == kind:
                    expected[_day(g["date"])] = float(Decimal(m["value"]).scaleb(m["unit"]))
        stored = daily_summaries(owner=patient, metric=metric, start=min(expected), end=max(expected))
        assert {d: s["count"] > 0 for d, s in stored} == dict.fromkeys(expected, True), metric
        if metric != "heart_rate":
            assert {d: s["last"] for d, s in stored} == pytest.approx(expected), metric
    assert daily_summaries(owner=patient, metric="heart_rate", start=_day(1703523863), end=_day(1703523863))[0][1][
        "mean"
    ] == pytest.approx(120)

    calls = fake.calls("/measure", "getmeas")
    assert len(calls) >= 3, "the groups came in pages of 10 through more/offset"
    assert [c.get("offset") for c in calls] == [None, *(str(10 * n) for n in range(1, len(calls)))]
    assert all(set(map(int, c["meastypes"].split(","))) == REQUESTED and "lastupdate" not in c for c in calls)
    connection.refresh_from_db()
    assert connection.cursor["lastupdate"] == fake.updatetime and connection.last_sync_at

    before = len(fake.calls("/measure"))
    second = _sync(connection)
    assert second.outcome == SyncRun.Outcome.SUCCEEDED and (second.read, second.added) == (0, 0)
    (call,) = fake.calls("/measure")[before:]
    assert call["lastupdate"] == str(fake.updatetime)

    # A reading Withings changed later comes back alone and is already present.
    fake.groups[0]["modified"] = fake.updatetime + 100
    third = _sync(connection)
    assert (third.read, third.added, third.already_present) == (1, 0, 1)
    connection.refresh_from_db()
    assert connection.cursor["lastupdate"] == fake.updatetime


def test_a_replayed_state_or_another_users_state_is_refused(
    client, patient, other_patient, fake, django_capture_on_commit_callbacks
):
    client.force_login(patient)
    authorize_url, _params = _authorize(client)
    callback = _at_withings(authorize_url)

    client.force_login(other_patient)
    response = client.get(callback, follow=True)
    assert "expired or was already used" in response.content.decode()
    assert not Connection.objects.filter(owner=other_patient).exists()

    client.force_login(patient)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.get(callback).status_code == 302
    token = Connection.objects.get(owner=patient).credentials["access_token"]
    response = client.get(callback, follow=True)
    assert "expired or was already used" in response.content.decode()
    assert Connection.objects.get(owner=patient).credentials["access_token"] == token
    assert SyncRun.objects.filter(owner=patient).count() == 1
    assert len(fake.calls("/v2/oauth2", "requesttoken")) == 1, "the replayed code was never sent"


def test_consent_denied_at_withings_stores_nothing(patient_client, patient, fake):
    fake.deny = True
    authorize_url, _params = _authorize(patient_client)
    response = patient_client.get(_at_withings(authorize_url), follow=True)
    assert "You did not allow HealthSpace to read your Withings data" in response.content.decode()
    assert not Connection.objects.filter(owner=patient).exists()
    assert not consent_is_granted(user=patient, purpose="source:withings")


def test_an_expired_token_is_refreshed_once_before_a_sync(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    connection = Connection.objects.get(owner=patient)
    old = connection.credentials
    expire(connection)
    run = _run(run)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and fake.refresh_calls == 1
    connection.refresh_from_db()
    assert connection.credentials["access_token"] != old["access_token"]
    assert connection.credentials["refresh_token"] != old["refresh_token"], "the rotated refresh token is kept"
    assert datetime.datetime.fromisoformat(connection.credentials["expires_at"]) > timezone.now()
    (refresh,) = fake.calls("/v2/oauth2", "requesttoken")[1:]
    assert refresh["grant_type"] == "refresh_token" and refresh["refresh_token"] == old["refresh_token"]


@pytest.mark.postgres
def test_an_expired_token_is_refreshed_once_when_ten_workers_race(transactional_db, require_postgres, patient, fake):
    # Through the services, not the callback view: with no test transaction, its queued sync would be sent.
    redirect_uri = "http://testserver/connections/withings/callback/"
    authorize_url, state = flow.authorization_start(user=patient, redirect_uri=redirect_uri)
    code = parse_qs(urlsplit(_at_withings(authorize_url)).query)["code"][0]
    connection = flow.authorization_complete(user=patient, state=state, code=code, redirect_uri=redirect_uri)
    old_token = connection.credentials["access_token"]
    expire(connection)
    fake.refresh_delay = 0.3
    tokens, errors = refresh_race(connection, flow.token_refresh)
    assert errors == []
    assert fake.refresh_calls == 1, "one refresh: Withings rotates refresh tokens"
    assert len(tokens) == 10 and len(set(tokens)) == 1 and old_token not in tokens


def test_a_revoked_token_needs_the_patient_and_stops_syncing(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    fake.revoke_all()  # the patient removed HealthSpace at Withings: status 401 from now on
    run = _run(run)
    connection = Connection.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "access_revoked" and run.attempts == 1
    assert "Connect again" in run.error_message and connection.credentials["access_token"] not in run.error_message
    assert connection.status == Connection.Status.NEEDS_ATTENTION and connection.attention_code == "access_revoked"
    assert connection.cursor is None

    calls = len(fake.requests)
    later = _sync(connection)
    assert later.outcome == SyncRun.Outcome.FAILED and "Connect again" in later.error_message
    assert len(fake.requests) == calls, "no more calls once the grant is revoked"


def test_a_revoked_refresh_token_needs_the_patient(patient_client, patient, fake, django_capture_on_commit_callbacks):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    connection = Connection.objects.get(owner=patient)
    expire(connection)
    fake.revoke_all()
    run = _run(run)
    connection.refresh_from_db()
    assert run.error_code == "access_revoked" and connection.status == Connection.Status.NEEDS_ATTENTION
    assert fake.refresh_calls == 1 and fake.calls("/measure") == []
    with pytest.raises(ProviderError) as raised:
        flow.token_refresh(connection=connection)
    assert raised.value.permanent and fake.refresh_calls == 2


def test_too_many_requests_601_is_retried_by_the_task(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    fake.fail_once = [601]
    run = _run(run)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.attempts == 2 and run.added > 0
    connection = Connection.objects.get(owner=patient)
    assert connection.status == Connection.Status.CONNECTED and connection.cursor["lastupdate"] == fake.updatetime


def test_601_every_time_fails_the_run_without_moving_the_cursor(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    fake.fail_once = [601] * flow.SYNC_ATTEMPTS
    run = _run(run)
    connection = Connection.objects.get(owner=patient)
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "rate_limited"
    assert run.attempts == flow.SYNC_ATTEMPTS and connection.status == Connection.Status.CONNECTED
    assert connection.cursor is None


def test_connection_revoke_calls_withings_with_a_signed_nonce(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    _connect(patient_client, django_capture_on_commit_callbacks)
    connection = Connection.objects.get(owner=patient)
    assert flow.connection_revoke(connection) is True
    (nonce_call,) = fake.calls("/v2/signature", "getnonce")
    (revoke,) = fake.calls("/v2/oauth2", "revoke")
    assert revoke["userid"] == fake.userid and revoke["client_id"] == fake.client_id and "client_secret" not in revoke
    assert nonce_call["client_id"] == fake.client_id and fake.revoked_users == [fake.userid]
    assert fake.access_tokens == {}, "the grant is gone at Withings"

    fake.client_secret = "rotated"  # a bad signature: refused, reported as False, never raised
    assert flow.connection_revoke(connection) is False


def test_mapping_converts_every_kept_type_and_skips_the_others():
    # Hand-written group (the real payloads have no blood pressure, height or SpO2): a BPM Core style reading.
    group = {
        "date": 1700000000,
        "measures": [
            {"value": 128, "type": 10, "unit": 0},
            {"value": 82, "type": 9, "unit": 0},
            {"value": 64, "type": 11, "unit": 0},
            {"value": 1780, "type": 4, "unit": -3},
            {"value": 97, "type": 54, "unit": 0},
            {"value": 21450, "type": 6, "unit": -3},
            {"value": 52000, "type": 5, "unit": -3},
            {"value": 7, "type": 999, "unit": 0},
        ],
    }
    stats = mapping.MeasureStats()
    samples = mapping.measure_samples([group], stats)
    got = {sample.metric: (sample.value, sample.unit) for sample in samples}
    assert got == {
        "blood_pressure_systolic": (128.0, "mmHg"),
        "blood_pressure_diastolic": (82.0, "mmHg"),
        "heart_rate": (64.0, "bpm"),
        "height": (pytest.approx(178.0), "cm"),
        "oxygen_saturation": (97.0, "%"),
        "body_fat": (21.45, "%"),
    }
    assert all(s.start == s.end == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.UTC) for s in samples)
    assert all(s.source == "Withings" for s in samples)
    assert (stats.read, stats.skipped, stats.rejected) == (8, 2, 0) and stats.skipped_types == {5: 1, 999: 1}
    assert mapping.measure_value(118003, -3) == 118.003


def test_disconnect_revokes_at_withings(patient_client, patient, fake, django_capture_on_commit_callbacks):
    from integrations.services import connection_disconnect

    _connect(patient_client, django_capture_on_commit_callbacks)
    connection = connection_disconnect(user=patient, connection=Connection.objects.get(owner=patient))
    assert connection.status == Connection.Status.DISCONNECTED and connection.credentials is None
    assert fake.revoked_users == [fake.userid]


def _sums(owner, metric: str, day: datetime.date) -> dict:
    return dict(daily_summaries(owner=owner, metric=metric, start=day, end=day)).get(day, {})


def test_activity_days_are_whole_day_totals_replaced_as_they_grow(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    run = _run(_connect(patient_client, django_capture_on_commit_callbacks))
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
    (first_call,) = fake.calls("/v2/measure", "getactivity")
    assert first_call["lastupdate"] == "0", "the first sync asks for every day"
    # The real days are Europe/Amsterdam days (UTC+2): a whole-day total is filed under its own date,
    # not under the UTC day its local midnight falls in (the 19th for the 20th).
    for activity in fake.activities:
        filed = datetime.date.fromisoformat(activity["date"])
        (steps,) = [s for s in day_samples(owner=patient, metric="steps", day=filed) if s.value == activity["steps"]]
        assert steps.start == datetime.datetime(filed.year, filed.month, filed.day, tzinfo=datetime.UTC)
        assert steps.end - steps.start == datetime.timedelta(days=1)
        assert _sums(patient, "steps", filed)["sum"] == activity["steps"]
        assert _sums(patient, "distance", filed)["sum"] == pytest.approx(activity["distance"])
        assert _sums(patient, "active_energy", filed)["sum"] == pytest.approx(activity["calories"])

    # Later that day the tracker counted more: Withings sends the day again, with its new total.
    today = fake.activities[-1]
    filed = datetime.date.fromisoformat(today["date"])
    today.update(steps=today["steps"] + 2345, modified=today["modified"] + 3600)
    connection = Connection.objects.get(owner=patient)
    second = _sync(connection)
    assert fake.calls("/v2/measure", "getactivity")[-1]["lastupdate"] == str(today["modified"] - 3600)
    assert (second.read, second.already_present) == (3, 2) and second.added == 1, "steps replaced, the rest kept"
    assert _sums(patient, "steps", filed)["sum"] == today["steps"], "the day's total replaces, never adds"
    assert _sums(patient, "steps", filed)["count"] == 1
    connection.refresh_from_db()
    assert connection.cursor["activity"] == today["modified"]


def _utc_day(epoch: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).date()


STAGE_OF_STATE = {0: "awake", 1: "core", 2: "deep", 3: "rem"}


def test_sleep_nights_come_with_their_stages_then_only_changed_nights(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    fake.groups, fake.activities = [], []  # sleep only here
    # The real nights end in April 2021: the first sync, on 2021-04-26, reaches back 90 days.
    with time_machine.travel(datetime.datetime(2021, 4, 26, 12, tzinfo=datetime.UTC)):
        run = _run(_connect(patient_client, django_capture_on_commit_callbacks))
        assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error_message
        summary_calls = fake.calls("/v2/sleep", "getsummary")
        assert len(summary_calls) == 3, "50 nights in pages of 20"
        assert {(c["startdateymd"], c["enddateymd"]) for c in summary_calls} == {("2021-01-26", "2021-04-26")}
        nights = [night for night in fake.nights if night["date"] <= "2021-04-26"]
        fake.nights = nights  # what Withings holds on that day
        gets = fake.calls("/v2/sleep", "get")
        assert sorted((int(c["startdate"]), int(c["enddate"])) for c in gets) == sorted(
            (night["startdate"], night["enddate"]) for night in nights
        ), "one stages call per night, bounded by the night"
        assert run.read == len(nights) + len(fake.segments) and run.rejected == 0

        # Each UTC day holds the stages of the segments that start on it, and the in-bed periods.
        days = {_utc_day(segment["startdate"]) for segment in fake.segments}
        for day in days:
            summary = _sums(patient, "sleep", day)
            expected = {}
            for segment in fake.segments:
                if _utc_day(segment["startdate"]) == day:
                    stage = STAGE_OF_STATE[segment["state"]]
                    expected[stage] = expected.get(stage, 0) + (segment["enddate"] - segment["startdate"]) / 60
            in_bed = sum(n["enddate"] - n["startdate"] for n in nights if _utc_day(n["startdate"]) == day) / 60
            assert summary["stages"] == pytest.approx({**expected, "in_bed": in_bed}), day
            asleep = sum(minutes for stage, minutes in expected.items() if stage != "awake")
            assert summary["sum"] == pytest.approx(asleep), day

        connection = Connection.objects.get(owner=patient)
        assert connection.cursor["sleep"] == max(night["modified"] for night in nights)
        # Nothing changed: one summary call by lastupdate, no stages call.
        second = _sync(connection)
        assert second.outcome == SyncRun.Outcome.SUCCEEDED and second.read == 0
        assert fake.calls("/v2/sleep", "getsummary")[-1]["lastupdate"] == str(connection.cursor["sleep"])
        assert len(fake.calls("/v2/sleep", "get")) == len(nights)

        # Withings scored one night again: only that night comes back, already stored.
        night = next(n for n in nights if n["date"] == "2021-04-20")
        night["modified"] = connection.cursor["sleep"] + 60
        third = _sync(connection)
        segments = [s for s in fake.segments if night["startdate"] <= s["startdate"] < night["enddate"]]
        assert (third.read, third.added, third.already_present) == (1 + len(segments), 0, 1 + len(segments))
        assert len(fake.calls("/v2/sleep", "get")) == len(nights) + 1


def test_sleep_mapping_refuses_unknown_states_and_bad_nights():
    stats = mapping.MeasureStats()
    samples = mapping.sleep_samples(
        [
            {"startdate": 1618691453, "enddate": 1618691573, "state": 3},
            {"startdate": 1618691573, "enddate": 1618691633, "state": 9},
            {"startdate": 1618691633, "enddate": 1618691573, "state": 1},
        ],
        stats,
    )
    assert [(s.metric, s.value, (s.end - s.start).seconds) for s in samples] == [("sleep", 5, 120)]
    assert (stats.read, stats.rejected) == (3, 2), "an unknown state and a segment ending before it starts"
    assert mapping.in_bed_sample({"startdate": "x"}, stats) == [] and stats.rejected == 3


@pytest.mark.parametrize(("client_id", "client_secret"), [("", ""), ("withings-test", "")])
def test_without_a_registered_client_withings_cannot_be_connected(
    patient_client, patient, settings, client_id, client_secret
):
    settings.WITHINGS_CLIENT_ID, settings.WITHINGS_CLIENT_SECRET = client_id, client_secret
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert "This HealthSpace has not been set up to connect to Withings." in page
    assert reverse("withings:connect") not in page
    response = patient_client.post(reverse("withings:connect"), follow=True)
    assert "The Withings connection is not set up on this HealthSpace." in response.content.decode()
    assert not Connection.objects.filter(owner=patient).exists()


def test_with_a_registered_client_withings_offers_connect(patient_client, fake):
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert reverse("withings:connect") in page and "not been set up to connect to Withings" not in page


def test_beat_refreshes_tokens_ahead_of_their_expiry_and_leaves_fresh_ones(
    patient_client, patient, fake, django_capture_on_commit_callbacks
):
    from integrations.tasks import tokens_refresh_due_task

    _run(_connect(patient_client, django_capture_on_commit_callbacks))
    connection = Connection.objects.get(owner=patient)
    assert tokens_refresh_due_task() == 0 and fake.refresh_calls == 0  # a fresh token is left alone

    credentials = dict(connection.credentials)
    credentials["expires_at"] = (timezone.now() + datetime.timedelta(minutes=20)).isoformat()
    Connection.objects.filter(pk=connection.pk).update(credentials=credentials)
    old_token = credentials["access_token"]

    assert tokens_refresh_due_task() == 1 and fake.refresh_calls == 1
    connection.refresh_from_db()
    assert connection.credentials["access_token"] != old_token
    assert datetime.datetime.fromisoformat(connection.credentials["expires_at"]) > timezone.now() + datetime.timedelta(
        hours=1
    )
    assert tokens_refresh_due_task() == 0 and fake.refresh_calls == 1  # done: nothing more until it nears expiry
