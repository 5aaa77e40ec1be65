"""Create (or reset) the demo patient used by `make run`."""

import secrets

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services
from accounts.models import User

DEMO_EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = "Create the demo patient demo@example.com with a fresh password, and print it."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Use this password instead of a random one.")

    @transaction.atomic
    def handle(self, *args, password=None, **options):
        password = password or secrets.token_urlsafe(9)
        user, created = User.objects.get_or_create(email=DEMO_EMAIL)
        user.set_password(password)
        user.save()
        EmailAddress.objects.update_or_create(user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True})
        services.patient_register(user=user, display_name="Demo Patient", country="FR", preferred_language="en")
        verb = "Created" if created else "Reset"
        self.stdout.write(self.style.SUCCESS(f"{verb} the demo patient: {DEMO_EMAIL} / password: {password}"))
