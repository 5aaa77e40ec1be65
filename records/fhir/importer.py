"""Import one patient's FHIR R4 file: a Bundle, an NDJSON bulk export, or a single resource.

The file is read twice. The first pass checks it as a whole (valid JSON, FHIR, R4, one person)
and keeps aside the few resources others point to (Medication, Organization); the second
maps and writes it in batches, each in its own short transaction. So a file refused for its
shape, version or number of people writes nothing, and a huge file never holds a long
transaction. HealthSpace is per patient: a file that refers to more than one person is refused.
"""

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as ModelValidationError

from accounts.models import User
from healthspace.crypto import keyed_hash
from records.exceptions import RecordError
from records.models import ClinicalRecord, Measurement, Source
from records.services import measurement_test_key

from . import mapping

logger = logging.getLogger(__name__)

# A Bundle or single resource is parsed whole; NDJSON is streamed, but no line may exceed this.
MAX_JSON_BYTES = 50 * 1024 * 1024
BATCH_SIZE = 500
MAX_ERRORS = 50
# The identifier a HealthSpace export carries, so that importing it again adds nothing.
SOURCE_KEY_SYSTEM = mapping.SOURCE_KEY_SYSTEM
# Validated and counted but not stored: the patient (offered to the profile), and medications
# (read through the MedicationRequest or MedicationStatement that points to them).
UNSTORED_TYPES = ("Patient", "Medication")
# Kept aside during the first pass so that references to them can be resolved.
REFERENCED_TYPES = ("Medication", "Organization")
# Resources that costs link to (a visit, a claim, a plan): only their id and identifiers are kept aside.
LINKED_TYPES = ("Encounter", "Claim", "Coverage")

_BOM = b"\xef\xbb\xbf"
# Free-text columns, which may be cut to fit.
_CUTTABLE = {
    "name",
    "title",
    "substance",
    "vaccine",
    "reason",
    "provider",
    "author",
    "source_label",
    "value_text",
    "reference_text",
    "insurer",
    "plan_name",
    "coverage_type",
    "payer",
}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_VERSION_NAMES = {"DSTU2": "FHIR DSTU2 (2015)", "STU3": "FHIR STU3 (2017)"}
_DSTU2_TYPES = {"MedicationOrder", "DiagnosticOrder", "DeviceUseRequest", "Order", "OrderResponse", "Conformance"}
_STU3_TYPES = {
    "ProcedureRequest",
    "ReferralRequest",
    "EligibilityRequest",
    "EligibilityResponse",
    "ProcessRequest",
    "ProcessResponse",
    "Sequence",
    "DataElement",
    "ServiceDefinition",
    "ExpansionProfile",
    "ImagingManifest",
}
# STU3 named the encounter `context` on these; R4 renamed it `encounter`.
_STU3_CONTEXT_TYPES = {"Condition", "Observation", "MedicationRequest", "Procedure", "DiagnosticReport", "CarePlan"}


class FhirImportError(RecordError):
    """The file cannot be imported at all; the message is plain words, safe to show."""


@dataclass
class ImportReport:
    """What an import read and did: counts and plain words, never a medical value."""

    fhir_version: str = ""
    read: int = 0
    added: int = 0
    already_present: int = 0
    rejected: int = 0
    skipped_by_type: dict[str, int] = field(default_factory=dict)
    added_by_kind: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # Name, birth date and gender from the file's Patient, for a later screen to offer.
    patient: dict | None = None

    @property
    def skipped(self) -> int:
        """How many resources were read but not stored, whatever their type."""
        return sum(self.skipped_by_type.values())

    def _skip(self, label: str) -> None:
        self.skipped_by_type[label] = self.skipped_by_type.get(label, 0) + 1

    def _reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)

    def _finish(self) -> None:
        unlisted = self.rejected - len(self.errors)
        if unlisted > 0:
            self.errors.append(_("%(count)d more resources were not imported.") % {"count": unlisted})


