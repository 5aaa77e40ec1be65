"""Apple Health: the export.zip (or export.xml) from the Health app, uploaded by the patient."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider
from .parser import SEPARATE_PROCESS_MIN_BYTES, iter_batches, open_export


class _Stats:
    """The counts a run reports, read from the parser's stats once iteration is over."""

    def __init__(self, source):
        self.source = source

    @property
    def read(self) -> int:
        return self.source.stats.records_read

    @property
    def rejected_total(self) -> int:
        return self.source.stats.rejected


def parse(stream, filename, progress):
    """Items of an export, samples in batches; none before the whole file is checked (zipfile needs a path)."""
    source = open_export(stream.name)
    items = iter_batches(
        source,
        progress=progress,
        # A large export is parsed by a process of its own, which runs ahead while this one checks it.
        separate_process=source.xml_bytes >= SEPARATE_PROCESS_MIN_BYTES,
        # Sources prefixed as the import prefixes them, while parsing (the batch says so: not done twice).
        source_prefix=f"{PROVIDER.slug}:",
        check_first=True,
    )
    return items, _Stats(source)


def validate(stream, filename):
    """Check the export's layout (the zip, the XML's start); `parse` reads the whole file before any item."""
    open_export(stream.name)


PROVIDER = Provider(
    slug="apple-health",
    name=_("Apple Health"),
    description=_(
        "In the Health app on your iPhone, tap your picture, then Export All Health Data, and upload the "
        "export.zip file here. Large files are fine."
    ),
    kind="upload",
    record_source=Source.APPLE_HEALTH,
    accept=".zip,.xml,application/zip,text/xml",
    parse=parse,
    validate=validate,
)
