"""A local Oura API v2 for tests: authorize, token (code, refresh), revoke, and the usercollection endpoints
heartrate, daily_activity, sleep and daily_spo2.

There is no public Oura payload with a redistribution licence (see SOURCES.md): the documents are
hand-written in the documented v2 shapes, reduced to the fields HealthSpace reads plus a few others
(`heart_rate(...)`, `daily_activity(...)`, `sleep_period(...)`, `daily_spo2(...)`). Heart rate is
selected by start_datetime/end_datetime, the daily collections by their `day` from start_date to
end_date; all are paged with `next_token`. It records every request; switches make it answer a status
once (429, 500), refuse a collection (403, a scope not shared) or revoke tokens.
"""

import datetime
import secrets

from integrations.tests.fake_oauth import FakeOAuthServer, Reply, bearer

DAILY = ("daily_activity", "sleep", "daily_spo2")


def heart_rates(end: datetime.datetime, count: int = 12) -> list[dict]:
    """Hand-written readings every 5 minutes up to `end` (UTC), 58 + i bpm."""
    return [
        {
            "bpm": 58 + index,
            "source": "awake",
            "timestamp": (end - datetime.timedelta(minutes=5 * (count - 1 - index))).isoformat(),
        }
        for index in range(count)
    ]


def daily_activity(day: datetime.date, *, steps: int, active_calories: int, utc_offset: str = "+01:00") -> dict:
    """A daily_activity document; Oura's activity day starts at 4 in the morning, local time."""
    return {
        "id": secrets.token_hex(8),
        "class_5_min": "0" * 288,
        "score": 82,
        "active_calories": active_calories,
        "average_met_minutes": 1.5,
        "equivalent_walking_distance": int(steps * 0.8),
        "high_activity_time": 0,
        "low_activity_time": 12000,
        "medium_activity_time": 1800,
        "non_wear_time": 600,
        "resting_time": 30000,
        "sedentary_time": 40000,
        "steps": steps,
        "target_calories": 400,
        "total_calories": 2100 + active_calories,
        "day": day.isoformat(),
        "timestamp": f"{day.isoformat()}T04:00:00{utc_offset}",
    }


def sleep_period(
    bedtime_start: datetime.datetime, phases: str, *, average_hrv: int | None = 42, kind: str = "long_sleep"
) -> dict:
    """A sleep document whose hypnogram `phases` (1 deep, 2 light, 3 REM, 4 awake) starts at bedtime_start."""
    bedtime_end = bedtime_start + datetime.timedelta(minutes=5 * len(phases))
    return {
        "id": secrets.token_hex(8),
        "average_breath": 14.5,
        "average_heart_rate": 55.1,
        "average_hrv": average_hrv,
        "awake_time": 300 * phases.count("4"),
        "bedtime_end": bedtime_end.isoformat(),
        "bedtime_start": bedtime_start.isoformat(),
        "day": bedtime_end.date().isoformat(),
        "deep_sleep_duration": 300 * phases.count("1"),
        "efficiency": 90,
        "latency": 600,
        "light_sleep_duration": 300 * phases.count("2"),
        "lowest_heart_rate": 48,
        "period": 0,
        "rem_sleep_duration": 300 * phases.count("3"),
        "sleep_phase_5_min": phases,
        "time_in_bed": 300 * len(phases),
        "total_sleep_duration": 300 * (len(phases) - phases.count("4")),
        "type": kind,
    }


def daily_spo2(day: datetime.date, average: float | None) -> dict:
    return {
        "id": secrets.token_hex(8),
        "day": day.isoformat(),
        "spo2_percentage": None if average is None else {"average": average},
        "breathing_disturbance_index": 3,
    }


class FakeOuraServer(FakeOAuthServer):
    def __init__(self, *, client_id: str = "oura-test", client_secret: str = "oura-secret"):  # noqa: S107
        super().__init__(client_id=client_id, client_secret=client_secret, expires_in=86400)
        self.readings = heart_rates(datetime.datetime.now(datetime.UTC).replace(microsecond=0))
        self.collections: dict[str, list[dict]] = {name: [] for name in DAILY}
        self.revoked: list[str] = []
        # Switches.
        self.page_size = 5
        self.fail_once: list[tuple[int, dict]] = []  # (status, headers) for the next heart-rate calls
        self.refused: set[str] = set()  # collections answered with 403 (a scope the patient did not share)
        self.authorize_url = f"{self.origin}/oauth/authorize"

    def _tokens(self) -> dict:
        access, refresh = self.issue_tokens()
        return {"access_token": access, "refresh_token": refresh, "expires_in": self.expires_in, "token_type": "bearer"}

    def _token(self, form: dict) -> Reply:
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client"})
        if form.get("grant_type") == "authorization_code":
            issued = self.take_code(form.get("code", ""))
            if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
                return Reply(400, {"error": "invalid_grant"})
            return Reply(200, self._tokens())
        if form.get("grant_type") == "refresh_token":
            if not self.spend_refresh_token(form.get("refresh_token", "")):
                return Reply(400, {"error": "invalid_grant"})
            return Reply(200, self._tokens())
        return Reply(400, {"error": "unsupported_grant_type"})

    def _page(self, selected: list[dict], query: dict) -> Reply:
        offset = int(query.get("next_token") or 0)
        more = offset + self.page_size < len(selected)
        body = {"data": selected[offset : offset + self.page_size]}
        return Reply(200, {**body, "next_token": str(offset + self.page_size) if more else None})

    def _collection(self, name: str, query: dict, token: str) -> Reply:
        if name == "heartrate" and self.fail_once:
            status, headers = self.fail_once.pop(0)
            return Reply(status, {"detail": "fail"}, headers)
        if not self.token_valid(token):
            return Reply(401, {"detail": "Unauthorized"})
        if name in self.refused:
            return Reply(403, {"detail": "Forbidden"})
        if name == "heartrate":
            start = datetime.datetime.fromisoformat(query["start_datetime"])
            end = datetime.datetime.fromisoformat(query["end_datetime"])
            return self._page(
                [r for r in self.readings if start <= datetime.datetime.fromisoformat(r["timestamp"]) <= end], query
            )
        if name in DAILY:
            start, end = query["start_date"], query["end_date"]
            return self._page([item for item in self.collections[name] if start <= item["day"] <= end], query)
        return Reply(404, {"detail": "Not Found"})

    def handle(self, method: str, path: str, params: dict, headers) -> Reply:
        if method == "POST":
            return self._token(params) if path == "/oauth/token" else Reply(404, {})
        if path == "/oauth/authorize":
            return self.authorize(params)
        if path == "/oauth/revoke":
            known = params.get("access_token") in self.access_tokens
            if known:
                self.revoked.append(params["access_token"])
                self.revoke_all()
            return Reply(200 if known else 400, {})
        if path.startswith("/v2/usercollection/"):
            return self._collection(path.removeprefix("/v2/usercollection/"), params, bearer(headers))
        return Reply(404, {})
