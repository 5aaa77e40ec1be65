"""What the fake OAuth2 API servers of the tests share: a local HTTP server, a request log, codes and tokens.

A fake subclasses `FakeOAuthServer` and answers in `handle`; the base records every request as
(method, path, query or form), issues codes at its authorize page (or the `access_denied` error
when `deny` is set), and keeps access tokens with their expiry and single-use (rotated) refresh tokens.
The tests of each source share `expire` and `refresh_race` for the token side of their connections.
"""

import datetime
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

from django.db import connections
from django.utils import timezone

from integrations.models import Connection


class Reply(NamedTuple):
    status: int
    body: dict | None = None
    headers: dict | None = None


class FakeOAuthServer:
    """Start with `with FakeX() as fake:`; `fake.origin` is its base URL."""

    content_type = "application/json"

    def __init__(self, *, client_id: str, client_secret: str, expires_in: int):
        self.client_id, self.client_secret = client_id, client_secret
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, query or form)
        self.codes: dict[str, dict] = {}  # code -> what the authorize request said
        self.access_tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.refresh_tokens: set[str] = set()
        self.refresh_calls = 0
        # Switches.
        self.deny = False
        self.expires_in = expires_in
        self.refresh_delay = 0.0  # seconds a refresh takes (concurrent workers pile up behind it)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # -- tokens -----------------------------------------------------------------------------------

    def issue_tokens(self) -> tuple[str, str]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[access] = time.time() + self.expires_in
        self.refresh_tokens.add(refresh)
        return access, refresh

    def token_valid(self, token: str) -> bool:
        return self.access_tokens.get(token, 0) > time.time()

    def spend_refresh_token(self, token: str) -> bool:
        """A refresh call: False for an unknown or spent token; a known one is spent (rotated)."""
        self.refresh_calls += 1
        if token not in self.refresh_tokens:
            return False
        self.refresh_tokens.discard(token)
        # Held under the lock so a second, racing refresh would meet a spent token.
        time.sleep(self.refresh_delay)
        return True

    def revoke_all(self) -> None:
        with self.lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()

    def authorize(self, query: dict, **remember) -> Reply:
        """The sign-in page: back to redirect_uri with a code (remembered with `remember`) or the refusal."""
        if self.deny:
            params = {"error": "access_denied", "state": query.get("state", "")}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"redirect_uri": query["redirect_uri"], **remember}
            params = {"code": code, "state": query.get("state", "")}
        return Reply(302, None, {"Location": f"{query['redirect_uri']}?{urlencode(params)}"})

    def take_code(self, code: str) -> dict | None:
        return self.codes.pop(code, None)

    # -- what tests look at -----------------------------------------------------------------------

    def calls(self, path: str) -> list[dict]:
        with self.lock:
            return [params for _method, p, params in self.requests if p == path]

    # -- the HTTP side ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict, headers) -> Reply:
        raise NotImplementedError

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, method: str):
                url = urlsplit(self.path)
                params = {key: values[-1] for key, values in parse_qs(url.query).items()}
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    params = {key: values[-1] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                with fake.lock:
                    fake.requests.append((method, url.path, params))
                    reply = fake.handle(method, url.path, params, self.headers)
                data = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
                self.send_response(reply.status)
                if reply.body is not None:
                    self.send_header("Content-Type", fake.content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (reply.headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

        return Handler


def bearer(headers) -> str:
    return (headers.get("Authorization") or "").removeprefix("Bearer ")


def expire(connection: Connection) -> None:
    """Make the connection's access token one that expired a few minutes ago (in the database too)."""
    connection.refresh_from_db()
    expired = (timezone.now() - datetime.timedelta(minutes=5)).isoformat()
    connection.credentials = {**connection.credentials, "expires_at": expired}
    connection.save(update_fields=["credentials"])


def refresh_race(connection: Connection, token_refresh, *, workers: int = 10) -> tuple[list[str], list[Exception]]:
    """`workers` threads call `token_refresh` on the connection at once: (their access tokens, their errors).

    Each thread reads its own copy of the row on its own database connection, as separate workers would.
    """
    start, tokens, errors = threading.Barrier(workers), [], []

    def worker():
        try:
            start.wait()
            own = Connection.objects.get(pk=connection.pk)
            token_refresh(connection=own)
            tokens.append(own.credentials["access_token"])
        except Exception as error:  # noqa: BLE001 - returned to the test, which asserts there were none
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return tokens, errors
