"""The SMART on FHIR standalone patient launch, token refresh and sync, as services.

The state and PKCE verifier of an authorization in progress are kept in the patient's own
Connection row, inside its encrypted `credentials` (under "pending"), rather than in the session:
the functions then need no request, the state is bound to the user by the row it lives in, it is
single use because completing pops it under a row lock, and any web process can complete it (no
in-process store). Only a keyed hash of the state is kept, so a database reader cannot replay it.
"""

import datetime
import hmac
import io
import logging

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import ConsentPurpose, User
from accounts.selectors import consent_is_granted
from healthspace.crypto import keyed_hash
from integrations.exceptions import IntegrationError, ProviderError
from integrations.models import Connection, FhirServer, SyncRun
from integrations.services import connection_connect, sync_run_finish, sync_run_queue
from records.fhir.importer import FhirImportError, fhir_import

from . import client
from .provider import ATTENTION_REASONS, PROVIDER

logger = logging.getLogger(__name__)

# How long a patient may take at the server's sign-in page.
PENDING_TTL = datetime.timedelta(minutes=10)
# An access token this close to expiry is refreshed before use.
REFRESH_MARGIN = datetime.timedelta(seconds=60)
# Executions of one run (the first and the task's retries) before a transient failure is final.
SYNC_ATTEMPTS = 5
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
)
COUNT_NAMES = ("read", "added", "already_present", "rejected")


def _state_hash(user: User, state: str) -> str:
    return keyed_hash("smart-fhir-state", str(user.pk), state)


def _smart_connection_locked(user: User) -> Connection | None:
    return Connection.objects.select_for_update().filter(owner=user, provider=PROVIDER.slug).first()


def authorization_start(*, user: User, server: FhirServer, redirect_uri: str) -> tuple[str, str]:
    """Begin a patient launch: (authorize URL, state); a new start replaces any unfinished one."""
    if not consent_is_granted(user=user, purpose=ConsentPurpose.HEALTH_DATA):
        raise IntegrationError(_("To keep health data in HealthSpace, first give your consent to its processing."))
    config = client.discover(base_url=server.base_url)
    state = generate_token(43)
    verifier = generate_token(64)
    with transaction.atomic():
        # A first connection waits as "disconnected" until the patient has signed in at the server.
        connection, _created = Connection.objects.select_for_update().get_or_create(
            owner=user, provider=PROVIDER.slug, defaults={"status": Connection.Status.DISCONNECTED}
        )
        credentials = dict(connection.credentials or {})
        credentials["pending"] = {
            "state_hash": _state_hash(user, state),
            "verifier": verifier,
            "server": str(server.public_id),
            "redirect_uri": redirect_uri,
            "token_endpoint": config.token_endpoint,
            "expires_at": (timezone.now() + PENDING_TTL).isoformat(),
        }
        connection.credentials = credentials
        connection.save(update_fields=["credentials", "updated_at"])
    url = client.authorize_url(
        endpoint=config.authorization_endpoint,
        params={
            "response_type": "code",
            "client_id": server.client_id,
            "redirect_uri": redirect_uri,
            "scope": server.scopes,
            "state": state,
            "aud": server.base_url,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        },
    )
    return url, state


def _pending_take(user: User, state: str) -> dict | None:
    """The user's pending authorization for this state, removed so it cannot be used twice."""
    with transaction.atomic():
        connection = _smart_connection_locked(user)
        pending = (connection.credentials or {}).get("pending") if connection else None
        if not pending or not state or not hmac.compare_digest(pending["state_hash"], _state_hash(user, state)):
            return None
        credentials = dict(connection.credentials)
        credentials.pop("pending")
        never_connected = not credentials.get("access_token") and not connection.runs.exists()
        if never_connected and connection.status == Connection.Status.DISCONNECTED:
            # An attempt that never got anywhere leaves nothing behind.
            connection.delete()
        else:
            connection.credentials = credentials
            connection.save(update_fields=["credentials", "updated_at"])
    if datetime.datetime.fromisoformat(pending["expires_at"]) < timezone.now():
        return None
    return pending


