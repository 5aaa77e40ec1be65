"""Benchmark: generate an Apple Health export and import it twice, printing speed and peak memory."""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from accounts import services as account_services
from accounts.models import User
from integrations.providers.apple_health.generate import write_export

BENCH_EMAIL = "bench-import@example.invalid"


class Command(BaseCommand):
    help = "Generate an Apple Health export of N records and import it twice (each in its own process)."

    def add_arguments(self, parser):
        parser.add_argument("--records", type=int, default=1_000_000)

    def handle(self, *args, records, **options):
        owner, created = User.objects.get_or_create(email=BENCH_EMAIL)
        if created:
            account_services.patient_register(user=owner, display_name="Bench", country="FR", preferred_language="en")
        self.stdout.write(f"database: {connection.vendor}; Apple Health export of {records:,} records")
        with tempfile.TemporaryDirectory() as folder:
            export = Path(folder) / "export.zip"
            started = time.perf_counter()
            write_export(export, records=records)
            self.stdout.write(
                f"generated in {time.perf_counter() - started:.1f} s, {export.stat().st_size / 1e6:.0f} MB zipped"
            )
            for label in ("first import", "second import (same file)"):
                # A process per import: its peak memory is the import's own.
                result = subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
                    [sys.executable, "manage.py", "import_apple_health", BENCH_EMAIL, str(export)],
                    cwd=settings.BASE_DIR,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                self.stdout.write(f"{label}: {(result.stdout or result.stderr).strip()}")