def fhir_import(*, owner: User, stream, filename: str = "", origin: str = "") -> ImportReport:
    """Import one patient's FHIR R4 file (binary stream) into the owner's records; a re-run adds nothing.

    origin: the connected source the file comes from (`ClinicalRecord.origin`). Resource ids are unique
    only within one server, so the records' keys are taken within their origin: the same id from two
    portals makes two records, the same resource again from one portal finds its record.
    """
    with _seekable(stream) as seekable:
        report = _import_file(owner, _FhirFile(seekable, filename), os.path.basename(filename), origin)
    logger.info(
        "FHIR import for user %s: read %d, added %d, already present %d, rejected %d, skipped %d",
        owner.pk,
        report.read,
        report.added,
        report.already_present,
        report.rejected,
        report.skipped,
    )
    return report


def _import_file(owner: User, source: "_FhirFile", label: str, origin: str = "") -> ImportReport:
    scan = _scan(source.items())
    if scan.version != "R4":
        raise FhirImportError(
            _("This file uses %(version)s; HealthSpace reads FHIR R4. Ask your provider for an R4 export.")
            % {"version": _VERSION_NAMES[scan.version]}
        )
    if scan.people > 1:
        raise FhirImportError(
            _(
                "This file holds the records of %(count)d people. HealthSpace keeps one person's records: "
                "import a file with your own records only."
            )
            % {"count": scan.people}
        )
    report = ImportReport(fhir_version="R4")
    resolve = _resolver(scan.lookup)
    items = source.items()
    while batch := list(islice(items, BATCH_SIZE)):
        records = [
            _record_for(owner, resource, full_url, resolve, label, report, origin) for resource, full_url in batch
        ]
        _write(owner, [record for record in records if record is not None], report)
    report._finish()
    return report


# -- reading the file ---------------------------------------------------------------------------


def _loads(data: bytes):
    # Decimal keeps a lab value's digits exactly as the file wrote them.
    return json.loads(data, parse_float=Decimal)


def _expand(item, full_url: str, depth: int = 0) -> Iterator[tuple[object, str]]:
    """A resource, or each resource of a Bundle (and of a Bundle inside it), with its fullUrl."""
    if isinstance(item, dict) and item.get("resourceType") == "Bundle" and depth < 2:
        for entry in item.get("entry") or []:
            # A transaction entry may carry only a request (a DELETE): nothing to read.
            if isinstance(entry, dict) and entry.get("resource") is not None:
                url = entry.get("fullUrl")
                yield from _expand(entry["resource"], url if isinstance(url, str) else "", depth + 1)
        return
    yield item, full_url


