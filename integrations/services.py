"""Writes of the integrations app: connections, uploads, runs, and the items they bring in."""

import datetime
import hmac
import io
import logging
import secrets
import tempfile
import uuid
from collections.abc import Iterable
from functools import partial

from django.apps import apps
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import services as account_services
from accounts.models import ConsentPurpose, User
from accounts.selectors import (
    PROCESSING_CLOSED,
    PROCESSING_RESTRICTED,
    consent_is_granted,
    processing_allowed,
    processing_state,
)
from healthspace import crypto
from records.fhir.importer import FhirImportError, fhir_import
from records.models import ClinicalRecord, Workout
from records.timeseries import (
    MergeResult,
    Sample,
    SampleBatch,
    sample_batch_merge,
    samples_delete_source,
    samples_merge,
)

from .exceptions import IntegrationError
from .models import Connection, SyncRun
from .providers.base import Provider, provider_get, providers
from .providers.items import ClinicalDocument, ParseError, ProfileHint, WorkoutItem

logger = logging.getLogger(__name__)

UPLOAD_PREFIX = "uploads/"
# Samples handed to the store at once; the store streams its own chunks within.
SAMPLE_BATCH = 50_000
WORKOUT_BATCH = 500
# A run found stalled after this many starts is not sent again: it ends failed.
STALLED_RUN_MAX_ATTEMPTS = 5


@transaction.atomic
def connection_connect(*, user: User, provider: Provider) -> Connection:
    """The patient's connection to a source, created or reopened, with consent recorded for it."""
    if not consent_is_granted(user=user, purpose=ConsentPurpose.HEALTH_DATA):
        raise IntegrationError(_("To keep health data in HealthSpace, first give your consent to its processing."))
    if not processing_allowed(user=user):
        raise IntegrationError(_("You restricted the processing of your data: lift the restriction to add data."))
    connection, _created = Connection.objects.select_for_update().get_or_create(owner=user, provider=provider.slug)
    if connection.status == Connection.Status.DISCONNECTED:
        connection.status = Connection.Status.CONNECTED
        connection.attention_code = ""
        connection.save(update_fields=["status", "attention_code", "updated_at"])
    account_services.consent_set(user=user, purpose=provider.consent_purpose, granted=True)
    return connection


def upload_store(*, user: User, provider: Provider, uploaded_file, options: dict | None = None) -> SyncRun:
    """Encrypt an uploaded file into storage and queue its import, with the patient's upload choices."""
    size = getattr(uploaded_file, "size", None)  # an upload knows it; a local file (commands) is trusted
    if size is not None and size > settings.IMPORT_MAX_BYTES:
        raise IntegrationError(
            _("This file is larger than %(size)s, the largest file HealthSpace imports.")
            % {"size": filesizeformat(settings.IMPORT_MAX_BYTES)}
        )
    connection = connection_connect(user=user, provider=provider)
    return _store_and_queue(connection=connection, stream=uploaded_file, kind=SyncRun.Kind.IMPORT, options=options)


def webhook_token_issue(*, user: User, provider: Provider) -> tuple[Connection, str]:
    """Connect a webhook source and give it a new secret token (shown once; the old one stops working)."""
    connection = connection_connect(user=user, provider=provider)
    token = secrets.token_urlsafe(32)
    connection.webhook_key = crypto.keyed_hash("webhook", str(connection.public_id), token)
    connection.save(update_fields=["webhook_key", "updated_at"])
    return connection, token


def webhook_token_matches(*, connection: Connection, token: str) -> bool:
    """Whether a token is the connection's current webhook secret (constant-time comparison)."""
    if not connection.webhook_key or not token:
        return False
    expected = crypto.keyed_hash("webhook", str(connection.public_id), token)
    return hmac.compare_digest(expected, connection.webhook_key)


def webhook_receive(*, connection: Connection, body: bytes) -> SyncRun:
    """Keep a webhook's body encrypted and queue its import; a repeated batch adds nothing."""
    return _store_and_queue(connection=connection, stream=io.BytesIO(body), kind=SyncRun.Kind.WEBHOOK)


