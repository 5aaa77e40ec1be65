"""An uploaded FHIR file to the one `ClinicalDocument` the FHIR importer reads (pure: no database).

The parser only reads the file: the importer checks it as a whole (JSON, FHIR R4, one person)
before it writes anything, so a refused file writes nothing and its message reaches the run.
"""

from collections.abc import Iterator
from typing import IO

from django.utils.translation import gettext as _

from ..items import ClinicalDocument, ParseError

# The document is held in memory by the worker; the importer itself parses a Bundle up to 50 MB.
MAX_BYTES = 100 * 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"


def iter_documents(stream: IO[bytes]) -> Iterator[ClinicalDocument]:
    """The file as one document (a generator: the errors come when it is read, like other parsers')."""
    content = stream.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        raise ParseError(
            _("This file is larger than %(size)d MB: HealthSpace cannot import it.")
            % {"size": MAX_BYTES // (1024 * 1024)}
        )
    if not content.strip():
        raise ParseError(_("This file is empty."))
    if content.startswith(_ZIP_MAGIC):
        raise ParseError(_("This file is a zip archive: open it and upload the FHIR JSON file inside."))
    # The label the records show as where they came from (the upload's own name is not kept).
    yield ClinicalDocument(name=_("FHIR file"), content=content)
