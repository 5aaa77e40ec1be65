"""Oura (API v2) authorization, token refresh, heart-rate sync and revocation, as services.

As for SMART on FHIR, the state of an authorization in progress is kept hashed in the patient's own
Connection row (encrypted `credentials["pending"]`): bound to the user, single use (completing pops it
under a row lock) and usable by any web process.
"""

import datetime
import hmac
import logging

from authlib.common.security import generate_token
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import ConsentPurpose, User
from accounts.selectors import consent_is_granted
from healthspace.crypto import keyed_hash
from integrations.exceptions import IntegrationError, ProviderError
from integrations.models import Connection, SyncRun
from integrations.services import connection_connect, items_write, sync_run_finish, sync_run_queue

from . import client, mapping
from .provider import ATTENTION_REASONS, PROVIDER

logger = logging.getLogger(__name__)

PENDING_TTL = datetime.timedelta(minutes=10)
REFRESH_MARGIN = datetime.timedelta(seconds=60)
SYNC_ATTEMPTS = 5
# A server that keeps answering `more` must not keep a worker forever.
MAX_PAGES = 500
SCOPES = "heartrate personal daily"
# How far back the first sync reaches.
HISTORY = datetime.timedelta(days=30)
COUNT_NAMES = ("read", "added", "already_present", "rejected")


def _state_hash(user: User, state: str) -> str:
    return keyed_hash("oura-state", str(user.pk), state)


def _connection_locked(user: User) -> Connection | None:
    return Connection.objects.select_for_update().filter(owner=user, provider=PROVIDER.slug).first()


def authorization_start(*, user: User, redirect_uri: str) -> tuple[str, str]:
    """Begin the sign-in at Oura: (authorize URL, state); a new start replaces any unfinished one."""
    if not consent_is_granted(user=user, purpose=ConsentPurpose.HEALTH_DATA):
        raise IntegrationError(_("To keep health data in HealthSpace, first give your consent to its processing."))
    client_id, _secret = client.client_credentials()
    state = generate_token(43)
    with transaction.atomic():
        connection, _created = Connection.objects.select_for_update().get_or_create(
            owner=user, provider=PROVIDER.slug, defaults={"status": Connection.Status.DISCONNECTED}
        )
        credentials = dict(connection.credentials or {})
        credentials["pending"] = {
            "state_hash": _state_hash(user, state),
            "redirect_uri": redirect_uri,
            "expires_at": (timezone.now() + PENDING_TTL).isoformat(),
        }
        connection.credentials = credentials
        connection.save(update_fields=["credentials", "updated_at"])
    url = client.authorize_url(
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": state,
        }
    )
    return url, state


def _pending_take(user: User, state: str) -> dict | None:
    """The user's pending authorization for this state, removed so it cannot be used twice."""
    with transaction.atomic():
        connection = _connection_locked(user)
        pending = (connection.credentials or {}).get("pending") if connection else None
        if not pending or not state or not hmac.compare_digest(pending["state_hash"], _state_hash(user, state)):
            return None
        credentials = dict(connection.credentials)
        credentials.pop("pending")
        never_connected = not credentials.get("access_token") and not connection.runs.exists()
        if never_connected and connection.status == Connection.Status.DISCONNECTED:
            connection.delete()  # an attempt that never got anywhere leaves nothing behind
        else:
            connection.credentials = credentials
            connection.save(update_fields=["credentials", "updated_at"])
    if datetime.datetime.fromisoformat(pending["expires_at"]) < timezone.now():
        return None
    return pending


def _token_credentials(tokens: client.Tokens) -> dict:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
        "scope": tokens.scope,
    }


def authorization_complete(*, user: User, state: str, code: str, redirect_uri: str) -> Connection:
    """Finish the sign-in: check the state (single use, this user's), trade the code, keep tokens encrypted."""
    pending = _pending_take(user, state)
    if pending is None or pending["redirect_uri"] != redirect_uri or not code:
        raise IntegrationError(_("This sign-in could not be completed: it has expired or was already used. Try again."))
    tokens = client.token_exchange(code=code, redirect_uri=redirect_uri)  # outside any transaction
    connection_connect(user=user, provider=PROVIDER)
    with transaction.atomic():
        connection = _connection_locked(user)
        connection.credentials = _token_credentials(tokens)
        connection.status = Connection.Status.CONNECTED
        connection.attention_code = ""
        connection.save()
    return connection