def _store_and_queue(*, connection: Connection, stream, kind: str, options: dict | None = None) -> SyncRun:
    user = connection.owner
    if not processing_allowed(user=user):
        # A webhook keeps posting after a restriction or an erasure: nothing is stored.
        raise IntegrationError(_("This account's data is not being processed now: nothing was stored."))
    name = f"{UPLOAD_PREFIX}{uuid.uuid4().hex}"
    with tempfile.TemporaryFile() as encrypted:
        size = crypto.encrypt_stream(stream, encrypted)
        if size == 0:
            raise IntegrationError(_("This file is empty."))
        encrypted.seek(0)
        stored_name = default_storage.save(name, File(encrypted, name=name))
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                owner=user,
                connection=connection,
                kind=kind,
                upload_name=stored_name,
                upload_size=size,
                options=options or {},
            )
            transaction.on_commit(lambda: _enqueue(run.pk))
    except Exception:
        default_storage.delete(stored_name)  # nothing orphaned when the run cannot be recorded
        raise
    return run


def sync_runs_requeue(*, older_than: datetime.timedelta, stalled_after: datetime.timedelta | None = None) -> int:
    """Send again queued runs whose message was lost, and runs a dead or failed task left running; safe to repeat."""
    now = timezone.now()
    waiting = models.Q(outcome=SyncRun.Outcome.QUEUED, created_at__lt=now - older_than)
    if stalled_after is not None:
        # Started longer ago than any task may run: its worker died, or the task gave up (the
        # database away for longer than its retries) and left the run as it was.
        waiting |= models.Q(outcome=SyncRun.Outcome.RUNNING, started_at__lt=now - stalled_after)
    sent = 0
    for run in SyncRun.objects.filter(waiting).order_by("pk"):
        if run.outcome == SyncRun.Outcome.RUNNING and run.attempts >= STALLED_RUN_MAX_ATTEMPTS:
            # One that stops every time (killed by the time limit) ends failed; staff can retry it.
            sync_run_finish(
                run,
                error_code="interrupted",
                message=_("This was interrupted several times, so it was stopped. Please try again later."),
            )
            continue
        _enqueue(run.pk)
        sent += 1
    return sent


def _byte_progress(run: SyncRun):
    def report(records_read: int, bytes_read: int, total_bytes: int) -> None:
        # The parser counts bytes of what it reads (an unzipped member): scale to the upload's size.
        share = bytes_read / total_bytes if total_bytes else 0
        SyncRun.objects.filter(pk=run.pk).update(bytes_done=int(run.upload_size * min(share, 1.0)))

    return report


def _progress_saver(run: SyncRun):
    def save(**counts):
        for name, value in counts.items():
            setattr(run, name, value)
        SyncRun.objects.filter(pk=run.pk).update(**counts)

    return save


RESTRICTED_MESSAGE = gettext_lazy("You restricted the processing of your data: nothing was imported.")


def processing_stopped(run: SyncRun) -> SyncRun | None:
    """The run as it must end when its owner's data may not be processed now, or None to go on.

    An account erased, being erased or disabled gets nothing written, not even the run's end (erasure
    deletes the run); a restricted one sees the run end with the reason.
    """
    state = processing_state(user=run.owner)
    if state == PROCESSING_CLOSED:
        return run
    if state == PROCESSING_RESTRICTED:
        return sync_run_finish(run, error_code="restricted", message=RESTRICTED_MESSAGE)
    return None


def sync_run_execute(*, run: SyncRun) -> SyncRun:
    """Run an import to its end: parse, write, count; a re-run after a crash redoes it idempotently."""
    connection = run.connection
    provider = provider_get(connection.provider)
    stopped = processing_stopped(run)
    if stopped is not None:
        return stopped
    if connection.status == Connection.Status.DISCONNECTED or not consent_is_granted(
        user=run.owner, purpose=provider.consent_purpose
    ):
        return _finish(run, error_code="not_connected", message=_("This source is disconnected: nothing was imported."))
    profile = getattr(run.owner, "profile", None)
    with translation.override(profile.preferred_language if profile else None):
        return _execute(run, provider)


