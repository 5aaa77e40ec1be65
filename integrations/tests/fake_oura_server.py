"""A local Oura API v2 for tests: authorize, token (code, refresh), revoke and usercollection/heartrate.

There is no public Oura payload with a redistribution licence (see SOURCES.md): the heart-rate
documents are hand-written in the documented v2 shape {"bpm", "source", "timestamp"}, paged with
`next_token`. It records every request; switches make it answer a status once (429, 500) or revoke tokens.
"""

import datetime
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


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


class FakeOuraServer:
    def __init__(self, *, client_id: str = "oura-test", client_secret: str = "oura-secret"):  # noqa: S107
        self.client_id, self.client_secret = client_id, client_secret
        self.readings = heart_rates(datetime.datetime.now(datetime.UTC).replace(microsecond=0))
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict]] = []
        self.codes: dict[str, str] = {}
        self.access_tokens: dict[str, float] = {}
        self.refresh_tokens: set[str] = set()
        self.refresh_calls = 0
        self.revoked: list[str] = []
        self.page_size = 5
        self.fail_once: list[tuple[int, dict]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.authorize_url = f"{self.origin}/oauth/authorize"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def calls(self, path: str) -> list[dict]:
        with self.lock:
            return [query for _method, p, query in self.requests if p == path]

    def revoke_all(self) -> None:
        with self.lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()

    def _issue(self) -> dict:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[access] = time.time() + 86400
        self.refresh_tokens.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "expires_in": 86400, "token_type": "bearer"}

    def _token(self, form: dict) -> tuple[int, dict]:
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "authorization_code":
            if self.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant"}
            return 200, self._issue()
        if form.get("grant_type") == "refresh_token":
            self.refresh_calls += 1
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, {"error": "invalid_grant"}
            self.refresh_tokens.discard(form["refresh_token"])
            return 200, self._issue()
        return 400, {"error": "unsupported_grant_type"}

    def _heartrate(self, query: dict, token: str) -> tuple[int, dict]:
        if self.access_tokens.get(token, 0) < time.time():
            return 401, {"detail": "Unauthorized"}
        start = datetime.datetime.fromisoformat(query["start_datetime"])
        end = datetime.datetime.fromisoformat(query["end_datetime"])
        selected = [r for r in self.readings if start <= datetime.datetime.fromisoformat(r["timestamp"]) <= end]
        offset = int(query.get("next_token") or 0)
        page = selected[offset : offset + self.page_size]
        more = offset + self.page_size < len(selected)
        return 200, {"data": page, "next_token": str(offset + self.page_size) if more else None}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                with fake.lock:
                    fake.requests.append(("GET", url.path, query))
                    if url.path == "/oauth/authorize":
                        code = secrets.token_urlsafe(16)
                        fake.codes[code] = query["redirect_uri"]
                        self.send_response(302)
                        params = urlencode({"code": code, "state": query.get("state", "")})
                        self.send_header("Location", f"{query['redirect_uri']}?{params}")
                        self.end_headers()
                        return
                    if url.path == "/oauth/revoke":
                        known = query.get("access_token") in fake.access_tokens
                        if known:
                            fake.revoked.append(query["access_token"])
                            fake.revoke_all()
                        self._send_json(200 if known else 400, {})
                        return
                    if url.path == "/v2/usercollection/heartrate":
                        if fake.fail_once:
                            status, headers = fake.fail_once.pop(0)
                            self._send_json(status, {"detail": "fail"}, headers)
                            return
                        self._send_json(*fake._heartrate(query, token))
                        return
                self._send_json(404, {})

            def do_POST(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                with fake.lock:
                    fake.requests.append(("POST", url.path, form))
                    if url.path == "/oauth/token":
                        self._send_json(*fake._token(form))
                        return
                self._send_json(404, {})

        return Handler
