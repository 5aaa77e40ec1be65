"""Background jobs of the records app: retention."""

from celery import shared_task

from .retention import share_links_purge


@shared_task(acks_late=True, ignore_result=True)
def share_links_purge_task() -> int:
    """Delete share links closed longer than SHARE_LINK_RETENTION_DAYS (beat, daily; safe to run any time)."""
    return share_links_purge()
