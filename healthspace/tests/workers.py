"""A real Celery worker in a subprocess, for tests about background jobs, and a Redis of a test's own."""

import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

CELERY = str(Path(sys.executable).with_name("celery"))


def start_worker(env: dict, *, capture: bool = True, log: Path | None = None) -> subprocess.Popen:
    """Start one solo-pool worker with the given environment (stop it with terminate or kill).

    Its output goes to a pipe (`capture`), to the file `log` (appended to: nothing blocks on a full
    pipe however much it writes) or nowhere.
    """
    if log is not None:
        with log.open("a") as handle:  # the child keeps its own copy of the descriptor
            return _worker(env, handle, subprocess.STDOUT)
    if capture:
        return _worker(env, subprocess.PIPE, subprocess.STDOUT)
    return _worker(env, subprocess.DEVNULL, subprocess.DEVNULL)


def _worker(env: dict, stdout, stderr) -> subprocess.Popen:
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
        stdout=stdout,
        stderr=stderr,
        text=True,
    )


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 5.0) -> bool:
    """Whether something accepts connections on the loopback port within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def start_redis(port: int) -> subprocess.Popen | None:
    """A throwaway redis-server on the loopback port (no persistence); None if it did not come up."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if wait_for_port(port):
        return process
    process.kill()
    process.wait()
    return None