def _execute(run: SyncRun, provider: Provider) -> SyncRun:
    # Messages of the run are written in the patient's language.
    connection = run.connection
    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.Outcome.RUNNING, started_at=timezone.now(), attempts=run.attempts + 1
    )
    run.refresh_from_db()
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.SYNCING)
    try:
        # A named file: parsers that need a path (zip archives) open it again by name.
        with tempfile.NamedTemporaryFile(prefix="healthspace-import-") as plain:
            with default_storage.open(run.upload_name, "rb") as stored:
                crypto.decrypt_stream(stored, plain)
            plain.flush()
            counts = file_import(owner=run.owner, provider=provider, stream=plain, run=run, options=run.options)
    except ParseError as error:
        return _finish(run, error_code="parse_error", message=str(error))
    except FhirImportError as error:
        return _finish(run, error_code="fhir_error", message=str(error))
    return _finish(run, **counts)


def file_import(
    *, owner: User, provider: Provider, stream, run: SyncRun | None = None, options: dict | None = None
) -> dict:
    """Import a local plaintext file in two passes (the worker's job and import commands share it)."""
    # Only providers that ask the patient something at upload take the answers.
    parse = partial(provider.parse, options=options or {}) if provider.upload_form is not None else provider.parse
    # The first pass reads the whole file without writing: a file that breaks halfway fails
    # here, so nothing of it is half-imported.
    stream.seek(0)
    if provider.validate is not None:
        provider.validate(stream, stream.name)
    else:
        items, _stats = parse(stream, stream.name, None)
        for _item in items:
            pass
    stream.seek(0)
    items, stats = parse(stream, stream.name, _byte_progress(run) if run is not None else None)
    counts = items_write(owner=owner, provider=provider, items=items, run=run)
    if stats is not None:
        counts["read"] = getattr(stats, "read", counts["read"])
        counts["rejected"] += getattr(stats, "rejected_total", 0)
    return counts


def sync_run_finish(
    run: SyncRun, *, status: str = Connection.Status.CONNECTED, error_code: str = "", message: str = "", **fields
) -> SyncRun:
    """End a run with its counts and outcome, and set the connection's state (every provider's last step)."""
    with transaction.atomic():
        for name, value in fields.items():
            setattr(run, name, value)
        run.outcome = SyncRun.Outcome.FAILED if error_code else SyncRun.Outcome.SUCCEEDED
        run.error_code, run.error_message = error_code, str(message)[:500]
        run.finished_at = timezone.now()
        run.save()
        update = {"status": status}
        if not error_code:
            update["last_sync_at"] = run.finished_at
        Connection.objects.filter(pk=run.connection_id).exclude(status=Connection.Status.DISCONNECTED).update(**update)
    logger.info(
        "sync run %s %s %s: read %s, added %s, already present %s, rejected %s",
        run.pk,
        run.outcome,
        run.error_code,
        run.read,
        run.added,
        run.already_present,
        run.rejected,
    )
    return run


def _finish(run: SyncRun, *, error_code: str = "", message: str = "", **counts) -> SyncRun:
    sync_run_finish(run, error_code=error_code, message=message, bytes_done=run.upload_size, **counts)
    if run.outcome == SyncRun.Outcome.SUCCEEDED and run.upload_name:
        # The encrypted upload is kept after a failure so staff can retry; cleaned up when done.
        name = run.upload_name
        transaction.on_commit(lambda: default_storage.delete(name))
        SyncRun.objects.filter(pk=run.pk).update(upload_name="")
    return run


