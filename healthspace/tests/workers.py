"""A real Celery worker in a subprocess, for tests about background jobs."""

import subprocess
import sys
from pathlib import Path

from django.conf import settings

CELERY = str(Path(sys.executable).with_name("celery"))


def start_worker(env: dict, *, capture: bool = True) -> subprocess.Popen:
    """Start one solo-pool worker with the given environment (stop it with terminate or kill)."""
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        [
            CELERY,
            "-A",
            "healthspace",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if capture else subprocess.DEVNULL,
        text=True,
    )
