"""A local Withings API for tests: authorize, tokens (requesttoken, refresh, revoke with signed nonce) and getmeas.

It serves the measure groups of real Withings payloads (data/withings/), filtered by `meastypes` and
`lastupdate` and paged with `more`/`offset`, wrapped as Withings does (`{"status": 0, "body": ...}`).
It records every request; switches make it answer a Withings status once (601, 401...) or revoke tokens.
"""

import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

DATA = Path(__file__).resolve().parent / "data" / "withings"


def load_groups() -> list[dict]:
    """The measure groups of measurement.json (2, Body+) then measurement_list_2.json (34, Body Scan)."""
    envelope = json.loads((DATA / "measurement.json").read_text(encoding="utf-8"))
    more = json.loads((DATA / "measurement_list_2.json").read_text(encoding="utf-8"))
    return envelope["body"]["measuregrps"] + more


class FakeWithingsServer:
    """Start with `with FakeWithingsServer() as fake:`; point WITHINGS_API_BASE at `fake.origin`."""

    def __init__(self, *, client_id: str = "withings-test", client_secret: str = "withings-secret"):  # noqa: S107
        self.client_id = client_id
        self.client_secret = client_secret
        self.userid = "363"
        self.groups = load_groups()
        self.lock = threading.RLock()
        self.requests: list[tuple[str, dict]] = []  # (path, form or query)
        self.codes: dict[str, str] = {}  # code -> redirect_uri
        self.access_tokens: dict[str, float] = {}  # token -> expiry
        self.refresh_tokens: set[str] = set()
        self.nonces: set[str] = set()
        self.refresh_calls = 0
        self.revoked_users: list[str] = []
        # Switches.
        self.deny = False
        self.expires_in = 10800
        self.refresh_delay = 0.0  # seconds a refresh takes (to make concurrent workers wait on it)
        self.page_size = 20
        self.fail_once: list[int] = []  # Withings statuses for the next getmeas calls
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.authorize_url = f"{self.origin}/oauth2_user/authorize2"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # -- what tests look at ---------------------------------------------------------------------

    def calls(self, path: str, action: str = "") -> list[dict]:
        with self.lock:
            return [form for p, form in self.requests if p == path and (not action or form.get("action") == action)]

    def revoke_all(self) -> None:
        with self.lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()

    @property
    def updatetime(self) -> int:
        return max(group["modified"] for group in self.groups)

    # -- the HTTP side --------------------------------------------------------------------------

    def _signature(self, *parts: str) -> str:
        return hmac.new(self.client_secret.encode(), ",".join(parts).encode(), hashlib.sha256).hexdigest()

    def _issue_tokens(self) -> dict:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[access] = time.time() + self.expires_in
        self.refresh_tokens.add(refresh)
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
            if self.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
                return 503, {}
            return 0, self._issue_tokens()
        if form.get("grant_type") == "refresh_token":
            self.refresh_calls += 1
            if form.get("refresh_token") not in self.refresh_tokens:
                return 503, {}
            self.refresh_tokens.discard(form["refresh_token"])  # Withings rotates refresh tokens
            return 0, self._issue_tokens()
        return 503, {}

    def _getmeas(self, form: dict, token: str) -> tuple[int, dict]:
        if self.fail_once:
            return self.fail_once.pop(0), {}
        if self.access_tokens.get(token, 0) < time.time():
            return 401, {}
        if form.get("action") != "getmeas":
            return 2554, {}
        types = {int(kind) for kind in form.get("meastypes", "").split(",") if kind}
        lastupdate = int(form.get("lastupdate") or 0)
        selected = []
        for group in self.groups:
            if group["modified"] <= lastupdate:
                continue
            measures = [measure for measure in group["measures"] if not types or measure["type"] in types]
            if measures:
                selected.append({**copy.deepcopy(group), "measures": copy.deepcopy(measures)})
        offset = int(form.get("offset") or 0)
        page = selected[offset : offset + self.page_size]
        more = offset + self.page_size < len(selected)
        body = {"updatetime": self.updatetime, "timezone": "Europe/Amsterdam", "measuregrps": page}
        if more:
            body.update(more=1, offset=offset + self.page_size)
        else:
            body.update(more=0, offset=0)
        return 0, body

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send_json(self, status: int, body: dict) -> None:
                data = json.dumps({"status": status, "body": body}).encode("utf-8")
                self.send_response(200)  # Withings answers 200 and puts the error in `status`
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                with fake.lock:
                    fake.requests.append((url.path, query))
                if url.path != "/oauth2_user/authorize2" or query.get("client_id") != fake.client_id:
                    self.send_response(404)
                    self.end_headers()
                    return
                if fake.deny:
                    params = {"error": "access_denied", "state": query.get("state", "")}
                else:
                    code = secrets.token_urlsafe(16)
                    with fake.lock:
                        fake.codes[code] = query["redirect_uri"]
                    params = {"code": code, "state": query.get("state", "")}
                self.send_response(302)
                self.send_header("Location", f"{query['redirect_uri']}?{urlencode(params)}")
                self.end_headers()

            def do_POST(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if form.get("grant_type") == "refresh_token":
                    time.sleep(fake.refresh_delay)
                with fake.lock:
                    fake.requests.append((url.path, form))
                    if url.path == "/v2/oauth2":
                        status, body = fake._oauth2(form)
                    elif url.path == "/v2/signature" and form.get("action") == "getnonce":
                        expected = fake._signature("getnonce", form.get("client_id", ""), form.get("timestamp", ""))
                        if hmac.compare_digest(expected, form.get("signature", "")):
                            nonce = secrets.token_hex(16)
                            fake.nonces.add(nonce)
                            status, body = 0, {"nonce": nonce}
                        else:
                            status, body = 503, {}
                    elif url.path == "/measure":
                        status, body = fake._getmeas(form, token)
                    else:
                        status, body = 2554, {}
                self._send_json(status, body)

        return Handler
