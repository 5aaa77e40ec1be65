"""Writes of medical records: manual entry, the patient's annotations, documents."""

import hashlib
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from healthspace import crypto

from .exceptions import DocumentRejected, RecordError
from .models import ClinicalRecord, Document, Measurement, Source

# Magic numbers of the document types we accept; the browser's declared type is not trusted.
DOCUMENT_SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
DOCUMENT_MAX_BYTES = getattr(settings, "DOCUMENT_MAX_BYTES", 20 * 1024 * 1024)


def measurement_test_key(*, loinc_code: str, name: str) -> str:
    """The keyed hash grouping one lab test: by LOINC code, else by its lower-cased name."""
    if loinc_code.strip():
        return crypto.keyed_hash("test", "loinc", loinc_code.strip())
    return crypto.keyed_hash("test", "name", " ".join(name.lower().split()))


def _prepare(record: ClinicalRecord) -> None:
    if isinstance(record, Measurement):
        record.test_key = measurement_test_key(loinc_code=record.loinc_code, name=record.name)
    record.full_clean()


@transaction.atomic
def record_create(*, user: User, record: ClinicalRecord) -> ClinicalRecord:
    """Save a record the patient entered by hand (each call adds one)."""
    record.owner = user
    record.source = Source.MANUAL
    _prepare(record)
    record.save()
    return record


@transaction.atomic
def record_update(*, user: User, record: ClinicalRecord, changes: dict) -> ClinicalRecord:
    """Apply the patient's changes; what a source sent stays as sent, only the note and flag change."""
    if record.owner_id != user.pk:
        raise RecordError(_("This record is not yours."))
    allowed = {"patient_note", "disputed"}
    if record.is_manual:
        allowed |= set(record.source_fields)
    refused = set(changes) - allowed
    if refused:
        raise RecordError(_("Records from a source cannot be changed; add a note or dispute them instead."))
    for name, value in changes.items():
        setattr(record, name, value)
    _prepare(record)
    record.save()
    return record


@transaction.atomic
def record_delete(*, user: User, record: ClinicalRecord) -> None:
    """Delete a record the patient entered by hand (and a document's file once committed)."""
    if record.owner_id != user.pk or not record.is_manual:
        raise RecordError(_("Only records you entered yourself can be deleted here."))
    record.delete()
    if isinstance(record, Document):
        storage_name = record.storage_name
        transaction.on_commit(lambda: default_storage.delete(storage_name))


def _sniff_content_type(head: bytes) -> str | None:
    for signature, content_type in DOCUMENT_SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    return None


def document_upload(*, user: User, uploaded_file, title: str, effective_at=None) -> Document:
    """Encrypt and store an uploaded PDF or image; the same file twice is kept once."""
    if uploaded_file.size > DOCUMENT_MAX_BYTES:
        raise DocumentRejected(
            _("This file is larger than %(size)d MB.") % {"size": DOCUMENT_MAX_BYTES // (1024 * 1024)}
        )
    data = uploaded_file.read(DOCUMENT_MAX_BYTES + 1)
    if len(data) > DOCUMENT_MAX_BYTES:
        raise DocumentRejected(
            _("This file is larger than %(size)d MB.") % {"size": DOCUMENT_MAX_BYTES // (1024 * 1024)}
        )
    content_type = _sniff_content_type(data[:16])
    if content_type is None:
        raise DocumentRejected(_("Only PDF, PNG and JPEG files can be added."))
    content_key = crypto.keyed_hash("document", hashlib.sha256(data).hexdigest())
    existing = Document.objects.filter(owner=user, content_key=content_key).first()
    if existing is not None:
        return existing
    storage_name = default_storage.save(f"documents/{uuid.uuid4().hex}", ContentFile(crypto.encrypt_bytes(data)))
    document = Document(
        owner=user,
        source=Source.UPLOAD,
        title=title or uploaded_file.name,
        filename=uploaded_file.name[:255],
        content_type=content_type,
        size=len(data),
        storage_name=storage_name,
        content_key=content_key,
        effective_at=effective_at,
    )
    try:
        document.full_clean()
        with transaction.atomic():
            document.save()
    except Exception:
        default_storage.delete(storage_name)  # no orphan file when the row cannot be written
        raise
    return document


def document_read(*, user: User, document: Document) -> bytes:
    """The decrypted bytes of the owner's document."""
    if document.owner_id != user.pk:
        raise RecordError(_("This record is not yours."))
    with default_storage.open(document.storage_name, "rb") as handle:
        return crypto.decrypt_bytes(handle.read())
