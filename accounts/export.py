"""The patient's copy of everything (GDPR Art. 15 and 20): an archive a job builds, kept encrypted for a day.

The zip holds:
  README.txt          what is inside, in the patient's language
  manifest.json       every category with its files and, per model, how many rows were written
  one or more files per category of accounts/privacy.py (JSON of its rows, decrypted; CSV of time
  series, one row per sample; the documents themselves), then the archive parts (the record as a
  FHIR R4 Bundle), then any model holding the patient's data that no category covers yet.

Memory stays bounded: rows are read with `iterator()` and written one at a time, and the zip is written
through an encrypting sink into a temporary file of ciphertext (no plaintext on disk), which then goes to
storage. A download decrypts it chunk by chunk into the response.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import logging
import re
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Iterator

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, models, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from healthspace import crypto

from . import privacy
from .models import EXPORT_KEPT_HOURS, AuditEvent, DataExport, User
from .selectors import account_is_active
from .services import audit_record

logger = logging.getLogger(__name__)

EXPORT_PREFIX = "exports/"
FORMAT = "healthspace-export"
FORMAT_VERSION = 1
# Rows fetched from the database at a time.
ROWS_CHUNK = 500
# Never written to an export, whatever the model: secrets, and where files sit in storage.
ALWAYS_EXCLUDED = frozenset(
    {"password", "credentials", "token_key", "code_key", "webhook_key", "session_key", "storage_name", "upload_name"}
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Build attempts (first run and redeliveries) before an export is given up.
BUILD_ATTEMPTS = 3


class ExportEncoder(DjangoJSONEncoder):
    """Dates, UUIDs, decimals as Django writes them; any other value (a country) as its text."""

    def default(self, o):
        try:
            return super().default(o)
        except TypeError:
            return str(o)


class ExportError(Exception):
    """An export cannot be asked for or downloaded now (plain words for the patient)."""


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text: a string starting like a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def row_dict(instance: models.Model, *, exclude: Iterable[str] = ()) -> dict:
    """A row as JSON-ready values, decrypted; keys to other rows as their id, the person's own key left out."""
    excluded = ALWAYS_EXCLUDED.union(exclude)
    user_model = get_user_model()
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in excluded:
            continue
        if field.is_relation:
            if field.related_model is not user_model:
                data[field.name] = getattr(instance, field.attname)
            continue
        data[field.name] = field.value_from_object(instance)
    return data


class _EncryptingSink:
    """A write-only file that encrypts what it is given in chunks, as `crypto.encrypt_stream` frames them.

    The zip is written into it, so the archive exists in plaintext only one chunk at a time, in memory.
    """

    def __init__(self, destination):
        self.destination = destination
        self.buffer = bytearray()
        self.size = 0

    def write(self, data) -> int:
        self.buffer += data
        self.size += len(data)
        while len(self.buffer) >= crypto.STREAM_CHUNK:
            self._flush_chunk(crypto.STREAM_CHUNK)
        return len(data)

    def _flush_chunk(self, length: int) -> None:
        chunk = bytes(self.buffer[:length])
        del self.buffer[:length]
        crypto.encrypt_stream(io.BytesIO(chunk), self.destination)

    def flush(self) -> None:
        """Kept for zipfile; chunks are written once full, the rest by close()."""

    def close(self) -> None:
        if self.buffer:
            self._flush_chunk(len(self.buffer))


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, *, default: str = "file") -> str:
    """A file name for inside the zip: no folders, no odd characters, not too long."""
    name = _UNSAFE_NAME.sub("-", text or "").strip(".-")[:80]
    return name or default


