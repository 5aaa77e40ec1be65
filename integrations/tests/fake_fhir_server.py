"""A local SMART on FHIR server for tests: discovery, authorize, token (PKCE S256) and FHIR searches.

It serves the resources of a real Synthea bundle (Dennis Durgan), paged by 20 with Bundle.link
next, and records every request so tests can check what was asked. Switches make it deny consent,
answer 429 or 500 once, revoke refresh tokens, or send a `next` link to another origin.
"""

import base64
import copy
import datetime
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

DENNIS = (
    Path(__file__).resolve().parents[2]
    / "records/tests/data/fhir/Dennis_Durgan_78f005f3-7b33-4a5b-84d9-28417b36dbab.json"
)
PAGE_SIZE = 20
# Resources without a meta.lastUpdated get this one (before any test's cursor).
DEFAULT_LAST_UPDATED = "2024-01-15T10:00:00.000Z"


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _instant(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_resources(path: Path = DENNIS) -> list[dict]:
    """The bundle's resources as a FHIR server holds them: `Type/id` references and meta.lastUpdated."""
    bundle = json.loads(path.read_text(encoding="utf-8"))
    ids = {
        entry["fullUrl"]: f"{entry['resource']['resourceType']}/{entry['resource']['id']}" for entry in bundle["entry"]
    }

    def rewrite(node):
        if isinstance(node, dict):
            return {
                key: ids.get(value, value) if key == "reference" and isinstance(value, str) else rewrite(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    resources = []
    for entry in bundle["entry"]:
        resource = rewrite(entry["resource"])
        resource.setdefault("meta", {}).setdefault("lastUpdated", DEFAULT_LAST_UPDATED)
        resources.append(resource)
    return resources


class FakeFhirServer:
    """Start with `with FakeFhirServer() as fake:`; `fake.base_url` is the FHIR base to register."""

    def __init__(
        self, *, client_id: str = "healthspace-test", client_secret: str = "", resources: list[dict] | None = None
    ):
        self.client_id = client_id
        self.client_secret = client_secret  # set: a confidential client, authenticated with HTTP Basic
        self.resources = resources if resources is not None else load_resources()
        self.patient_id = next(item["id"] for item in self.resources if item["resourceType"] == "Patient")
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, query)
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.refresh_tokens: set[str] = set()
        self.refresh_calls = 0
        # Switches.
        self.deny = False
        self.everything = False
        self.expires_in = 3600
        self.refresh_delay = 0.0
        self.fail_once: list[tuple[int, dict]] = []  # (status, headers) for the next FHIR reads
        self.next_link_origin = ""  # e.g. "http://127.0.0.2:1234": send `next` links elsewhere
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = f"{self.origin}/fhir"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # -- what tests look at ---------------------------------------------------------------------

    def fhir_requests(self) -> list[tuple[str, dict]]:
        """(path, query) of every FHIR read, discovery and tokens excluded."""
        with self.lock:
            return [
                (path, query)
                for _method, path, query in self.requests
                if path.startswith("/fhir/") and not path.startswith("/fhir/.well-known/")
            ]

    def revoke_refresh_tokens(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()

    def touch(self, resource_type: str, resource_id: str) -> None:
        """Mark one resource as changed now (as if the EHR updated it)."""
        for resource in self.resources:
            if resource["resourceType"] == resource_type and resource["id"] == resource_id:
                resource["meta"]["lastUpdated"] = _now()

    # -- the HTTP side --------------------------------------------------------------------------

    def _issue_tokens(self) -> dict:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[access] = time.time() + self.expires_in
        self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "launch/patient openid fhirUser offline_access patient/*.rs",
            "refresh_token": refresh,
            "patient": self.patient_id,
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send_json(self, status: int, body: dict, headers: dict | None = None):
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> tuple[str, dict]:
                parts = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                with fake.lock:
                    fake.requests.append((self.command, parts.path, query))
                return parts.path, query

            def do_GET(self):
                path, query = self._record()
                if path == "/fhir/.well-known/smart-configuration":
                    return self._send_json(
                        200,
                        {
                            "authorization_endpoint": f"{fake.origin}/auth/authorize",
                            "token_endpoint": f"{fake.origin}/auth/token",
                            "capabilities": ["launch-standalone", "client-public", "context-standalone-patient"],
                            "scopes_supported": ["launch/patient", "openid", "offline_access", "patient/*.rs"],
                            "code_challenge_methods_supported": ["S256"],
                        },
                    )
                if path == "/auth/authorize":
                    return self._authorize(query)
                if path.startswith("/fhir/"):
                    return self._fhir(path.removeprefix("/fhir/"), query)
                return self._send_json(404, {"resourceType": "OperationOutcome"})

            def do_POST(self):
                path, _query = self._record()
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[-1] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                if path != "/auth/token":
                    return self._send_json(404, {})
                return self._token(form)

            def _authorize(self, query: dict):
                expected = {
                    "response_type": "code",
                    "client_id": fake.client_id,
                    "aud": fake.base_url,
                    "code_challenge_method": "S256",
                }
                if any(query.get(key) != value for key, value in expected.items()) or not query.get("code_challenge"):
                    return self._send_json(400, {"error": "invalid_request"})
                if not query.get("state") or not query.get("redirect_uri") or not query.get("scope"):
                    return self._send_json(400, {"error": "invalid_request"})
                if fake.deny:
                    params = {"error": "access_denied", "state": query["state"]}
                else:
                    code = secrets.token_urlsafe(16)
                    with fake.lock:
                        fake.codes[code] = {"challenge": query["code_challenge"], "redirect_uri": query["redirect_uri"]}
                    params = {"code": code, "state": query["state"]}
                self.send_response(302)
                self.send_header("Location", f"{query['redirect_uri']}?{urlencode(params)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _token(self, form: dict):
                basic = (self.headers.get("Authorization") or "").removeprefix("Basic ")
                if fake.client_secret:
                    expected = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
                    if basic != expected:
                        return self._send_json(401, {"error": "invalid_client"})
                elif form.get("client_id") != fake.client_id:
                    return self._send_json(401, {"error": "invalid_client"})
                grant = form.get("grant_type")
                with fake.lock:
                    if grant == "authorization_code":
                        issued = fake.codes.pop(form.get("code", ""), None)
                        if (
                            issued is None
                            or issued["redirect_uri"] != form.get("redirect_uri")
                            or _s256(form.get("code_verifier", "")) != issued["challenge"]
                        ):
                            return self._send_json(400, {"error": "invalid_grant"})
                        return self._send_json(200, fake._issue_tokens())
                    if grant == "refresh_token":
                        fake.refresh_calls += 1
                        token = form.get("refresh_token", "")
                        if token not in fake.refresh_tokens:
                            return self._send_json(400, {"error": "invalid_grant"})
                        fake.refresh_tokens.discard(token)  # rotated: the old one is spent
                        # Held under the lock so a second, racing refresh would meet a spent token.
                        time.sleep(fake.refresh_delay)
                        return self._send_json(200, fake._issue_tokens())
                return self._send_json(400, {"error": "unsupported_grant_type"})

            def _fhir(self, path: str, query: dict):
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                with fake.lock:
                    valid = fake.access_tokens.get(token, 0) > time.time()
                    failure = fake.fail_once.pop(0) if fake.fail_once and path != "metadata" else None
                if not valid:
                    return self._send_json(401, {"resourceType": "OperationOutcome"})
                if failure is not None:
                    return self._send_json(failure[0], {"resourceType": "OperationOutcome"}, failure[1])
                if path == "metadata":
                    return self._send_json(200, fake._capability())
                if path == f"Patient/{fake.patient_id}/$everything":
                    if not fake.everything:
                        return self._send_json(404, {"resourceType": "OperationOutcome"})
                    matches = [item for item in fake.resources if fake._changed(item, "ge", query.get("_since"))]
                    return self._send_json(200, fake._page(path, query, matches))
                if "/" in path:
                    return self._send_json(404, {"resourceType": "OperationOutcome"})
                if query.get("patient") != fake.patient_id:
                    return self._send_json(403, {"resourceType": "OperationOutcome"})
                since = query.get("_lastUpdated", "")
                prefix, value = (since[:2], since[2:]) if since[:2] in ("gt", "ge", "lt", "le") else ("eq", since)
                matches = [
                    item
                    for item in fake.resources
                    if item["resourceType"] == path and fake._changed(item, prefix, value or None)
                ]
                return self._send_json(200, fake._page(path, query, matches))

        return Handler

    def _changed(self, resource: dict, prefix: str, value: str | None) -> bool:
        if not value:
            return True
        updated, bound = _instant(resource["meta"]["lastUpdated"]), _instant(value)
        return {
            "gt": updated > bound,
            "ge": updated >= bound,
            "lt": updated < bound,
            "le": updated <= bound,
            "eq": updated == bound,
        }[prefix]

    def _page(self, path: str, query: dict, matches: list[dict]) -> dict:
        offset = int(query.get("_offset") or 0)
        chunk = matches[offset : offset + PAGE_SIZE]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "meta": {"lastUpdated": _now()},
            "total": len(matches),
            "link": [{"relation": "self", "url": f"{self.base_url}/{path}?{urlencode(query)}"}],
            "entry": [
                {
                    "fullUrl": f"{self.base_url}/{item['resourceType']}/{item['id']}",
                    "resource": copy.deepcopy(item),
                    "search": {"mode": "match"},
                }
                for item in chunk
            ],
        }
        if offset + PAGE_SIZE < len(matches):
            origin = self.next_link_origin or self.origin
            bundle["link"].append(
                {
                    "relation": "next",
                    "url": f"{origin}/fhir/{path}?{urlencode({**query, '_offset': offset + PAGE_SIZE})}",
                }
            )
        return bundle

    def _capability(self) -> dict:
        types = sorted({item["resourceType"] for item in self.resources} | {"DocumentReference"})
        resources = [{"type": kind, "interaction": [{"code": "search-type"}]} for kind in types]
        if self.everything:
            for resource in resources:
                if resource["type"] == "Patient":
                    resource["operation"] = [
                        {
                            "name": "everything",
                            "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                        }
                    ]
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [{"mode": "server", "resource": resources}],
        }