def items_write(*, owner: User, provider: Provider, items: Iterable, run: SyncRun | None = None) -> dict:
    """Write a parser's items: samples to the store, workouts and FHIR files to records (idempotent)."""
    counts = {"read": 0, "added": 0, "already_present": 0, "rejected": 0}
    samples: list[Sample] = []
    workouts: list[WorkoutItem] = []
    save_progress = _progress_saver(run) if run is not None else None

    def count_merge(result: MergeResult):
        # A changed value is new data for the patient: it counts as added.
        counts["added"] += result.added + result.replaced
        counts["already_present"] += result.already_present
        counts["rejected"] += result.rejected
        if save_progress:
            save_progress(**counts)

    def flush_samples():
        if samples:
            count_merge(samples_merge(owner=owner, samples=samples, replace=provider.replaces_samples))
            samples.clear()

    def flush_workouts():
        if workouts:
            added, present = _workouts_write(owner=owner, provider=provider, workouts=workouts)
            counts["added"] += added
            counts["already_present"] += present
            workouts.clear()

    for item in items:
        counts["read"] += 1
        if isinstance(item, Sample):
            # The provider prefixes the device name, so a source's samples can be found again.
            item.source = f"{provider.slug}:{item.source}"
            samples.append(item)
            if len(samples) >= SAMPLE_BATCH:
                flush_samples()
        elif isinstance(item, SampleBatch):
            # Samples a parser already grouped as the store's rows: merged as they are, one chunk.
            counts["read"] += item.read - 1
            flush_samples()
            batch = item.with_source_prefix(f"{provider.slug}:")
            count_merge(sample_batch_merge(owner=owner, batch=batch, replace=provider.replaces_samples))
            # Let this batch go before the next one is read: memory holds one batch at a time.
            del item, batch
        elif isinstance(item, WorkoutItem):
            workouts.append(item)
            if len(workouts) >= WORKOUT_BATCH:
                flush_workouts()
        elif isinstance(item, ClinicalDocument):
            try:
                report = fhir_import(
                    owner=owner, stream=io.BytesIO(item.content), filename=item.name, origin=provider.slug
                )
            except FhirImportError:
                # It comes after the samples already written: failing now would leave half an export.
                if not item.one_of_many:
                    raise
                counts["rejected"] += 1
                continue
            # A document is read as the resources it holds (a Bundle holds many).
            counts["read"] += report.read - 1
            counts["added"] += report.added
            counts["already_present"] += report.already_present
            counts["rejected"] += report.rejected
        elif isinstance(item, ProfileHint) and run is not None:
            # Offered to the patient on the run's page, never applied silently.
            SyncRun.objects.filter(pk=run.pk).update(
                profile_hint={"date_of_birth": item.date_of_birth.isoformat() if item.date_of_birth else None}
            )
    flush_samples()
    flush_workouts()
    return counts


def _workouts_write(*, owner: User, provider: Provider, workouts: list[WorkoutItem]) -> tuple[int, int]:
    rows = []
    for item in workouts:
        identity = item.source_id or f"{item.activity}|{item.start.isoformat()}|{item.end.isoformat()}|{item.source}"
        rows.append(
            Workout(
                owner=owner,
                source=provider.record_source,
                origin=provider.slug,
                source_key=crypto.keyed_hash(provider.slug, "workout", identity),
                source_label=item.source[:200],
                effective_at=item.start,
                ended_at=item.end,
                activity=item.activity[:100],
                duration_s=item.duration_s,
                distance_m="" if item.distance_m is None else f"{item.distance_m:.1f}",
                energy_kcal="" if item.energy_kcal is None else f"{item.energy_kcal:.1f}",
                statistics=item.statistics or None,
            )
        )
    keys = [row.source_key for row in rows]
    existing = set(Workout.objects.filter(owner=owner, source_key__in=keys).values_list("source_key", flat=True))
    new = {row.source_key: row for row in rows if row.source_key not in existing}
    with transaction.atomic():
        Workout.objects.bulk_create(new.values(), ignore_conflicts=True)
    return len(new), len(rows) - len(new)


def connection_disconnect(*, user: User, connection: Connection) -> Connection:
    """Stop a source: tokens revoked where the provider can, no more syncs, consent withdrawn, secrets forgotten."""
    if connection.owner_id != user.pk:
        raise IntegrationError(_("This connection is not yours."))
    provider = provider_get(connection.provider)
    if provider.revoke is not None and connection.credentials:
        # Outside any transaction: a network call. A failure does not keep the source connected.
        try:
            provider.revoke(connection)
        except Exception:  # noqa: BLE001 - revocation is best effort; the tokens are forgotten below anyway
            logger.warning("token revocation failed for connection %s", connection.pk)
    with transaction.atomic():
        connection.status = Connection.Status.DISCONNECTED
        connection.credentials = None
        connection.webhook_key = ""
        connection.next_sync_at = None
        connection.save()
        account_services.consent_set(user=user, purpose=provider.consent_purpose, granted=False)
    return connection