def authorization_complete(*, user: User, state: str, code: str, redirect_uri: str) -> Connection:
    """Finish a patient launch: check the state (single use, this user's), trade the code, keep tokens encrypted."""
    pending = _pending_take(user, state)
    if pending is None or pending["redirect_uri"] != redirect_uri or not code:
        raise IntegrationError(_("This sign-in could not be completed: it has expired or was already used. Try again."))
    server = FhirServer.objects.filter(public_id=pending["server"], enabled=True).first()
    if server is None:
        raise IntegrationError(_("This health record server is no longer available."))
    # The code exchange happens outside any transaction: no row is locked during a network call.
    tokens = client.token_exchange(
        token_endpoint=pending["token_endpoint"],
        client_id=server.client_id,
        client_secret=server.client_secret,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=pending["verifier"],
    )
    connection_connect(user=user, provider=PROVIDER)
    with transaction.atomic():
        connection = _smart_connection_locked(user)
        if connection.fhir_server_id != server.pk:
            connection.cursor = None  # another server: its first sync is a full one
        connection.fhir_server = server
        connection.credentials = {
            **_token_credentials(tokens),
            "token_endpoint": pending["token_endpoint"],
            "patient": tokens.patient,
        }
        connection.status = Connection.Status.CONNECTED
        connection.attention_code = ""
        connection.save()
    return connection


def authorization_abandon(*, user: User, state: str) -> None:
    """The patient declined or the server failed at sign-in: forget the attempt (idempotent)."""
    _pending_take(user, state)


def sync_queue(*, connection: Connection) -> SyncRun:
    """Queue a sync of the connection for the worker (after commit); a run already waiting is reused."""
    return sync_run_queue(connection=connection)


def _token_credentials(tokens: client.Tokens) -> dict:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
        "scope": tokens.scope,
    }


def _expiring(credentials: dict) -> bool:
    expires_at = credentials.get("expires_at")
    if not expires_at:
        return True
    return datetime.datetime.fromisoformat(expires_at) - REFRESH_MARGIN <= timezone.now()


def token_refresh(*, connection: Connection) -> Connection:
    """Fresh tokens for a connection whose access token expires; concurrent callers share one refresh call."""
    failure = None
    # The row lock is held across the refresh call on purpose: servers rotate refresh tokens,
    # so a second concurrent refresh with the old one would fail and revoke the grant.
    with transaction.atomic():
        locked = Connection.objects.select_for_update(of=("self",)).select_related("fhir_server").get(pk=connection.pk)
        credentials = dict(locked.credentials or {})
        if not _expiring(credentials):
            connection.credentials = credentials
            return locked  # another worker refreshed while this one waited for the lock
        try:
            if not credentials.get("refresh_token") or locked.fhir_server is None:
                raise ProviderError(str(ATTENTION_REASONS["access_revoked"]), permanent=True, code="access_revoked")
            tokens = client.token_refresh(
                token_endpoint=credentials["token_endpoint"],
                client_id=locked.fhir_server.client_id,
                client_secret=locked.fhir_server.client_secret,
                refresh_token=credentials["refresh_token"],
            )
        except ProviderError as error:
            if not error.permanent:
                raise
            failure = error
            locked.status = Connection.Status.NEEDS_ATTENTION
            locked.attention_code = error.code
            locked.save(update_fields=["status", "attention_code", "updated_at"])
        else:
            fresh = _token_credentials(tokens)
            if not fresh["refresh_token"]:
                fresh["refresh_token"] = credentials["refresh_token"]  # a server may keep the old one valid
            credentials.update(fresh)
            locked.credentials = credentials
            locked.save(update_fields=["credentials", "updated_at"])
    if failure is not None:
        raise failure
    connection.credentials = locked.credentials
    return locked


def _access_token(connection: Connection) -> str:
    if _expiring(connection.credentials or {}):
        token_refresh(connection=connection)
    return connection.credentials["access_token"]


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


