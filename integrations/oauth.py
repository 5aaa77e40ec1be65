"""OAuth2 for the API sources (SMART on FHIR, Withings, Oura): sign-in, tokens, errors, sync and pages, once.

A source plugs in an `OAuthClient` (its HTTP seam) and an `OAuthSource` (its services) that say only
what is its own: endpoints, the shape of its token requests, what a sync fetches and how it maps.

- Sign-in. The authorize URL carries a state (and a PKCE S256 challenge where the source takes it).
  The state's keyed hash and the verifier wait in the patient's own Connection row (encrypted
  `credentials["pending"]`) rather than in the session: bound to the user by the row, single use
  (completing pops it under a row lock), usable by any web process, never replayable from the database.
- Tokens live encrypted in `Connection.credentials`. A refresh holds the connection's row lock across
  the call: sources rotate refresh tokens, so a second concurrent refresh with the old one would lose
  the grant; racing workers wait, then find fresh tokens and make no call.
- Errors. `OAuthClient.send` waits out a short 429 (Retry-After), turns timeouts, unreachable servers,
  long 429s and 5xx into `TransientProviderError` (the task retries them with backoff and jitter) and
  401 / invalid_grant into a permanent ProviderError: the connection then needs the patient, with a
  plain reason. Messages never carry a token or a health value.
- Sync. Guard (needs attention, disconnected, consent), mark running, fetch and write through
  `items_write`, finish with `sync_run_finish`, move the cursor only once everything is in; a transient
  failure puts the run back in the queue for the task's retry, until `SYNC_ATTEMPTS`.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from celery import shared_task
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import InterfaceError, OperationalError, transaction
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import rollout
from accounts import services as account_services
from accounts.models import ConsentPurpose, User
from accounts.selectors import consent_is_granted, processing_allowed
from healthspace.crypto import keyed_hash

from . import selectors
from .exceptions import IntegrationError, ProviderError
from .models import Connection, SyncRun
from .providers.base import Provider, provider_get, providers
from .services import items_write, processing_stopped, sync_run_finish, sync_run_queue

logger = logging.getLogger(__name__)
# httpx logs every request URL at INFO; URLs can carry a patient's id and search terms.
logging.getLogger("httpx").setLevel(logging.WARNING)

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# 429s waited out in place before the error goes to the task's backoff.
RATE_LIMIT_RETRIES = 2
# How long a patient may take at the source's sign-in page.
PENDING_TTL = datetime.timedelta(minutes=10)
# An access token this close to expiry is refreshed before use.
REFRESH_MARGIN = datetime.timedelta(seconds=60)
# Beat refreshes tokens this long before they expire, so a sync never starts on one about to lapse
# and a patient who does not sync for a while keeps a working connection.
REFRESH_AHEAD = datetime.timedelta(minutes=30)
# Executions of one run (the first and the task's retries) before a transient failure is final.
SYNC_ATTEMPTS = 5
COUNT_NAMES = ("read", "added", "already_present", "rejected")


class TransientProviderError(ProviderError):
    """A failure worth retrying later (429, 5xx, timeout); `retry_after` in seconds when the server said."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None):
        super().__init__(message, permanent=False, code=code)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Tokens:
    """A token endpoint's answer; `extra` holds what a source adds (SMART's patient, Withings' userid)."""

    access_token: str
    refresh_token: str
    expires_at: datetime.datetime
    scope: str
    extra: dict = field(default_factory=dict)

    def credentials(self) -> dict:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "scope": self.scope,
            **self.extra,
        }


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


