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
from pathlib import Path
from urllib.parse import urlencode

from integrations.tests.fake_oauth import FakeOAuthServer, Reply, bearer

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


class FakeFhirServer(FakeOAuthServer):
    """Start with `with FakeFhirServer() as fake:`; `fake.base_url` is the FHIR base to register."""

    content_type = "application/fhir+json"

    def __init__(
        self, *, client_id: str = "healthspace-test", client_secret: str = "", resources: list[dict] | None = None
    ):
        # client_secret set: a confidential client, authenticated with HTTP Basic.
        super().__init__(client_id=client_id, client_secret=client_secret, expires_in=3600)
        self.resources = resources if resources is not None else load_resources()
        self.patient_id = next(item["id"] for item in self.resources if item["resourceType"] == "Patient")
        # Switches.
        self.everything = False
        self.fail_once: list[tuple[int, dict]] = []  # (status, headers) for the next FHIR reads
        self.next_link_origin = ""  # e.g. "http://127.0.0.2:1234": send `next` links elsewhere
        self.base_url = f"{self.origin}/fhir"

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

    def handle(self, method: str, path: str, params: dict, headers) -> Reply:
        if method == "POST":
            return self._token(params, headers) if path == "/auth/token" else Reply(404, {})
        if path == "/fhir/.well-known/smart-configuration":
            return Reply(
                200,
                {
                    "authorization_endpoint": f"{self.origin}/auth/authorize",
                    "token_endpoint": f"{self.origin}/auth/token",
                    "capabilities": ["launch-standalone", "client-public", "context-standalone-patient"],
                    "scopes_supported": ["launch/patient", "openid", "offline_access", "patient/*.rs"],
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        if path == "/auth/authorize":
            return self._authorize(params)
        if path.startswith("/fhir/"):
            return self._fhir(path.removeprefix("/fhir/"), params, headers)
        return Reply(404, {"resourceType": "OperationOutcome"})

    def _authorize(self, query: dict) -> Reply:
        expected = {
            "response_type": "code",
            "client_id": self.client_id,
            "aud": self.base_url,
            "code_challenge_method": "S256",
        }
        if any(query.get(key) != value for key, value in expected.items()) or not query.get("code_challenge"):
            return Reply(400, {"error": "invalid_request"})
        if not query.get("state") or not query.get("redirect_uri") or not query.get("scope"):
            return Reply(400, {"error": "invalid_request"})
        return self.authorize(query, challenge=query["code_challenge"])

    def _token(self, form: dict, headers) -> Reply:
        basic = (headers.get("Authorization") or "").removeprefix("Basic ")
        if self.client_secret:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if basic != expected:
                return Reply(401, {"error": "invalid_client"})
        elif form.get("client_id") != self.client_id:
            return Reply(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.take_code(form.get("code", ""))
            if (
                issued is None
                or issued["redirect_uri"] != form.get("redirect_uri")
                or _s256(form.get("code_verifier", "")) != issued["challenge"]
            ):
                return Reply(400, {"error": "invalid_grant"})
            return Reply(200, self._tokens())
        if grant == "refresh_token":
            if not self.spend_refresh_token(form.get("refresh_token", "")):
                return Reply(400, {"error": "invalid_grant"})
            return Reply(200, self._tokens())
        return Reply(400, {"error": "unsupported_grant_type"})

    def _tokens(self) -> dict:
        access, refresh = self.issue_tokens()
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "launch/patient openid fhirUser offline_access patient/*.rs",
            "refresh_token": refresh,
            "patient": self.patient_id,
        }

    def _fhir(self, path: str, query: dict, headers) -> Reply:
        valid = self.token_valid(bearer(headers))
        failure = self.fail_once.pop(0) if self.fail_once and path != "metadata" else None
        if not valid:
            return Reply(401, {"resourceType": "OperationOutcome"})
        if failure is not None:
            return Reply(failure[0], {"resourceType": "OperationOutcome"}, failure[1])
        if path == "metadata":
            return Reply(200, self._capability())
        if path == f"Patient/{self.patient_id}/$everything":
            if not self.everything:
                return Reply(404, {"resourceType": "OperationOutcome"})
            matches = [item for item in self.resources if self._changed(item, "ge", query.get("_since"))]
            return Reply(200, self._page(path, query, matches))
        if "/" in path:
            return Reply(404, {"resourceType": "OperationOutcome"})
        if query.get("patient") != self.patient_id:
            return Reply(403, {"resourceType": "OperationOutcome"})
        since = query.get("_lastUpdated", "")
        prefix, value = (since[:2], since[2:]) if since[:2] in ("gt", "ge", "lt", "le") else ("eq", since)
        matches = [
            item
            for item in self.resources
            if item["resourceType"] == path and self._changed(item, prefix, value or None)
        ]
        return Reply(200, self._page(path, query, matches))

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
