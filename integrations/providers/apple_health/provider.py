"""Apple Health: the export.zip (or export.xml) from the Health app, uploaded by the patient."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider
from .parser import check_export, iter_items, open_export


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
    """Items of an export (the zip is opened again by path: zipfile needs to seek)."""
    source = open_export(stream.name)
    return iter_items(source, progress=progress), _Stats(source)


def validate(stream, filename):
    """Check the whole export is readable before anything is written."""
    check_export(open_export(stream.name))


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