class ArchiveWriter:
    """What categories write the export through: JSON, CSV and files inside the zip, and the manifest."""

    def __init__(self, archive: zipfile.ZipFile, *, user: User):
        self.archive = archive
        self.user = user
        self.manifest: list[dict] = []
        self._entry: dict | None = None
        self._names: set[str] = set()

    # -- the manifest ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def category(self, key: str, label) -> Iterator[None]:
        self._entry = {"key": key, "label": str(label), "files": [], "models": {}}
        try:
            yield
        finally:
            self.manifest.append(self._entry)
            self._entry = None

    def counted(self, model: type[models.Model], rows: int) -> None:
        """Say in the manifest that `rows` rows of a model were written (added up per model)."""
        if self._entry is not None:
            label = model._meta.label
            self._entry["models"][label] = self._entry["models"].get(label, 0) + rows

    def _claim(self, name: str) -> str:
        name = name.lstrip("/").replace("..", "-")
        stem, dot, extension = name.rpartition(".")
        unique, number = name, 1
        while unique in self._names:
            number += 1
            unique = f"{stem}-{number}.{extension}" if dot else f"{name}-{number}"
        self._names.add(unique)
        if self._entry is not None:
            self._entry["files"].append(unique)
        return unique

    # -- writing --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def text(self, name: str) -> Iterator[io.TextIOWrapper]:
        with (
            self.archive.open(self._claim(name), "w", force_zip64=True) as raw,
            io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
        ):
            yield text

    def json(self, name: str, document) -> None:
        with self.text(name) as out:
            json.dump(document, out, cls=ExportEncoder, ensure_ascii=False, indent=1)

    def json_rows(self, name: str, rows: Iterable[dict]) -> int:
        """A JSON array written one element at a time; returns how many."""
        count = 0
        with self.text(name) as out:
            out.write("[")
            for row in rows:
                out.write(",\n" if count else "\n")
                out.write(json.dumps(row, cls=ExportEncoder, ensure_ascii=False))
                count += 1
            out.write("\n]\n")
        return count

    def csv_rows(self, name: str, header: list[str], rows: Iterable[Iterable]) -> int:
        """A CSV file written row by row, each cell protected against formula injection; returns how many rows."""
        count = 0
        with self.text(name) as out:
            writer = csv.writer(out)
            writer.writerow(header)
            for row in rows:
                writer.writerow([csv_cell(cell) for cell in row])
                count += 1
        return count

    def file(self, name: str, data: bytes) -> None:
        with self.archive.open(self._claim(name), "w", force_zip64=True) as out:
            out.write(data)

    def model_rows(
        self, model: type[models.Model], rows: models.QuerySet, *, name: str, exclude: Iterable[str] = ()
    ) -> int:
        """Every row of the queryset as JSON (decrypted), streamed; counted in the manifest."""
        count = self.json_rows(
            name, (row_dict(row, exclude=exclude) for row in rows.order_by("pk").iterator(chunk_size=ROWS_CHUNK))
        )
        self.counted(model, count)
        return count


def _excludes(category: privacy.Category, model: type[models.Model]) -> set[str]:
    prefix = f"{model._meta.label}."
    return {entry.removeprefix(prefix) for entry in category.export_excludes if entry.startswith(prefix)}


def category_export_default(category: privacy.Category, user: User, writer: ArchiveWriter) -> None:
    """Each model of the category as a JSON array of the user's rows."""
    category_models = privacy.category_models(category)
    for model in category_models:
        name = f"{category.key}.json" if len(category_models) == 1 else f"{category.key}/{model._meta.model_name}.json"
        writer.model_rows(model, privacy.rows_of(model, user), name=name, exclude=_excludes(category, model))


