"""Import an Apple Health export for a patient from the command line, with the worker's code."""

import resource
import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from integrations.exceptions import IntegrationError
from integrations.providers.base import provider_get
from integrations.providers.items import ParseError
from integrations.services import connection_connect, file_import


class Command(BaseCommand):
    help = "Import an Apple Health export.zip or export.xml for a patient and print counts and time."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("path")

    def handle(self, *args, email, path, **options):
        try:
            owner = User.objects.get(email=email.lower())
        except User.DoesNotExist:
            raise CommandError(f"No account with the email {email}.") from None
        provider = provider_get("apple-health")
        started = time.perf_counter()
        try:
            connection_connect(user=owner, provider=provider)
            with open(path, "rb") as stream:
                counts = file_import(owner=owner, provider=provider, stream=stream)
        except (IntegrationError, ParseError) as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}") from None
        elapsed = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(
            f"read {counts['read']:,}, added {counts['added']:,}, already present {counts['already_present']:,}, "
            f"left out {counts['rejected']:,} in {elapsed:.1f} s ({counts['read'] / elapsed:,.0f} records/s), "
            f"peak memory {peak_mb:,.0f} MB"
        )