def authorization_abandon(*, user: User, state: str) -> None:
    """The patient declined or Oura failed at sign-in: forget the attempt (idempotent)."""
    _pending_take(user, state)


def sync_queue(*, connection: Connection) -> SyncRun:
    return sync_run_queue(connection=connection)


def _expiring(credentials: dict) -> bool:
    expires_at = credentials.get("expires_at")
    if not expires_at:
        return True
    return datetime.datetime.fromisoformat(expires_at) - REFRESH_MARGIN <= timezone.now()


def _needs_attention(connection: Connection, code: str) -> None:
    Connection.objects.filter(pk=connection.pk).exclude(status=Connection.Status.DISCONNECTED).update(
        status=Connection.Status.NEEDS_ATTENTION, attention_code=code
    )


def token_refresh(*, connection: Connection) -> Connection:
    """Fresh tokens for a connection whose access token expires; concurrent callers share one refresh call."""
    failure = None
    # The row lock is held across the refresh call on purpose: Oura rotates refresh tokens,
    # so a second concurrent refresh with the old one would fail and lose the grant.
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        credentials = dict(locked.credentials or {})
        if not _expiring(credentials):
            connection.credentials = credentials
            return locked  # another worker refreshed while this one waited for the lock
        try:
            if not credentials.get("refresh_token"):
                raise ProviderError(str(ATTENTION_REASONS["access_revoked"]), permanent=True, code="access_revoked")
            tokens = client.token_refresh(refresh_token=credentials["refresh_token"])
        except ProviderError as error:
            if not error.permanent:
                raise
            failure = error
            locked.status = Connection.Status.NEEDS_ATTENTION
            locked.attention_code = error.code
            locked.save(update_fields=["status", "attention_code", "updated_at"])
        else:
            fresh = _token_credentials(tokens)
            fresh["refresh_token"] = fresh["refresh_token"] or credentials["refresh_token"]
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


def _import_all(connection: Connection, run: SyncRun) -> tuple[dict, str | None, mapping.Stats]:
    """Fetch every heart-rate page since the cursor and write it; the counts and the cursor to keep."""
    now = timezone.now().replace(microsecond=0)
    since = (connection.cursor or {}).get("since") or (now - HISTORY).isoformat()
    counts = dict.fromkeys(COUNT_NAMES, 0)
    stats = mapping.Stats()
    newest = since
    next_token = None
    for _page in range(MAX_PAGES):
        body = client.heartrate_page(
            access_token=_access_token(connection), start=since, end=now.isoformat(), next_token=next_token
        )
        rejected_before = stats.rejected
        samples = mapping.heartrate_samples(body.get("data") or [], stats)
        written = items_write(owner=run.owner, provider=PROVIDER, items=samples, run=run)
        written["rejected"] += stats.rejected - rejected_before
        for name in COUNT_NAMES:
            counts[name] += written[name]
        SyncRun.objects.filter(pk=run.pk).update(**counts)
        if samples:
            latest = max(sample.start for sample in samples)
            if latest > datetime.datetime.fromisoformat(newest):
                newest = latest.isoformat()
        next_token = body.get("next_token")
        if not isinstance(next_token, str) or not next_token:
            break
    return counts, newest, stats


def connection_sync(*, connection: Connection, run: SyncRun) -> SyncRun:
    """Fetch the measures changed since the last good sync and write them (idempotent, re-runnable).

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
        counts, newest, stats = _import_all(connection, run)
    except ProviderError as error:
        run.refresh_from_db(fields=COUNT_NAMES)
        if error.permanent:
            _needs_attention(connection, error.code)
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
    with transaction.atomic():
        # The cursor moves only after every page is in: a failed sync is redone from the old one.
        if newest is not None:
            connection.cursor = {"since": newest}
            connection.save(update_fields=["cursor", "updated_at"])
        return sync_run_finish(run, **counts)


def connection_revoke(connection: Connection) -> bool:
    """Ask Oura to revoke HealthSpace's access token (on disconnect); True when Oura confirmed it.

    Best effort: a failure is logged and the caller goes on forgetting the tokens anyway.
    """
    access_token = (connection.credentials or {}).get("access_token")
    if not access_token:
        return False
    try:
        client.token_revoke(access_token=access_token)
    except ProviderError as error:
        logger.warning("oura revoke for connection %s failed: %s", connection.pk, error.code)
        return False
    return True
