"""Retention of share links: a link is deleted SHARE_LINK_RETENTION_DAYS after it expired or was revoked.

Until then the visit page still lists it closed (with its views and notes), so the patient can tell which
link was used. Deleting it removes the packet snapshot it carried (encrypted medical content nobody can
open any more). The access log loses nothing: its events name the link by id and short id, not by a
foreign key, and notes left through the link are the patient's own records.
"""

import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import ShareLink


def share_links_purge(*, days: int | None = None, now: datetime.datetime | None = None) -> int:
    """Delete links closed (expired or revoked) more than `days` ago; how many (re-runnable, any owner)."""
    days = settings.SHARE_LINK_RETENTION_DAYS if days is None else days
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    deleted, _by_model = ShareLink.objects.filter(Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)).delete()
    return deleted
