"""Connections to outside sources and the runs that bring their data in."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from healthspace.crypto import EncryptedCharField, EncryptedJSONField


class Connection(models.Model):
    """One patient's link to one source: its state, credentials and where the last sync stopped."""

    class Status(models.TextChoices):
        CONNECTED = "connected", _("connected")
        SYNCING = "syncing", _("syncing")
        NEEDS_ATTENTION = "needs_attention", _("needs attention")
        DISCONNECTED = "disconnected", _("disconnected")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(_("source"), max_length=32)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.CONNECTED)
    # Tokens, secrets and the sync cursor: encrypted, never shown in admin.
    credentials = EncryptedJSONField(null=True, blank=True)
    cursor = EncryptedJSONField(null=True, blank=True)
    # Keyed hash of a webhook secret (Health Auto Export): the secret itself is shown once.
    webhook_key = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    # A code from the provider's registry of plain-language reasons (no medical content).
    attention_code = models.CharField(_("reason"), max_length=64, blank=True)
    # The staff-registered server an EHR connection talks to (SMART on FHIR); empty for other sources.
    fhir_server = models.ForeignKey(
        "FhirServer", on_delete=models.PROTECT, null=True, blank=True, related_name="connections"
    )
    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    next_sync_at = models.DateTimeField(_("next sync"), null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            # One connection per source, except EHR portals (SMART on FHIR): one per registered server,
            # as a patient is often followed at several hospitals.
            models.UniqueConstraint(
                fields=["owner", "provider"], condition=Q(fhir_server__isnull=True), name="connection_one_per_source"
            ),
            models.UniqueConstraint(
                fields=["owner", "provider", "fhir_server"],
                condition=Q(fhir_server__isnull=False),
                name="connection_one_per_fhir_server",
            ),
        ]

    def __str__(self):
        return f"{self.provider} connection {self.public_id}"


class SyncRun(models.Model):
    """One import or sync of a connection: counts, outcome and a plain-language error."""

    class Kind(models.TextChoices):
        IMPORT = "import", _("file import")
        SYNC = "sync", _("sync")
        WEBHOOK = "webhook", _("data received")

    class Outcome(models.TextChoices):
        QUEUED = "queued", _("waiting")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("done")
        FAILED = "failed", _("failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.QUEUED)
    # Name in storage of an uploaded file waiting for the worker (encrypted in chunks); "" once cleaned up.
    upload_name = models.CharField(max_length=255, blank=True, editable=False)
    upload_size = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    read = models.PositiveIntegerField(_("read"), default=0)
    added = models.PositiveIntegerField(_("added"), default=0)
    already_present = models.PositiveIntegerField(_("already present"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    # Plain-language message for the patient (no medical content), and a code for staff.
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # What the source says about the person (Apple's date of birth), offered on the run's page.
    profile_hint = EncryptedJSONField(null=True, blank=True)
    # What the patient chose on the upload form (a weight unit) for the parser: never medical content.
    options = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"]), models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"{self.kind} {self.outcome} {self.public_id}"

    @property
    def is_finished(self) -> bool:
        return self.outcome in (self.Outcome.SUCCEEDED, self.Outcome.FAILED)

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.upload_size:
            return 0
        return min(99, int(100 * self.bytes_done / self.upload_size))


class FhirServer(models.Model):
    """An EHR or aggregator FHIR server staff have registered; patients pick one, never type a URL."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    base_url = models.URLField(_("FHIR base URL"), max_length=500)
    client_id = models.CharField(_("client id"), max_length=200)
    # A confidential client's secret, encrypted; empty for public clients (PKCE only).
    client_secret = EncryptedCharField(_("client secret"), max_length=500, blank=True)
    scopes = models.CharField(
        _("scopes"), max_length=500, default="launch/patient openid fhirUser offline_access patient/*.rs"
    )
    # ISO country codes where patients may connect to it; empty means everywhere.
    countries = models.CharField(_("countries"), max_length=200, blank=True, help_text=_("e.g. US,FR; empty: all"))
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("FHIR server")
        verbose_name_plural = _("FHIR servers")

    def __str__(self):
        return self.name
