"""Health Auto Export (iOS): the app posts Apple Health data to a per-connection webhook."""

from django.utils.translation import gettext_lazy as _

from records.models import Source

from ..base import Provider
from .parser import MAX_BODY_BYTES, parse_payload


def parse(stream, filename, progress):
    """Items of one webhook body (already size-checked by the view) and their stats."""
    payload = parse_payload(stream.read(MAX_BODY_BYTES + 1))
    return iter(payload.items), payload.stats


PROVIDER = Provider(
    slug="health-auto-export",
    replaces_samples=True,
    name=_("Health Auto Export"),
    description=_("The Health Auto Export app sends your Apple Health data here automatically."),
    kind="webhook",
    record_source=Source.HEALTH_AUTO_EXPORT,
    parse=parse,
)