class _FhirFile:
    """The uploaded file: one JSON document, or NDJSON read line by line (twice)."""

    def __init__(self, stream, filename: str):
        self.stream = stream
        self.start = self.stream.tell()
        self.document = None
        self.ndjson = False
        first = self._first_line()
        if first is None:
            raise FhirImportError(_("This file is empty."))
        if first.startswith(b"<"):
            raise FhirImportError(_("This file looks like FHIR XML; HealthSpace reads FHIR JSON."))
        if not first.startswith(b"{"):
            raise FhirImportError(_("This file is not FHIR JSON."))
        if filename.lower().endswith((".ndjson", ".jsonl")) or self._starts_ndjson(first):
            self.ndjson = True
            return
        self.stream.seek(self.start)
        data = self.stream.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:
            raise FhirImportError(
                _("This file is larger than %(size)d MB; ask for an NDJSON (bulk) export instead.")
                % {"size": MAX_JSON_BYTES // (1024 * 1024)}
            )
        try:
            self.document = _loads(data)
        except (ValueError, RecursionError):
            raise FhirImportError(_("This file is not valid JSON; nothing was imported.")) from None
        if not isinstance(self.document, dict) or not isinstance(self.document.get("resourceType"), str):
            raise FhirImportError(_("This file is JSON but not FHIR: it has no resource type; nothing was imported."))

    def _lines(self) -> Iterator[bytes]:
        while line := self.stream.readline(MAX_JSON_BYTES + 1):
            if len(line) > MAX_JSON_BYTES:
                raise FhirImportError(
                    _("A line of this file is larger than %(size)d MB.") % {"size": MAX_JSON_BYTES // (1024 * 1024)}
                )
            yield line

    def _first_line(self) -> bytes | None:
        self.stream.seek(self.start)
        for line in self._lines():
            line = line.removeprefix(_BOM).strip()
            if line:
                return line
        return None

    def _starts_ndjson(self, first: bytes) -> bool:
        """Whether the first line is a whole JSON object and more content follows it."""
        try:
            if not isinstance(json.loads(first), dict):
                return False
        except (ValueError, RecursionError):
            return False  # a pretty-printed document starts with a line that is not JSON alone
        return any(line.strip() for line in self._lines())

    def items(self) -> Iterator[tuple[object, str]]:
        """Every resource of the file with its fullUrl ("" when it has none), in file order."""
        if not self.ndjson:
            yield from _expand(self.document, "")
            return
        self.stream.seek(self.start)
        for number, line in enumerate(self._lines(), start=1):
            line = line.removeprefix(_BOM) if number == 1 else line
            if not line.strip():
                continue
            try:
                item = _loads(line)
            except (ValueError, RecursionError):
                raise FhirImportError(
                    _("Line %(line)d of this file is not valid JSON; nothing was imported.") % {"line": number}
                ) from None
            if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
                raise FhirImportError(
                    _("Line %(line)d of this file is not a FHIR resource; nothing was imported.") % {"line": number}
                )
            yield from _expand(item, "")


@contextlib.contextmanager
def _seekable(stream) -> Iterator:
    """The stream itself, or a spooled copy of it: the file is read twice."""
    if stream.seekable():
        yield stream
        return
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        shutil.copyfileobj(stream, spool)
        spool.seek(0)
        yield spool


# -- the first pass: version, people, resources pointed to --------------------------------------


@dataclass
class _Scan:
    version: str = "R4"
    people: int = 0
    lookup: dict[str, dict] = field(default_factory=dict)


def _version_hint(resource: dict) -> str | None:
    """DSTU2 or STU3 when the resource carries an element that R4 renamed or retyped."""
    kind = resource.get("resourceType")
    if kind in _DSTU2_TYPES:
        return "DSTU2"
    if kind in _STU3_TYPES:
        return "STU3"
    version = resource.get("fhirVersion")
    if isinstance(version, str) and version.startswith(("0.", "1.0")):
        return "DSTU2"
    if isinstance(version, str) and version.startswith("3.0"):
        return "STU3"
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    for profile in profiles if isinstance(profiles, list) else []:
        if isinstance(profile, str) and "/DSTU2/" in profile:
            return "DSTU2"
        if isinstance(profile, str) and "/STU3/" in profile:
            return "STU3"
    if (
        (kind == "Encounter" and isinstance(resource.get("class"), str))
        or (kind == "Immunization" and "wasNotGiven" in resource)
        or (kind == "MedicationStatement" and "wasNotTaken" in resource)
        or (kind == "AllergyIntolerance" and "substance" in resource)
        or (kind == "Condition" and isinstance(resource.get("clinicalStatus"), str) and "patient" in resource)
    ):
        return "DSTU2"
    requester = resource.get("requester")
    if (
        (kind in ("Condition", "AllergyIntolerance") and isinstance(resource.get("clinicalStatus"), str))
        or (kind == "Immunization" and "notGiven" in resource)
        or (kind in _STU3_CONTEXT_TYPES and "context" in resource)
        or (kind == "MedicationRequest" and isinstance(requester, dict) and "agent" in requester)
    ):
        return "STU3"
    return None


def _own_keys(resource: dict, full_url: str) -> list[str]:
    keys = []
    if full_url:
        keys.append(mapping.reference_key(full_url))
    if isinstance(resource.get("id"), str):
        keys.append(f"{resource['resourceType']}/{resource['id']}")
    return keys


def _scan(items: Iterable[tuple[object, str]]) -> _Scan:
    """Check the whole file before anything is written."""
    scan = _Scan()
    hints = set()
    aliases: dict[str, int] = {}  # each key of a Patient resource -> that person
    persons = 0
    referenced: set[str] = set()
    other_urns: set[str] = set()  # fullUrls of resources that are not a Patient (a Group...)
    for resource, full_url in items:
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        kind = resource["resourceType"]
        hint = _version_hint(resource)
        if hint:
            hints.add(hint)
        keys = _own_keys(resource, full_url)
        if kind == "Patient":
            person = next((aliases[key] for key in keys if key in aliases), None)
            if person is None:
                persons += 1
                person = persons
            for key in keys:
                aliases[key] = person
        elif full_url.startswith("urn:"):
            other_urns.add(full_url)
        if kind in REFERENCED_TYPES:
            for key in keys:
                scan.lookup[key] = resource
        elif kind in LINKED_TYPES:
            trimmed = {name: resource[name] for name in ("resourceType", "id", "identifier") if name in resource}
            for key in keys:
                scan.lookup[key] = trimmed
        for name in ("subject", "patient"):
            reference = resource.get(name)
            if isinstance(reference, dict) and isinstance(reference.get("reference"), str):
                key = mapping.reference_key(reference["reference"])
                if key.startswith(("Patient/", "urn:")):
                    referenced.add(key)
    unknown = {key for key in referenced if key not in aliases and key not in other_urns}
    scan.people = len(set(aliases.values())) + len(unknown)
    scan.version = "DSTU2" if "DSTU2" in hints else "STU3" if "STU3" in hints else "R4"
    return scan


def _resolver(lookup: dict[str, dict]) -> mapping.Resolver:
    def resolve(reference: dict | None, resource: dict) -> dict | None:
        target = (reference or {}).get("reference") or ""
        if target.startswith("#"):
            contained = resource.get("contained") or []
            return next((item for item in contained if item.get("id") == target[1:]), None)
        return lookup.get(mapping.reference_key(target))

    return resolve


# -- the second pass: map, check, write ---------------------------------------------------------


def _error_path(location: tuple) -> str:
    path = ""
    for part in location:
        if part == "root":
            continue  # pydantic's name for a wrapped model, not a FHIR element
        path += f"[{part}]" if isinstance(part, int) else f"{'.' if path else ''}{str(part)[:40]}"
    return path or _("the resource as a whole")


def _validation_error(resource: dict) -> str | None:
    """None when the resource is valid FHIR R4(B), else where the first problem is (no values)."""
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ModelValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        return _error_path(errors[0]["loc"] if errors else ())
    except (ValueError, TypeError):
        return _("the resource as a whole")
    return None


def _key(origin: str, *parts: str) -> str:
    # Without an origin (the patient's own files), the keys of earlier versions.
    return keyed_hash("fhir", origin, *parts) if origin else keyed_hash("fhir", *parts)


def _source_key(resource: dict, full_url: str, origin: str = "") -> str:
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == SOURCE_KEY_SYSTEM and _HEX64.match(identifier.get("value") or ""):
            return identifier["value"]
    kind = resource["resourceType"]
    if resource.get("id"):
        return _key(origin, kind, resource["id"])
    if full_url:
        return _key(origin, kind, full_url)
    content = json.dumps(resource, sort_keys=True, default=str).encode("utf-8")
    return _key(origin, kind, "content", hashlib.sha256(content).hexdigest())


def _link_key(kind: str, reference, resolve, resource: dict, origin: str = "") -> str:
    """The source key of the `kind` resource a reference points to, whether or not it is in this file."""
    if not isinstance(reference, dict):
        return ""
    identifier = reference.get("identifier") or {}
    if identifier.get("system") == SOURCE_KEY_SYSTEM and _HEX64.match(identifier.get("value") or ""):
        return identifier["value"]
    target = reference.get("reference") or ""
    if not isinstance(target, str) or not target or target.startswith("#"):
        return ""  # a contained resource has no key of its own
    found = resolve(reference, resource)
    if found is not None and found.get("resourceType") == kind:
        return _source_key(found, target if target.startswith("urn:") else "", origin)
    key = mapping.reference_key(target)
    if key.startswith(f"{kind}/"):
        return _key(origin, kind, key.split("/", 1)[1])
    return _key(origin, kind, key) if key.startswith("urn:") else ""


def _fit(record: ClinicalRecord) -> None:
    # An over-long display text is cut to the column rather than losing the whole record; an
    # over-long code or number is not (a cut one would be wrong) and fails validation instead.
    for model_field in record._meta.concrete_fields:
        value = getattr(record, model_field.attname)
        if model_field.name in _CUTTABLE and isinstance(value, str) and len(value) > model_field.max_length:
            setattr(record, model_field.attname, value[: model_field.max_length])


def _record_for(
    owner, resource, full_url: str, resolve, label: str, report: ImportReport, origin: str = ""
) -> ClinicalRecord | None:
    """The unsaved record for one resource, or None once the report has counted why not."""
    report.read += 1
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(kind, str):
        report._reject(_("An entry of this file is not a FHIR resource."))
        return None
    if kind not in mapping.MAPPERS and kind not in UNSTORED_TYPES:
        report._skip(kind)
        return None
    problem = _validation_error(resource)
    if problem is not None:
        report._reject(
            _("%(type)s not imported: it does not follow FHIR R4 (at %(path)s).") % {"type": kind, "path": problem}
        )
        return None
    if kind in UNSTORED_TYPES:
        if kind == "Patient" and report.patient is None:
            report.patient = mapping.patient_details(resource)
        report._skip(kind)
        return None
    try:
        record = mapping.to_record(resource, resolve)
    except mapping.NotStored as not_stored:
        report._skip(not_stored.label)
        return None
    except (KeyError, TypeError, AttributeError, ValueError):
        report._reject(_("%(type)s not imported: it could not be read.") % {"type": kind})
        return None
    record.owner = owner
    record.source = Source.FHIR
    record.source_key = _source_key(resource, full_url, origin)
    record.source_label = label
    record.origin = origin
    if isinstance(record, Measurement):
        record.test_key = measurement_test_key(loinc_code=record.loinc_code, name=record.name)
    for name, (target_kind, reference) in getattr(record, "fhir_links", {}).items():
        setattr(record, name, _link_key(target_kind, reference, resolve, resource, origin))
    _fit(record)
    try:
        # The owner exists and uniqueness is checked per batch: no query per record here.
        record.full_clean(exclude=["owner"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        fields = ", ".join(sorted(exc.message_dict))
        report._reject(
            _("%(type)s not imported: its %(fields)s could not be stored.") % {"type": kind, "fields": fields}
        )
        return None
    return record


def _write(owner, records: list[ClinicalRecord], report: ImportReport) -> None:
    """Insert a batch's new records in one short transaction: one lookup and one insert per kind."""
    by_model: dict[type[ClinicalRecord], dict[str, ClinicalRecord]] = defaultdict(dict)
    for record in records:
        rows = by_model[type(record)]
        if record.source_key in rows:
            report.already_present += 1  # the same resource twice in one file
        else:
            rows[record.source_key] = record
    with transaction.atomic():
        for model, rows in by_model.items():
            present = set(
                model.objects.filter(owner=owner, source_key__in=list(rows)).values_list("source_key", flat=True)
            )
            new = [record for key, record in rows.items() if key not in present]
            # A concurrent import of the same file may insert first: the constraint keeps one row.
            model.objects.bulk_create(new, ignore_conflicts=True)
            report.already_present += len(present)
            report.added += len(new)
            if new:
                kind = model._meta.model_name
                report.added_by_kind[kind] = report.added_by_kind.get(kind, 0) + len(new)
