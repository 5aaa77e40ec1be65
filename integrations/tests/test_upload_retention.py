"""Retention of uploads: files no run names are deleted once old; files of runs are left to their job."""

import datetime
import os

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from integrations.models import Connection, SyncRun
from integrations.retention import uploads_orphaned_delete
from integrations.services import UPLOAD_PREFIX
from integrations.tasks import uploads_clean_abandoned_task

WEEK = datetime.timedelta(days=7)


def _stored(name: str, *, days_old: float) -> str:
    stored = default_storage.save(f"{UPLOAD_PREFIX}{name}", ContentFile(b"encrypted bytes"))
    moment = (timezone.now() - datetime.timedelta(days=days_old)).timestamp()
    os.utime(default_storage.path(stored), (moment, moment))
    return stored


def test_old_files_that_no_run_names_are_deleted(patient, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    orphan_old = _stored("orphan-old", days_old=8)
    orphan_new = _stored("orphan-new", days_old=1)
    waiting = _stored("waiting", days_old=8)
    connection = Connection.objects.create(owner=patient, provider="myfitnesspal")
    SyncRun.objects.create(owner=patient, connection=connection, kind=SyncRun.Kind.IMPORT, upload_name=waiting)
    assert uploads_orphaned_delete(older_than=WEEK) == 1
    assert not default_storage.exists(orphan_old)
    assert default_storage.exists(orphan_new) and default_storage.exists(waiting)
    assert uploads_orphaned_delete(older_than=WEEK) == 0


def test_the_daily_job_cleans_orphans_too(patient, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    assert uploads_orphaned_delete(older_than=WEEK) == 0, "no uploads folder yet"
    orphan = _stored("orphan", days_old=30)
    assert uploads_clean_abandoned_task() == 1
    assert not default_storage.exists(orphan)
