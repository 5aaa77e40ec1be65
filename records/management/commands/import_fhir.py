"""Import a FHIR R4 file (Bundle, NDJSON or single resource) into a patient's records."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from records.fhir.importer import FhirImportError, fhir_import


class Command(BaseCommand):
    help = "Import a FHIR R4 file into the records of the patient with this email; re-running it adds nothing."

    def add_arguments(self, parser):
        parser.add_argument("email", help="The patient's login email.")
        parser.add_argument("path", type=Path, help="A FHIR R4 Bundle (.json), NDJSON (.ndjson) or single resource.")

    def handle(self, *args, email, path, **options):
        owner = User.objects.filter(email__iexact=email.strip()).first()
        if owner is None:
            raise CommandError("No account has this email address.")
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        started = time.monotonic()
        try:
            with path.open("rb") as stream:
                report = fhir_import(owner=owner, stream=stream, filename=path.name)
        except FhirImportError as exc:
            raise CommandError(str(exc)) from None
        elapsed = time.monotonic() - started
        write = self.stdout.write
        write(f"Resources read: {report.read} (FHIR {report.fhir_version}) in {elapsed:.2f} s.")
        write(
            self.style.SUCCESS(
                f"Added {report.added}, already present {report.already_present}, "
                f"rejected {report.rejected}, not kept {report.skipped}."
            )
        )
        if report.added_by_kind:
            write("Added by kind: " + _counts(report.added_by_kind))
        if report.skipped_by_type:
            write("Not kept, by type: " + _counts(report.skipped_by_type))
        if report.patient:
            # Which details were found, never their values: this output may end up in a log.
            found = [label for key, label in _PATIENT_FIELDS if report.patient.get(key)]
            write("Patient details found (not stored): " + (", ".join(found) or "none"))
        for error in report.errors:
            write(self.style.WARNING(error))


_PATIENT_FIELDS = (("name", "name"), ("birth_date", "birth date"), ("gender", "gender"))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
