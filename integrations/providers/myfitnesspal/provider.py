"""MyFitnessPal: the nutrition, exercise and measurement CSV exports, uploaded by the patient."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider
from .parser import ParseStats, iter_samples


def parse(stream, filename, progress):
    """Items of one CSV export and the stats the parser keeps while they are read."""
    stats = ParseStats()
    return iter_samples(stream, filename=filename, stats=stats, progress=progress), stats


PROVIDER = Provider(
    slug="myfitnesspal",
    replaces_samples=True,
    name=_("MyFitnessPal"),
    description=_("Upload the nutrition, exercise or measurement CSV file of your MyFitnessPal export."),
    kind="upload",
    record_source=Source.MYFITNESSPAL,
    accept=".csv,text/csv",
    parse=parse,
)
