"""FHIR file: a FHIR R4 file from a hospital, clinic or patient portal, uploaded by the patient."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider
from .parser import iter_documents


def parse(stream, filename, progress):
    """The file as one clinical document for the FHIR importer (no stats: the importer counts)."""
    return iter_documents(stream), None


PROVIDER = Provider(
    slug="fhir-file",
    name=_("Health record file (FHIR)"),
    description=_(
        "A FHIR R4 file from your hospital, clinic or patient portal: a Bundle, an NDJSON export or a single "
        "resource. Importing the same file again adds nothing."
    ),
    kind="upload",
    # The FHIR importer writes its records as FHIR records, whatever brought the file.
    record_source=Source.FHIR,
    accept=".json,.ndjson,.jsonl,application/json,application/fhir+json",
    parse=parse,
)