class OAuthClient:
    """One source's HTTP seam: requests with timeouts, 429s waited out, statuses mapped to ProviderError."""

    user_agent = "HealthSpace"
    # Setting (seconds) above which a Retry-After is not waited out in place but left to the task.
    retry_after_setting = ""
    # Plain-language reasons by attention code (the provider's), and the source's words for transient failures:
    # server_timeout, server_unreachable, rate_limited, server_unavailable.
    attention_reasons: dict = {}
    transient_messages: dict = {}
    # When a token answer has no expires_in.
    default_expires_in = 3600
    # A source with one OAuth client registered for this HealthSpace reads it from the settings
    # <prefix>_CLIENT_ID and <prefix>_CLIENT_SECRET (its authorize page from <prefix>_AUTHORIZE_URL).
    settings_prefix = ""
    default_authorize_url = ""

    def client_credentials(self) -> tuple[str, str]:
        """The registered OAuth client ("", "" when this HealthSpace has none)."""
        prefix = self.settings_prefix
        return getattr(settings, f"{prefix}_CLIENT_ID", ""), getattr(settings, f"{prefix}_CLIENT_SECRET", "")

    def authorize_endpoint(self) -> str:
        return getattr(settings, f"{self.settings_prefix}_AUTHORIZE_URL", self.default_authorize_url)

    def token_request(self, data: dict) -> Tokens:
        """Tokens for a grant (a code or a refresh token): each source's own request."""
        raise NotImplementedError

    def permanent(self, code: str) -> ProviderError:
        return ProviderError(str(self.attention_reasons[code]), permanent=True, code=code)

    def transient(self, code: str, *, retry_after: float | None = None) -> TransientProviderError:
        return TransientProviderError(str(self.transient_messages[code]), code=code, retry_after=retry_after)

    def send(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One request, with 429s waited out in place when the server asks for a short wait."""
        wait_max = float(getattr(settings, self.retry_after_setting, 30) if self.retry_after_setting else 30)
        headers = {"User-Agent": self.user_agent, **kwargs.pop("headers", {})}
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                # No redirects: a redirect could lead to another host with the patient's token.
                with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as http:
                    response = http.request(method, url, headers=headers, **kwargs)
            except httpx.TimeoutException:
                raise self.transient("server_timeout") from None
            except httpx.TransportError:
                raise self.transient("server_unreachable") from None
            if response.status_code != 429:
                return response
            retry_after = _retry_after(response)
            if retry_after is None or retry_after > wait_max or attempt == RATE_LIMIT_RETRIES:
                raise self.transient("rate_limited", retry_after=retry_after)
            time.sleep(retry_after)
        raise AssertionError("unreachable")  # pragma: no cover

    def check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status >= 500:
            raise self.transient("server_unavailable")
        if status == 401:
            raise self.permanent("access_revoked")
        if status in (403, 426) and "access_limited" in self.attention_reasons:
            raise self.permanent("access_limited")  # a scope refused, no membership, an app update needed
        if status >= 300:
            raise self.permanent("server_error")

    def json(self, response: httpx.Response) -> dict:
        """The JSON object of a successful answer, or the error its status or body means."""
        self.check_status(response)
        try:
            data = response.json()
        except ValueError:
            raise self.permanent("server_error") from None
        if not isinstance(data, dict):
            raise self.permanent("server_error")
        return data

    def token_error(self, response: httpx.Response, *, otherwise: str) -> ProviderError | None:
        """The error of a token endpoint's 400/401: a refused grant needs the patient, anything else `otherwise`."""
        if response.status_code not in (400, 401):
            return None
        error = ""
        with contextlib.suppress(ValueError, AttributeError):
            error = str(response.json().get("error", ""))
        return self.permanent("access_revoked" if error == "invalid_grant" else otherwise)

    def tokens(self, body: dict, **extra) -> Tokens:
        """Tokens from a token endpoint's JSON body."""
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise self.permanent("server_error")
        try:
            expires_in = int(body.get("expires_in") or self.default_expires_in)
        except (TypeError, ValueError):
            expires_in = self.default_expires_in
        return Tokens(
            access_token=access_token,
            refresh_token=str(body.get("refresh_token") or ""),
            expires_at=timezone.now() + datetime.timedelta(seconds=max(expires_in, 0)),
            scope=str(body.get("scope") or ""),
            extra=extra,
        )


def authorize_url(endpoint: str, params: dict[str, str]) -> str:
    """The authorization endpoint with the request's parameters added to any it already has."""
    return str(httpx.URL(endpoint).copy_merge_params(params))


@dataclass(frozen=True)
class AuthorizationRequest:
    """What a source adds to a sign-in: where to send the patient, with what, and which connection it is for."""

    endpoint: str
    client_id: str
    params: dict = field(default_factory=dict)
    # Kept with the pending state (encrypted) for the callback: a token endpoint, a server's id.
    pending: dict = field(default_factory=dict)
    # Fields that pick the patient's connection beyond owner and provider (SMART: the server).
    match: dict = field(default_factory=dict)


class SyncProgress:
    """A run's counts as a sync writes: every write adds to them and shows them on the run's page."""

    def __init__(self, source: OAuthSource, run: SyncRun):
        self.source, self.run = source, run
        self.counts = dict.fromkeys(COUNT_NAMES, 0)

    def add(self, **counts) -> None:
        for name, value in counts.items():
            self.counts[name] += value
        SyncRun.objects.filter(pk=self.run.pk).update(**self.counts)

    def write(self, items: Iterable, *, rejected: int = 0) -> dict:
        """Write normalised items (samples, workouts) through the store; `rejected`: items the mapping refused."""
        written = items_write(owner=self.run.owner, provider=self.source.provider, items=items, run=self.run)
        written["rejected"] += rejected
        self.add(**written)
        return written


def _consent_missing() -> IntegrationError:
    return IntegrationError(_("To keep health data in HealthSpace, first give your consent to its processing."))


class OAuthSource:
    """The services of one OAuth source; subclasses fill in the hooks below the line."""

    provider: Provider
    client: OAuthClient
    # Whether the source's authorization server takes PKCE (S256): SMART requires it.
    pkce = False
    # Credential that names the account at the source (Withings' userid, SMART's patient): another one
    # connected through the same connection starts again with a full sync.
    account_key = ""
    # Exceptions of the import that fail a run without needing the patient, by error code.
    failures: dict = {}
    # Where the connect and callback views send the patient back on failure.
    error_url = "integrations:index"
    # The source's words at the callback (declined, failed) and for a source not set up here.
    denied_message = ""
    failed_message = ""
    not_configured_message = ""

    @property
    def namespace(self) -> str:
        return self.provider.slug.replace("-", "_")

    def _state_hash(self, user: User, state: str) -> str:
        return keyed_hash(f"{self.provider.slug}-state", str(user.pk), state)

    # -- sign-in -----------------------------------------------------------------------------------

    def authorization_start(self, *, user: User, redirect_uri: str, **target) -> tuple[str, str]:
        """Begin the sign-in at the source: (authorize URL, state); a new start replaces an unfinished one."""
        if not consent_is_granted(user=user, purpose=ConsentPurpose.HEALTH_DATA):
            raise _consent_missing()
        request = self.authorization_request(**target)
        state = generate_token(43)
        pending = {
            "state_hash": self._state_hash(user, state),
            "redirect_uri": redirect_uri,
            "expires_at": (timezone.now() + PENDING_TTL).isoformat(),
            **request.pending,
        }
        params = {
            "response_type": "code",
            "client_id": request.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            **request.params,
        }
        if self.pkce:
            pending["verifier"] = generate_token(64)
            params["code_challenge"] = create_s256_code_challenge(pending["verifier"])
            params["code_challenge_method"] = "S256"
        with transaction.atomic():
            # A first connection waits as "disconnected" until the patient has signed in at the source.
            connection, _created = Connection.objects.select_for_update().get_or_create(
                owner=user,
                provider=self.provider.slug,
                **request.match,
                defaults={"status": Connection.Status.DISCONNECTED},
            )
            connection.credentials = {**(connection.credentials or {}), "pending": pending}
            connection.save(update_fields=["credentials", "updated_at"])
        return authorize_url(request.endpoint, params), state

    def _pending_take(self, user: User, state: str) -> dict | None:
        """The user's pending authorization for this state, removed so it cannot be used twice."""
        if not state:
            return None
        expected = self._state_hash(user, state)
        with transaction.atomic():
            # A patient has few connections to one source (one per EHR portal at most): each is checked.
            for connection in Connection.objects.select_for_update().filter(owner=user, provider=self.provider.slug):
                pending = (connection.credentials or {}).get("pending")
                if pending and hmac.compare_digest(pending["state_hash"], expected):
                    break
            else:
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

    def authorization_complete(self, *, user: User, state: str, code: str, redirect_uri: str) -> Connection:
        """Finish the sign-in: check the state (single use, this user's), trade the code, keep tokens encrypted."""
        pending = self._pending_take(user, state)
        if pending is None or pending["redirect_uri"] != redirect_uri or not code:
            raise IntegrationError(
                _("This sign-in could not be completed: it has expired or was already used. Try again.")
            )
        # The code exchange happens outside any transaction: no row is locked during a network call.
        tokens, match = self.exchange(pending=pending, code=code, redirect_uri=redirect_uri)
        if not consent_is_granted(user=user, purpose=ConsentPurpose.HEALTH_DATA):
            raise _consent_missing()
        with transaction.atomic():
            connection, _created = Connection.objects.select_for_update().get_or_create(
                owner=user, provider=self.provider.slug, **match
            )
            credentials = {**tokens.credentials(), **self.credentials_extra(pending)}
            previous = connection.credentials or {}
            if not previous.get("access_token") or previous.get(self.account_key) != credentials.get(self.account_key):
                # A first connection, a reconnection after a disconnect (its data may have been deleted) or
                # another account at the source: the first sync is a full one.
                connection.cursor = None
            connection.credentials = credentials
            connection.status = Connection.Status.CONNECTED
            connection.attention_code = ""
            connection.save()
            account_services.consent_set(user=user, purpose=self.provider.consent_purpose, granted=True)
        return connection

    def authorization_abandon(self, *, user: User, state: str) -> None:
        """The patient declined or the source failed at sign-in: forget the attempt (idempotent)."""
        self._pending_take(user, state)

    # -- tokens ------------------------------------------------------------------------------------

    @staticmethod
    def _expiring(credentials: dict, margin: datetime.timedelta = REFRESH_MARGIN) -> bool:
        expires_at = credentials.get("expires_at")
        if not expires_at:
            return True
        return datetime.datetime.fromisoformat(expires_at) - margin <= timezone.now()

    def token_refresh(self, *, connection: Connection, margin: datetime.timedelta = REFRESH_MARGIN) -> Connection:
        """Fresh tokens for a connection whose access token expires; concurrent callers share one refresh call."""
        failure = None
        # The row lock is held across the refresh call on purpose (see the module's docstring).
        with transaction.atomic():
            locked = (
                Connection.objects.select_for_update(of=("self",)).select_related("fhir_server").get(pk=connection.pk)
            )
            credentials = dict(locked.credentials or {})
            if not self._expiring(credentials, margin):
                connection.credentials = credentials
                return locked  # another worker refreshed while this one waited for the lock
            try:
                if not credentials.get("refresh_token"):
                    raise self.client.permanent("access_revoked")
                tokens = self.refresh(connection=locked, credentials=credentials)
            except ProviderError as error:
                if not error.permanent:
                    raise
                failure = error
                locked.status = Connection.Status.NEEDS_ATTENTION
                locked.attention_code = error.code
                locked.save(update_fields=["status", "attention_code", "updated_at"])
            else:
                # A source may keep the old refresh token valid and leave fields out: keep what it did not send.
                credentials.update({key: value for key, value in tokens.credentials().items() if value})
                locked.credentials = credentials
                locked.save(update_fields=["credentials", "updated_at"])
        if failure is not None:
            raise failure
        connection.credentials = locked.credentials
        return locked

    def access_token(self, connection: Connection) -> str:
        """The connection's access token, refreshed first when it is about to expire."""
        if self._expiring(connection.credentials or {}):
            self.token_refresh(connection=connection)
        return connection.credentials["access_token"]

    # -- sync --------------------------------------------------------------------------------------

    def sync_queue(self, *, connection: Connection) -> SyncRun:
        """Queue a sync of the connection for the worker (after commit); a run already waiting is reused."""
        return sync_run_queue(connection=connection)

    def sync_run(self, run_id: int) -> None:
        """The task's body: re-read the run, return if gone or done, sync."""
        run = SyncRun.objects.select_related("connection__fhir_server", "owner__profile").filter(pk=run_id).first()
        if run is None or run.is_finished:
            return
        self.connection_sync(connection=run.connection, run=run)

    def connection_sync(self, *, connection: Connection, run: SyncRun) -> SyncRun:
        """Fetch what changed since the last good sync and write it (idempotent, re-runnable).

        A transient failure puts the run back in the queue and re-raises for the task to retry, until
        SYNC_ATTEMPTS; a permanent one marks the connection as needing the patient.
        """
        profile = getattr(run.owner, "profile", None)
        # Messages of the run are written in the patient's language.
        with translation.override(profile.preferred_language if profile else None):
            return self._sync(connection, run)

    def _sync(self, connection: Connection, run: SyncRun) -> SyncRun:
        stopped = processing_stopped(run)
        if stopped is not None:
            return stopped  # erased, disabled or restricted: no call to the source, nothing written
        if connection.status == Connection.Status.NEEDS_ATTENTION:
            reason = self.provider.attention_reasons.get(
                connection.attention_code, _("This connection needs your attention.")
            )
            return sync_run_finish(
                run, status=connection.status, error_code=connection.attention_code or "needs_attention", message=reason
            )
        if (
            connection.status == Connection.Status.DISCONNECTED
            or not (connection.credentials or {}).get("access_token")
            or not self.ready(connection)
            or not consent_is_granted(user=run.owner, purpose=self.provider.consent_purpose)
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
        progress = SyncProgress(self, run)
        try:
            cursor = self.fetch(connection=connection, progress=progress)
        except ProviderError as error:
            run.refresh_from_db(fields=COUNT_NAMES)
            if error.permanent:
                Connection.objects.filter(pk=connection.pk).exclude(status=Connection.Status.DISCONNECTED).update(
                    status=Connection.Status.NEEDS_ATTENTION, attention_code=error.code
                )
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
        except tuple(self.failures) as error:
            run.refresh_from_db(fields=COUNT_NAMES)
            code = next(code for kind, code in self.failures.items() if isinstance(error, kind))
            return sync_run_finish(run, error_code=code, message=str(error))
        with transaction.atomic():
            # The cursor moves only after everything is in: a failed sync is redone from the old one.
            if cursor is not None:
                connection.cursor = cursor
                connection.save(update_fields=["cursor", "updated_at"])
            return sync_run_finish(run, **progress.counts)

    # -- revocation --------------------------------------------------------------------------------

    def connection_revoke(self, connection: Connection) -> bool:
        """Ask the source to revoke HealthSpace's access (on disconnect); True when it confirmed.

        Best effort: a failure is logged and the caller goes on forgetting the tokens anyway.
        """
        credentials = connection.credentials or {}
        if not credentials.get("access_token"):
            return False
        try:
            return self.revoke(credentials)
        except ProviderError as error:
            logger.warning("%s revoke for connection %s failed: %s", self.provider.slug, connection.pk, error.code)
            return False

    # -- the Connections page ----------------------------------------------------------------------

    def connect_choices(self, *, user: User, connections: list[Connection]) -> list[dict]:
        """What the patient may connect now: [{"label", "fields"}] posted to the connect view; [] if nothing."""
        if any(connection.status != Connection.Status.DISCONNECTED for connection in connections):
            return []
        return [{"label": _("Connect"), "fields": {}}]

    # == hooks: what each source says for itself ===================================================

    def configured(self, *, user: User) -> bool:
        """Whether this HealthSpace is set up to connect the patient to the source (a client registered)."""
        raise NotImplementedError

    def connect_target(self, request) -> dict:
        """What the connect view's form chose (SMART: the server), as keywords of `authorization_request`."""
        return {}

    def authorization_request(self, **target) -> AuthorizationRequest:
        raise NotImplementedError

    def exchange(self, *, pending: dict, code: str, redirect_uri: str) -> tuple[Tokens, dict]:
        """Trade the code for tokens: (tokens, the connection's match fields)."""
        raise NotImplementedError

    def credentials_extra(self, pending: dict) -> dict:
        """What the connection keeps from the sign-in besides the tokens (SMART: its token endpoint)."""
        return {}

    def refresh(self, *, connection: Connection, credentials: dict) -> Tokens:
        raise NotImplementedError

    def ready(self, connection: Connection) -> bool:
        """Whether the connection has what a sync needs beyond tokens (SMART: its server)."""
        return True

    def fetch(self, *, connection: Connection, progress: SyncProgress) -> dict | None:
        """Fetch everything changed since `connection.cursor` and write it through `progress`; the next cursor."""
        raise NotImplementedError

    def revoke(self, credentials: dict) -> bool:
        """Revoke the grant at the source; True when it confirmed."""
        return False


class RegisteredClientSource(OAuthSource):
    """A source reached through one OAuth client registered in the settings (Withings, Oura)."""

    scopes = ""

    def configured(self, *, user: User | None = None) -> bool:
        return all(self.client.client_credentials())

    def authorization_request(self) -> AuthorizationRequest:
        if not self.configured():
            raise IntegrationError(str(self.not_configured_message))
        client_id, _secret = self.client.client_credentials()
        return AuthorizationRequest(
            endpoint=self.client.authorize_endpoint(), client_id=client_id, params={"scope": self.scopes}
        )

    def exchange(self, *, pending: dict, code: str, redirect_uri: str) -> tuple[Tokens, dict]:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return self.client.token_request(data), {}

    def refresh(self, *, connection: Connection, credentials: dict) -> Tokens:
        return self.client.token_request({"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]})


def tokens_refresh_due(*, ahead: datetime.timedelta = REFRESH_AHEAD) -> int:
    """Refresh the tokens of connected OAuth sources that expire within `ahead` (beat); returns how many.

    Each refresh is the single-flight one a sync uses. A revoked token marks its connection "needs
    attention" as a sync would; a provider that is down is tried again on the next beat.
    """
    refreshed = 0
    for slug, provider in providers().items():
        if provider.kind != "oauth" or not provider.oauth_source:
            continue
        source = source_of(provider)
        connections = Connection.objects.filter(provider=slug, status=Connection.Status.CONNECTED)
        for connection in connections.select_related("fhir_server", "owner").iterator():
            credentials = connection.credentials or {}
            if not credentials.get("refresh_token") or not source._expiring(credentials, ahead):
                continue
            if not processing_allowed(user=connection.owner):
                continue
            try:
                source.token_refresh(connection=connection, margin=ahead)
            except ProviderError:
                continue
            refreshed += 1
    return refreshed


def source_of(provider: Provider) -> OAuthSource:
    """The OAuthSource of an "oauth" provider (its `oauth_source` dotted path)."""
    return import_string(provider.oauth_source)


def revoke(connection: Connection) -> None:
    """`Provider.revoke` for OAuth sources that can revoke: called on disconnect, best effort."""
    source_of(provider_get(connection.provider)).connection_revoke(connection)


def sync_task(source_path: str, name: str):
    """The Celery task that runs one queued sync of a source: ids in, idempotent, transient errors retried."""

    @shared_task(
        name=name,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(TransientProviderError, OperationalError, InterfaceError),
        retry_backoff=True,
        retry_backoff_max=600,
        retry_jitter=True,
        max_retries=SYNC_ATTEMPTS - 1,
        ignore_result=True,
    )
    def run_sync(run_id: int) -> None:
        """Run one queued sync; a re-delivery or retry redoes it (writes are idempotent)."""
        import_string(source_path).sync_run(run_id)

    return run_sync


# -- pages -----------------------------------------------------------------------------------------


def _callback_uri(request, source: OAuthSource) -> str:
    return request.build_absolute_uri(reverse(f"{source.namespace}:callback"))


@require_POST
@login_required
def connect(request, *, source: OAuthSource):
    if (closed := rollout.gate(request, source.provider.feature)) is not None:
        return closed
    if not source.configured(user=request.user):
        messages.error(request, str(source.not_configured_message))
        return redirect(source.error_url)
    target = source.connect_target(request)
    try:
        url, _state = source.authorization_start(
            user=request.user, redirect_uri=_callback_uri(request, source), **target
        )
    except (IntegrationError, ProviderError) as error:
        messages.error(request, str(error))
        return redirect(source.error_url)
    return redirect(url)


@login_required
def callback(request, *, source: OAuthSource):
    state, code, error = (request.GET.get(name, "") for name in ("state", "code", "error"))
    if not rollout.feature_is_open(user=request.user, flag=source.provider.feature):
        # Closed while the patient was at the source's sign-in page: nothing is connected.
        source.authorization_abandon(user=request.user, state=state)
        return rollout.gate(request, source.provider.feature)
    if error or not code:
        source.authorization_abandon(user=request.user, state=state)
        messages.error(request, str(source.denied_message if error == "access_denied" else source.failed_message))
        return redirect(source.error_url)
    try:
        connection = source.authorization_complete(
            user=request.user, state=state, code=code, redirect_uri=_callback_uri(request, source)
        )
    except (IntegrationError, ProviderError) as failure:
        messages.error(request, str(failure))
        return redirect(source.error_url)
    run = source.sync_queue(connection=connection)
    return redirect("integrations:run", public_id=run.public_id)


@require_POST
@login_required
def sync(request, public_id, *, source: OAuthSource):
    connection = selectors.connection_get_for_user(user=request.user, public_id=public_id)
    if connection.provider != source.provider.slug:
        raise Http404("Not a connection of this source")
    run = source.sync_queue(connection=connection)
    return redirect("integrations:run", public_id=run.public_id)


def urlpatterns(source: OAuthSource) -> list:
    """The connect, callback and sync-now URLs of a source (mounted under its own namespace)."""
    return [
        path("connect/", connect, {"source": source}, name="connect"),
        path("callback/", callback, {"source": source}, name="callback"),
        path("<uuid:public_id>/sync/", sync, {"source": source}, name="sync"),
    ]
