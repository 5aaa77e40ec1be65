"""The SMART on FHIR standalone patient launch and sync (the OAuth machinery is integrations.oauth).

What is SMART's own: discovery of the server's endpoints, PKCE, the `aud` and the patient context,
one connection per (patient, server), and a sync that imports FHIR pages (`Patient/$everything` where
the server offers it, else a search per resource type) changed since the server's own clock at the
last good sync.
"""

import datetime
import io

from django.utils.translation import gettext_lazy as _

from integrations.exceptions import IntegrationError
from integrations.models import Connection, FhirServer
from integrations.oauth import SYNC_ATTEMPTS, AuthorizationRequest, OAuthSource, SyncProgress, Tokens
from integrations.services import record_origin
from records.fhir.importer import FhirImportError, fhir_import

from . import selectors
from .client import CLIENT, FHIR_ID
from .provider import PROVIDER

SEARCH_TYPES = (
    "Observation",
    "Condition",
    "MedicationRequest",
    "AllergyIntolerance",
    "Immunization",
    "Procedure",
    "Encounter",
    "DiagnosticReport",
    "DocumentReference",
    "Coverage",
    "Claim",
    "ExplanationOfBenefit",
)


def _supports_everything(capability: dict) -> bool:
    for rest in capability.get("rest") or []:
        for resource in rest.get("resource") or []:
            if resource.get("type") == "Patient":
                for operation in resource.get("operation") or []:
                    if operation.get("name") == "everything":
                        return True
        for operation in rest.get("operation") or []:
            if operation.get("name") == "everything":
                return True
    return False


def _searchable_types(capability: dict) -> tuple[str, ...]:
    listed = {resource.get("type") for rest in capability.get("rest") or [] for resource in rest.get("resource") or []}
    # A server without a CapabilityStatement is asked for everything; one with it, for what it lists.
    return tuple(kind for kind in SEARCH_TYPES if not listed or kind in listed)


def _searches(capability: dict, patient: str, since: str | None) -> list[tuple[str, dict]]:
    if _supports_everything(capability):
        return [(f"Patient/{patient}/$everything", {"_since": since} if since else {})]
    searches = []
    for kind in _searchable_types(capability):
        params = {"patient": patient}
        if since:
            params["_lastUpdated"] = f"gt{since}"
        if kind == "MedicationRequest":
            params["_include"] = "MedicationRequest:medication"
        searches.append((kind, params))
    return searches


def _instant(value) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None


def _pick(values: list, choose) -> str | None:
    dated = [(_instant(value), value) for value in values if _instant(value) is not None]
    return choose(dated)[1] if dated else None


class SmartSource(OAuthSource):
    provider = PROVIDER
    client = CLIENT
    pkce = True
    account_key = "patient"
    failures = {FhirImportError: "fhir_error"}
    error_url = "smart_fhir:servers"
    denied_message = _("You did not allow HealthSpace to read your records: nothing was connected.")
    failed_message = _("The health record server did not complete the sign-in: nothing was connected.")
    not_configured_message = _("No health record server is available in your country yet.")

    def configured(self, *, user) -> bool:
        return bool(selectors.fhir_servers_for_user(user=user))

    def connect_choices(self, *, user, connections: list[Connection]) -> list[dict]:
        """One choice per enabled server of the patient's country they have not connected yet."""
        connected = {c.fhir_server_id for c in connections if c.status != Connection.Status.DISCONNECTED}
        return [
            {"label": _("Connect to %(name)s") % {"name": server.name}, "fields": {"server": str(server.public_id)}}
            for server in selectors.fhir_servers_for_user(user=user)
            if server.pk not in connected
        ]

    def connect_target(self, request) -> dict:
        return {"server": selectors.fhir_server_get_for_user(user=request.user, public_id=request.POST.get("server"))}

    def authorization_request(self, *, server: FhirServer) -> AuthorizationRequest:
        config = self.client.discover(base_url=server.base_url)
        return AuthorizationRequest(
            endpoint=config.authorization_endpoint,
            client_id=server.client_id,
            params={"scope": server.scopes, "aud": server.base_url},
            pending={"server": str(server.public_id), "token_endpoint": config.token_endpoint},
            match={"fhir_server": server},
        )

    def exchange(self, *, pending: dict, code: str, redirect_uri: str) -> tuple[Tokens, dict]:
        server = FhirServer.objects.filter(public_id=pending["server"], enabled=True).first()
        if server is None:
            raise IntegrationError(_("This health record server is no longer available."))
        tokens = self.client.token_request(
            token_endpoint=pending["token_endpoint"],
            client_id=server.client_id,
            client_secret=server.client_secret,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pending["verifier"],
            },
        )
        if not FHIR_ID.match(tokens.extra["patient"]):
            raise self.client.permanent("no_patient")
        return tokens, {"fhir_server": server}

    def credentials_extra(self, pending: dict) -> dict:
        return {"token_endpoint": pending["token_endpoint"]}

    def refresh(self, *, connection: Connection, credentials: dict) -> Tokens:
        if connection.fhir_server is None:
            raise self.client.permanent("access_revoked")
        return self.client.token_request(
            token_endpoint=credentials["token_endpoint"],
            client_id=connection.fhir_server.client_id,
            client_secret=connection.fhir_server.client_secret,
            data={"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]},
        )

    def ready(self, connection: Connection) -> bool:
        return connection.fhir_server is not None

    def fetch(self, *, connection: Connection, progress: SyncProgress) -> dict:
        server = connection.fhir_server
        patient = connection.credentials["patient"]
        cursor = connection.cursor or {}
        since = cursor.get("last_updated") if cursor.get("server") == str(server.public_id) else None
        capability = self.client.capability_statement(
            base_url=server.base_url, access_token=self.access_token(connection)
        )
        # The next cursor is the server's own clock at the first page of each search (the earliest
        # of them), so nothing changed during the sync is skipped; resource times are the fallback.
        search_times: list[str] = []
        resource_times: list[str] = []
        for path, params in _searches(capability, patient, since):
            pages = self.client.search_pages(
                base_url=server.base_url, path=path, params=params, access_token=lambda: self.access_token(connection)
            )
            for number, page in enumerate(pages):
                if number == 0 and (page.data.get("meta") or {}).get("lastUpdated"):
                    search_times.append(page.data["meta"]["lastUpdated"])
                entries = page.data.get("entry") or []
                resource_times.extend(
                    ((entry.get("resource") or {}).get("meta") or {}).get("lastUpdated") for entry in entries
                )
                if entries:
                    report = fhir_import(
                        owner=progress.run.owner,
                        stream=io.BytesIO(page.content),
                        filename=server.name,
                        origin=record_origin(connection=progress.run.connection),
                    )
                    progress.add(**{name: getattr(report, name) for name in progress.counts})
        last_updated = _pick(search_times, min) or _pick(resource_times, max) or since or ""
        return {"last_updated": last_updated, "server": str(server.public_id)}


SOURCE = SmartSource()
# The services, by their names.
authorization_start = SOURCE.authorization_start
authorization_complete = SOURCE.authorization_complete
token_refresh = SOURCE.token_refresh
sync_queue = SOURCE.sync_queue
__all__ = ["SYNC_ATTEMPTS", "SOURCE"]
