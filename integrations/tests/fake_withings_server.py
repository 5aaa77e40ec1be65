"""A local Withings API for tests: authorize, tokens (requesttoken, refresh, revoke with signed nonce), getmeas,
getactivity, sleep getsummary and sleep get.

It serves real Withings payloads (data/withings/): the measure groups filtered by `meastypes` and
`lastupdate`, the activity days and sleep nights by `lastupdate` (their `modified`) or by date, all
paged with `more`/`offset`, and the sleep segments of a window (24 hours at most, as Withings does),
wrapped as Withings does (`{"status": 0, "body": ...}`). It records every request; switches make it
answer a Withings status once (601, 401...) or revoke tokens.
"""

import copy
import hashlib
import hmac
import json
import secrets
from pathlib import Path

from integrations.tests.fake_oauth import FakeOAuthServer, Reply, bearer

DATA = Path(__file__).resolve().parent / "data" / "withings"


def load_body(name: str) -> dict:
    """The `body` of one of the real Withings answers in data/withings/."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))["body"]


def load_groups() -> list[dict]:
    """The measure groups of measurement.json (2, Body+) then measurement_list_2.json (34, Body Scan)."""
    envelope = json.loads((DATA / "measurement.json").read_text(encoding="utf-8"))
    more = json.loads((DATA / "measurement_list_2.json").read_text(encoding="utf-8"))
    return envelope["body"]["measuregrps"] + more


class FakeWithingsServer(FakeOAuthServer):
    """Start with `with FakeWithingsServer() as fake:`; point WITHINGS_API_BASE at `fake.origin`."""

    def __init__(self, *, client_id: str = "withings-test", client_secret: str = "withings-secret"):  # noqa: S107
        super().__init__(client_id=client_id, client_secret=client_secret, expires_in=10800)
        self.userid = "363"
        self.groups = load_groups()
        self.activities = load_body("activity.json")["activities"]
        self.nights = load_body("sleep_summary.json")["series"]
        self.segments = load_body("sleep.json")["series"]
        self.nonces: set[str] = set()
        self.revoked_users: list[str] = []
        # Switches.
        self.page_size = 20
        self.fail_once: list[int] = []  # Withings statuses for the next getmeas calls
        self.authorize_url = f"{self.origin}/oauth2_user/authorize2"

    # -- what tests look at ---------------------------------------------------------------------

    def calls(self, path: str, action: str = "") -> list[dict]:
        return [params for params in super().calls(path) if not action or params.get("action") == action]

    @property
    def updatetime(self) -> int:
        return max((group["modified"] for group in self.groups), default=0)

    # -- the HTTP side --------------------------------------------------------------------------

    def _signature(self, *parts: str) -> str:
        return hmac.new(self.client_secret.encode(), ",".join(parts).encode(), hashlib.sha256).hexdigest()

    def _tokens(self) -> dict:
        access, refresh = self.issue_tokens()
        return {
            "userid": self.userid,
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.expires_in,
            "scope": "user.metrics,user.activity",
            "csrf_token": "x",
            "token_type": "Bearer",
        }

    def _oauth2(self, form: dict) -> tuple[int, dict]:
        if form.get("action") == "revoke":
            expected = self._signature("revoke", form.get("client_id", ""), form.get("nonce", ""))
            if form.get("nonce") not in self.nonces or not hmac.compare_digest(expected, form.get("signature", "")):
                return 503, {}
            self.nonces.discard(form["nonce"])
            self.revoked_users.append(form.get("userid", ""))
            self.revoke_all()
            return 0, {}
        if form.get("action") != "requesttoken":
            return 2554, {}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 503, {}
        if form.get("grant_type") == "authorization_code":
            issued = self.take_code(form.get("code", ""))
            if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
                return 503, {}
            return 0, self._tokens()
        if form.get("grant_type") == "refresh_token":
            if not self.spend_refresh_token(form.get("refresh_token", "")):
                return 503, {}
            return 0, self._tokens()
        return 503, {}

    def _paged(self, form: dict, key: str, items: list[dict], **extra) -> dict:
        offset = int(form.get("offset") or 0)
        body = {key: copy.deepcopy(items[offset : offset + self.page_size]), **extra}
        more = offset + self.page_size < len(items)
        body.update(more=more, offset=offset + self.page_size if more else 0)
        return body

    def _getmeas(self, form: dict) -> tuple[int, dict]:
        types = {int(kind) for kind in form.get("meastypes", "").split(",") if kind}
        lastupdate = int(form.get("lastupdate") or 0)
        selected = []
        for group in self.groups:
            if group["modified"] <= lastupdate:
                continue
            measures = [measure for measure in group["measures"] if not types or measure["type"] in types]
            if measures:
                selected.append({**group, "measures": measures})
        body = self._paged(form, "measuregrps", selected, updatetime=self.updatetime, timezone="Europe/Amsterdam")
        body["more"] = int(body["more"])
        return 0, body

    @staticmethod
    def _changed(items: list[dict], form: dict) -> list[dict] | None:
        """Items modified after `lastupdate`, or of a day from startdateymd to enddateymd; None if neither."""
        if form.get("lastupdate"):
            return [item for item in items if item["modified"] > int(form["lastupdate"])]
        if form.get("startdateymd") and form.get("enddateymd"):
            return [item for item in items if form["startdateymd"] <= item["date"] <= form["enddateymd"]]
        return None

    def _sleep_get(self, form: dict) -> tuple[int, dict]:
        try:
            start, end = int(form["startdate"]), int(form["enddate"])
        except (KeyError, ValueError):
            return 503, {}
        end = min(end, start + 86400)  # Withings serves at most 24 hours a call
        series = [segment for segment in self.segments if start <= segment["startdate"] < end]
        return 0, {"series": copy.deepcopy(series), "model": 32}

    def _api(self, path: str, form: dict, token: str) -> tuple[int, dict]:
        if path == "/v2/oauth2":
            return self._oauth2(form)
        if path == "/v2/signature" and form.get("action") == "getnonce":
            expected = self._signature("getnonce", form.get("client_id", ""), form.get("timestamp", ""))
            if not hmac.compare_digest(expected, form.get("signature", "")):
                return 503, {}
            nonce = secrets.token_hex(16)
            self.nonces.add(nonce)
            return 0, {"nonce": nonce}
        if path == "/measure" and self.fail_once:
            return self.fail_once.pop(0), {}
        if not self.token_valid(token):
            return 401, {}
        action = (path, form.get("action"))
        if action == ("/measure", "getmeas"):
            return self._getmeas(form)
        if action == ("/v2/measure", "getactivity"):
            changed = self._changed(self.activities, form)
            return (503, {}) if changed is None else (0, self._paged(form, "activities", changed))
        if action == ("/v2/sleep", "getsummary"):
            changed = self._changed(self.nights, form)
            return (503, {}) if changed is None else (0, self._paged(form, "series", changed))
        if action == ("/v2/sleep", "get"):
            return self._sleep_get(form)
        return 2554, {}

    def handle(self, method: str, path: str, params: dict, headers) -> Reply:
        if method == "GET":
            if path != "/oauth2_user/authorize2" or params.get("client_id") != self.client_id:
                return Reply(404)
            return self.authorize(params)
        status, body = self._api(path, params, bearer(headers))
        return Reply(200, {"status": status, "body": body})  # Withings answers 200, the error in `status`
