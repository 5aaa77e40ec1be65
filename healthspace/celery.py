"""The Celery application; the beat schedule is declared here, in code."""

import os
import pkgutil

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthspace.settings")

app = Celery("healthspace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _provider_packages() -> list[str]:
    # Providers are plug-ins below integrations: each folder's own tasks module, if it has one, is found
    # here, so adding a provider touches no other file (integrations/providers/base.py).
    from integrations import providers

    return [
        f"{providers.__name__}.{module.name}" for module in pkgutil.iter_modules(providers.__path__) if module.ispkg
    ]


app.autodiscover_tasks(_provider_packages)


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs):
    # The filesystem transport (the embedded default) needs its folders before the first message.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


app.conf.beat_schedule = {
    "worker-heartbeat": {
        "task": "healthspace.tasks.heartbeat_task",
        "schedule": 60.0,
    },
    "sync-due-connections": {
        "task": "integrations.tasks.connections_sync_due_task",
        "schedule": 300.0,
    },
    "refresh-expiring-tokens": {
        "task": "integrations.tasks.tokens_refresh_due_task",
        "schedule": 600.0,
    },
    "requeue-waiting-sync-runs": {
        "task": "integrations.tasks.sync_runs_requeue_task",
        "schedule": 300.0,
    },
    "clean-abandoned-uploads": {
        "task": "integrations.tasks.uploads_clean_abandoned_task",
        "schedule": crontab(minute=41, hour=3),
    },
    "clear-expired-sessions": {
        "task": "accounts.tasks.sessions_clear_expired_task",
        "schedule": crontab(minute=17, hour=3),
    },
    # Data exports are deleted 24 hours after they are ready; lost export and erasure messages are sent again.
    "expire-data-exports": {
        "task": "accounts.tasks.data_exports_expire_task",
        "schedule": 900.0,
    },
    "requeue-account-erasures": {
        "task": "accounts.tasks.erasures_requeue_task",
        "schedule": 900.0,
    },
    # Retention (accounts/retention.py lists every job and why temporary chats need none).
    "purge-old-audit-events": {
        "task": "accounts.tasks.audit_events_purge_task",
        "schedule": crontab(minute=23, hour=4),
    },
    "purge-closed-share-links": {
        "task": "records.tasks.share_links_purge_task",
        "schedule": crontab(minute=29, hour=4),
    },
}