def archive_write(*, user: User, sink, progress=None) -> list[dict]:
    """Write the user's whole archive as a zip into `sink`; `progress(done)` after each step; returns the manifest."""
    profile = getattr(user, "profile", None)
    language = profile.preferred_language if profile is not None else None
    parts = privacy.archive_parts()
    uncovered = privacy.uncovered_models()
    with (
        translation.override(language),
        zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        writer = ArchiveWriter(archive, user=user)
        done = 0
        for category in privacy.categories():
            with writer.category(category.key, category.label):
                if category.export is not None:
                    category.export(user, writer)
                else:
                    category_export_default(category, user, writer)
            done += 1
            if progress:
                progress(done)
        for part in parts:
            with writer.category(part.key, part.label):
                part.write(user, writer)
            done += 1
            if progress:
                progress(done)
        for model in uncovered:
            # Not registered by its app yet: exported as it is, so nothing of the patient is left out.
            with writer.category(model._meta.label_lower, model._meta.verbose_name_plural):
                writer.model_rows(model, privacy.rows_of(model, user), name=f"other/{model._meta.label_lower}.json")
        created_at = timezone.now()
        with writer.category("about", "README"):
            writer.json(
                "manifest.json",
                {
                    "format": FORMAT,
                    "version": FORMAT_VERSION,
                    "created_at": created_at,
                    "account": str(user.public_id),
                    "categories": writer.manifest[:],
                },
            )
            readme = render_to_string(
                "accounts/privacy/export_readme.txt",
                {"manifest": writer.manifest, "created_at": created_at, "kept_hours": EXPORT_KEPT_HOURS},
            )
            writer.file("README.txt", readme.encode("utf-8"))
    return writer.manifest


def export_steps() -> int:
    """How many steps the export page counts: each category, then each archive part."""
    return len(privacy.categories()) + len(privacy.archive_parts())


# -- services ------------------------------------------------------------------------------------------


def export_request(*, user: User) -> DataExport:
    """Ask for a new export (after re-authentication); one still being built is returned instead of a second."""
    if not account_is_active(user=user):
        raise ExportError("account not active")
    with transaction.atomic():
        pending = (
            DataExport.objects.select_for_update()
            .filter(owner=user, status__in=[DataExport.Status.QUEUED, DataExport.Status.RUNNING])
            .first()
        )
        if pending is not None:
            return pending
        export = DataExport.objects.create(owner=user, steps_total=export_steps())
        audit_record(
            actor_kind=AuditEvent.ActorKind.PATIENT,
            actor=user,
            subject=user,
            action="privacy.export_requested",
            object_type="data_export",
            object_id=str(export.public_id),
        )
        transaction.on_commit(lambda: _enqueue(export.pk))
    return export


def _enqueue(export_id: int) -> None:
    from .tasks import data_export_build_task

    try:
        data_export_build_task.delay(export_id)
    except Exception:  # noqa: BLE001 - any broker failure: the export stays queued and beat sends it again
        logger.warning("broker unavailable: data export %s stays queued until it is sent again", export_id)


def _fail(export: DataExport, code: str) -> DataExport:
    DataExport.objects.filter(pk=export.pk).update(
        status=DataExport.Status.FAILED, error_code=code, finished_at=timezone.now()
    )
    export.refresh_from_db()
    return export


def export_build(*, export: DataExport) -> DataExport:
    """Build the archive, encrypt it into storage and open it for a day; a re-run after a crash starts again."""
    user = export.owner
    if not account_is_active(user=user):
        # Erased or disabled since it was asked: nothing is written.
        return _fail(export, "account_closed")
    if export.attempts >= BUILD_ATTEMPTS:
        return _fail(export, "interrupted")
    DataExport.objects.filter(pk=export.pk).update(
        status=DataExport.Status.RUNNING,
        started_at=timezone.now(),
        attempts=export.attempts + 1,
        steps_done=0,
        steps_total=export_steps(),
    )

    def progress(done: int) -> None:
        DataExport.objects.filter(pk=export.pk).update(steps_done=done)

    name = f"{EXPORT_PREFIX}{uuid.uuid4().hex}"
    try:
        with tempfile.TemporaryFile() as encrypted:
            sink = _EncryptingSink(encrypted)
            archive_write(user=user, sink=sink, progress=progress)
            sink.close()
            encrypted.seek(0)
            stored = default_storage.save(name, File(encrypted, name=name))
    except (OperationalError, InterfaceError):
        raise  # the database went away: the task retries with backoff
    except Exception as error:  # noqa: BLE001 - any other failure ends this export; the patient can ask again
        # The type only: a message could quote data.
        logger.error("data export %s failed: %s", export.pk, type(error).__name__)
        return _fail(export, "build_failed")
    now = timezone.now()
    with transaction.atomic():
        current = DataExport.objects.select_for_update().filter(pk=export.pk).first()
        opened = current is not None and current.status == DataExport.Status.RUNNING and account_is_active(user=user)
        if opened:
            previous = current.storage_name
            current.status = DataExport.Status.READY
            current.storage_name, current.size = stored, sink.size
            current.steps_done = current.steps_total
            current.finished_at, current.expires_at = now, now + datetime.timedelta(hours=EXPORT_KEPT_HOURS)
            current.save()
            audit_record(
                actor_kind=AuditEvent.ActorKind.JOB,
                subject=user,
                action="privacy.export_ready",
                object_type="data_export",
                object_id=str(current.public_id),
            )
            if previous and previous != stored:
                transaction.on_commit(lambda: default_storage.delete(previous))
    if not opened:
        # The export or the account went while it was built: the archive goes too.
        default_storage.delete(stored)
        return current or export
    return current


def export_chunks(*, user: User, export: DataExport) -> Iterator[bytes]:
    """The decrypted archive for a download (audited as the patient receiving their data); ExportError if gone."""
    if export.owner_id != user.pk or not export.is_downloadable():
        raise ExportError("not downloadable")
    audit_record(
        actor_kind=AuditEvent.ActorKind.PATIENT,
        actor=user,
        subject=user,
        action="privacy.export_downloaded",
        object_type="data_export",
        object_id=str(export.public_id),
    )
    storage_name = export.storage_name

    def chunks() -> Iterator[bytes]:
        with default_storage.open(storage_name, "rb") as stored:
            yield from crypto.decrypt_chunks(stored)

    return chunks()


def exports_expire(*, now: datetime.datetime | None = None) -> int:
    """Delete the archives whose day is over (beat); safe to run any time, each one goes once."""
    now = now or timezone.now()
    removed = 0
    due = DataExport.objects.filter(expires_at__lte=now).exclude(storage_name="")
    for export in due.order_by("pk").iterator():
        default_storage.delete(export.storage_name)
        DataExport.objects.filter(pk=export.pk).update(status=DataExport.Status.EXPIRED, storage_name="")
        removed += 1
    return removed


def exports_requeue(*, older_than: datetime.timedelta, stalled_after: datetime.timedelta) -> int:
    """Send again exports whose message was lost or whose worker died (beat); a build is idempotent."""
    now = timezone.now()
    waiting = models.Q(status=DataExport.Status.QUEUED, created_at__lt=now - older_than) | models.Q(
        status=DataExport.Status.RUNNING, started_at__lt=now - stalled_after
    )
    sent = 0
    for export_id in DataExport.objects.filter(waiting).order_by("pk").values_list("pk", flat=True):
        _enqueue(export_id)
        sent += 1
    return sent