def _import_all(connection: Connection, run: SyncRun) -> tuple[dict, str]:
    """Fetch and import every page; the counts and the cursor to keep once all succeeded."""
    server = connection.fhir_server
    patient = connection.credentials["patient"]
    cursor = connection.cursor or {}
    since = cursor.get("last_updated") if cursor.get("server") == str(server.public_id) else None
    capability = client.capability_statement(base_url=server.base_url, access_token=_access_token(connection))
    counts = dict.fromkeys(COUNT_NAMES, 0)
    # The next cursor is the server's own clock at the first page of each search (the earliest
    # of them), so nothing changed during the sync is skipped; resource times are the fallback.
    search_times: list[str] = []
    resource_times: list[str] = []
    for path, params in _searches(capability, patient, since):
        pages = client.search_pages(
            base_url=server.base_url, path=path, params=params, access_token=lambda: _access_token(connection)
        )
        for number, page in enumerate(pages):
            if number == 0 and (page.data.get("meta") or {}).get("lastUpdated"):
                search_times.append(page.data["meta"]["lastUpdated"])
            entries = page.data.get("entry") or []
            resource_times.extend(
                ((entry.get("resource") or {}).get("meta") or {}).get("lastUpdated") for entry in entries
            )
            if not entries:
                continue
            report = fhir_import(owner=run.owner, stream=io.BytesIO(page.content), filename=server.name)
            for name in COUNT_NAMES:
                counts[name] += getattr(report, name)
            SyncRun.objects.filter(pk=run.pk).update(**counts)
    return counts, _pick(search_times, min) or _pick(resource_times, max) or since or ""


def connection_sync(*, connection: Connection, run: SyncRun) -> SyncRun:
    """Fetch the patient's records changed since the last good sync and import them (idempotent, re-runnable).

    A transient failure puts the run back in the queue and re-raises for the task to retry, until
    SYNC_ATTEMPTS; a permanent one marks the connection as needing the patient.
    """
    profile = getattr(run.owner, "profile", None)
    with translation.override(profile.preferred_language if profile else None):
        return _sync(connection, run)


def _sync(connection: Connection, run: SyncRun) -> SyncRun:
    if connection.status == Connection.Status.NEEDS_ATTENTION:
        reason = ATTENTION_REASONS.get(connection.attention_code, _("This connection needs your attention."))
        return sync_run_finish(
            run, status=connection.status, error_code=connection.attention_code or "needs_attention", message=reason
        )
    if (
        connection.status == Connection.Status.DISCONNECTED
        or connection.fhir_server is None
        or not (connection.credentials or {}).get("access_token")
        or not consent_is_granted(user=run.owner, purpose=PROVIDER.consent_purpose)
    ):
        return sync_run_finish(
            run, error_code="not_connected", message=_("This source is disconnected: nothing was imported.")
        )
    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.Outcome.RUNNING,
        started_at=timezone.now(),
        attempts=run.attempts + 1,
        **dict.fromkeys(COUNT_NAMES, 0),
    )
    run.refresh_from_db()
    Connection.objects.filter(pk=connection.pk, status=Connection.Status.CONNECTED).update(
        status=Connection.Status.SYNCING
    )
    try:
        counts, cursor = _import_all(connection, run)
    except ProviderError as error:
        run.refresh_from_db(fields=COUNT_NAMES)
        if error.permanent:
            Connection.objects.filter(pk=connection.pk).update(attention_code=error.code)
            return sync_run_finish(
                run,
                status=Connection.Status.NEEDS_ATTENTION,
                error_code=error.code or "provider_error",
                message=str(error),
            )
        if run.attempts >= SYNC_ATTEMPTS:
            return sync_run_finish(run, error_code=error.code or "provider_unavailable", message=str(error))
        SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.QUEUED, error_code=error.code)
        Connection.objects.filter(pk=connection.pk, status=Connection.Status.SYNCING).update(
            status=Connection.Status.CONNECTED
        )
        raise
    except FhirImportError as error:
        run.refresh_from_db(fields=COUNT_NAMES)
        return sync_run_finish(run, error_code="fhir_error", message=str(error))
    with transaction.atomic():
        # The cursor moves only after every page is in: a failed sync is redone from the old one.
        connection.cursor = {"last_updated": cursor, "server": str(connection.fhir_server.public_id)}
        connection.save(update_fields=["cursor", "updated_at"])
        return sync_run_finish(run, **counts)