def sync_run_retry(*, run: SyncRun) -> SyncRun:
    """Queue a failed run again (staff action); a run without its file any more cannot be retried."""
    if run.outcome != SyncRun.Outcome.FAILED or (run.kind == SyncRun.Kind.IMPORT and not run.upload_name):
        raise IntegrationError(_("Only a failed run whose file is still kept can be retried."))
    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.Outcome.QUEUED, error_code="", error_message="", attempts=0
    )
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    # Imports and webhooks run sync_run_execute_task; API syncs run their provider's own task.
    from healthspace.celery import app

    from .tasks import sync_run_execute_task

    run = SyncRun.objects.select_related("connection").filter(pk=run_id).first()
    if run is None:
        return
    sync_task = provider_get(run.connection.provider).sync_task if run.kind == SyncRun.Kind.SYNC else ""
    try:
        if sync_task:
            app.send_task(sync_task, args=[run_id])
        else:
            sync_run_execute_task.delay(run_id)
    except Exception:  # noqa: BLE001 - any broker failure: the run stays queued and beat sends it again
        logger.warning("broker unavailable: sync run %s stays queued until it is sent again", run_id)


def profile_hint_apply(*, user: User, run: SyncRun) -> bool:
    """Copy the date of birth a source gave into the profile, when the patient asks (idempotent)."""
    hint = run.profile_hint or {}
    if run.owner_id != user.pk or not hint.get("date_of_birth"):
        return False
    account_services.profile_update(user=user, date_of_birth=datetime.date.fromisoformat(hint["date_of_birth"]))
    return True


def source_data_delete(*, user: User, connection: Connection) -> dict:
    """Delete what a disconnected source brought: its samples, workouts and records (idempotent)."""
    if connection.owner_id != user.pk or connection.status != Connection.Status.DISCONNECTED:
        raise IntegrationError(_("Disconnect this source before deleting its data."))
    provider = provider_get(connection.provider)
    removed = {"samples": samples_delete_source(owner=user, source_prefix=f"{provider.slug}:")}
    # Records carry the connected source that wrote them: another portal's, an Apple export's or the
    # patient's own stay.
    origin = record_origin(connection=connection)
    for model in apps.get_app_config("records").get_models():
        if issubclass(model, ClinicalRecord):
            deleted, _details = model.objects.filter(owner=user, origin=origin).delete()
            removed[model._meta.model_name] = deleted
    return removed


def record_origin(*, connection: Connection) -> str:
    """What the records a connection wrote carry as `origin`: the provider, and the EHR server for SMART."""
    if connection.fhir_server_id:
        return f"{connection.provider}:{connection.fhir_server.public_id}"
    return connection.provider


def sync_run_queue(*, connection: Connection) -> SyncRun:
    """Queue a sync of an API source for the worker (after commit); a run already waiting is reused."""
    with transaction.atomic():
        run = SyncRun.objects.filter(
            connection=connection, kind=SyncRun.Kind.SYNC, outcome=SyncRun.Outcome.QUEUED
        ).first() or SyncRun.objects.create(owner=connection.owner, connection=connection, kind=SyncRun.Kind.SYNC)
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def connections_sync_due(*, now: datetime.datetime | None = None) -> int:
    """Queue a sync for every connected API source whose next sync is due; safe to run any time."""
    now = now or timezone.now()
    slugs = [slug for slug, provider in providers().items() if provider.kind == "oauth"]
    due = (
        Connection.objects.filter(provider__in=slugs, status=Connection.Status.CONNECTED, owner__is_active=True)
        .exclude(owner__profile__processing_restricted_at__isnull=False)
        .filter(models.Q(next_sync_at__isnull=True) | models.Q(next_sync_at__lte=now))
    )
    queued = 0
    for connection in due.select_related("owner"):
        interval = provider_get(connection.provider).sync_interval
        Connection.objects.filter(pk=connection.pk).update(next_sync_at=now + interval)
        sync_run_queue(connection=connection)
        queued += 1
    return queued
