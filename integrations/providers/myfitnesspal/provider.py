"""MyFitnessPal: the nutrition, exercise and measurement CSV exports, uploaded by the patient."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider
from .forms import UploadOptionsForm
from .parser import ParseStats, iter_samples


def parse(stream, filename, progress, *, options):
    """Items of one CSV export (weights in the unit the patient chose when the file names none) and its stats."""
    stats = ParseStats()
    items = iter_samples(
        stream, filename=filename, stats=stats, weight_unit=options.get("weight_unit"), progress=progress
    )
    return items, stats


PROVIDER = Provider(
    slug="myfitnesspal",
    replaces_samples=True,
    name=_("MyFitnessPal"),
    description=_("Upload the nutrition, exercise or measurement CSV file of your MyFitnessPal export."),
    kind="upload",
    record_source=Source.MYFITNESSPAL,
    accept=".csv,text/csv",
    parse=parse,
    upload_form=UploadOptionsForm,
)
