"""Retention of uploads: stored files that no run names any more are deleted once they are old enough.

`uploads_clean_abandoned_task` removes the file of every run left unfinished or failed for a week. A file
can also lose its run: a worker killed between storing an upload and recording its run, or a run deleted
with its connection. Those are found by listing the uploads folder of the storage.
"""

import datetime

from django.core.files.storage import default_storage
from django.utils import timezone

from .models import SyncRun
from .services import UPLOAD_PREFIX

CHUNK = 500


def uploads_orphaned_delete(*, older_than: datetime.timedelta, now: datetime.datetime | None = None) -> int:
    """Delete upload files older than `older_than` that no run names; how many (re-runnable)."""
    folder = UPLOAD_PREFIX.rstrip("/")
    if not default_storage.exists(folder):
        return 0
    cutoff = (now or timezone.now()) - older_than
    _folders, files = default_storage.listdir(folder)
    names = [f"{UPLOAD_PREFIX}{name}" for name in files]
    removed = 0
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        named = set(SyncRun.objects.filter(upload_name__in=chunk).values_list("upload_name", flat=True))
        for name in chunk:
            if name not in named and default_storage.get_modified_time(name) < cutoff:
                default_storage.delete(name)
                removed += 1
    return removed
