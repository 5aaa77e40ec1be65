"""Test-only models: every hardened field next to the plain package's fields.

``crypto_tests`` is not an installed app, so these models have no migrations and are invisible
to ``apps.get_models()`` (the system checks and the rotation command never see them); the
tables are created once per session by ``conftest.py``.
"""

import encrypted_model_fields.fields as package
from django.db import models

from healthspace import crypto


class HardVault(models.Model):
    """One column per hardened field."""

    char = crypto.EncryptedCharField(max_length=200, null=True, blank=True)
    text = crypto.EncryptedTextField(null=True, blank=True)
    email = crypto.EncryptedEmailField(null=True, blank=True)
    date = crypto.EncryptedDateField(null=True, blank=True)
    datetime = crypto.EncryptedDateTimeField(null=True, blank=True)
    boolean = crypto.EncryptedBooleanField(null=True, blank=True)
    integer = crypto.EncryptedIntegerField(null=True, blank=True)
    json = crypto.EncryptedJSONField(null=True, blank=True)
    other_char = crypto.EncryptedCharField(max_length=200, null=True, blank=True)
    plain_note = models.CharField(max_length=200, blank=True)

    class Meta:
        app_label = "crypto_tests"

    def __str__(self):
        return f"{type(self).__name__} {self.pk}"


class PlainVault(models.Model):
    """The same columns with django-encrypted-model-fields as shipped (no JSON field there)."""

    char = package.EncryptedCharField(max_length=200, null=True, blank=True)
    text = package.EncryptedTextField(null=True, blank=True)
    email = package.EncryptedEmailField(null=True, blank=True)
    date = package.EncryptedDateField(null=True, blank=True)
    datetime = package.EncryptedDateTimeField(null=True, blank=True)
    boolean = package.EncryptedBooleanField(null=True, blank=True)
    integer = package.EncryptedIntegerField(null=True, blank=True)
    other_char = package.EncryptedCharField(max_length=200, null=True, blank=True)
    plain_note = models.CharField(max_length=200, blank=True)

    class Meta:
        app_label = "crypto_tests"

    def __str__(self):
        return f"{type(self).__name__} {self.pk}"


class AheadVault(models.Model):
    """HardVault's table seen by code one migration ahead: ``added_later`` has no column yet."""

    char = crypto.EncryptedCharField(max_length=200, null=True)
    added_later = crypto.EncryptedCharField(max_length=200, null=True)

    class Meta:
        app_label = "crypto_tests"
        db_table = HardVault._meta.db_table
        managed = False

    def __str__(self):
        return f"AheadVault {self.pk}"
