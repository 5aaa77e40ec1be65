"""Everything medical, encrypted, scoped to its owner.

Content (names, codes, values, notes) is encrypted. What indexes need stays in plain text: the
owner, the kind of record (its table), the clinical date, the source, and keyed hashes for exact
matches (import idempotency, grouping one lab test). Reads go through selectors.py only.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from healthspace.crypto import (
    EncryptedCharField,
    EncryptedDateField,
    EncryptedDateTimeField,
    EncryptedIntegerField,
    EncryptedJSONField,
    EncryptedTextField,
)


class Source(models.TextChoices):
    MANUAL = "manual", _("Entered by you")
    FHIR = "fhir", _("Health record (FHIR)")
    APPLE_HEALTH = "apple_health", _("Apple Health")
    HEALTH_AUTO_EXPORT = "health_auto_export", _("Health Auto Export")
    MYFITNESSPAL = "myfitnesspal", _("MyFitnessPal")
    WITHINGS = "withings", _("Withings")
    OURA = "oura", _("Oura")
    UPLOAD = "upload", _("Uploaded file")


class ClinicalRecord(models.Model):
    """What every clinical record has: owner, source, date, and the patient's own note."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(_("source"), max_length=32, choices=Source.choices, default=Source.MANUAL)
    # Keyed hash of the source's own identifier (FHIR type/id...): a re-import finds the row again.
    source_key = models.CharField(max_length=64, blank=True, editable=False)
    # Where it came from in the source's words (a clinic, an app), encrypted.
    source_label = EncryptedCharField(_("from"), max_length=200, blank=True)
    # The clinical date in plain text: the timeline and date ranges are ordered by the database.
    effective_at = models.DateTimeField(_("date"), null=True, blank=True, db_index=True)
    # GDPR Art. 16: the patient's own view, beside what the source sent, which stays unchanged.
    patient_note = EncryptedTextField(_("my note"), blank=True)
    disputed = models.BooleanField(_("I dispute this"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The fields of what the source sent; a patient may change them only on manual records.
    source_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True
        ordering = ["-effective_at", "-id"]

    @property
    def is_manual(self) -> bool:
        """Entered or uploaded by the patient: theirs to edit and delete."""
        return self.source in (Source.MANUAL, Source.UPLOAD)

    @property
    def kind(self) -> str:
        return self._meta.model_name

    @property
    def kind_label(self) -> str:
        return str(self._meta.verbose_name).capitalize()


def _owner_source_key_constraint(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["owner", "source_key"], condition=~models.Q(source_key=""), name=f"{name}_unique_source_key"
    )


class Condition(ClinicalRecord):
    name = EncryptedCharField(_("condition"), max_length=300)
    code = EncryptedCharField(_("code"), max_length=64, blank=True)
    code_system = EncryptedCharField(_("code system"), max_length=200, blank=True)
    clinical_status = EncryptedCharField(_("status"), max_length=32, blank=True)
    abated_on = EncryptedDateField(_("resolved on"), null=True, blank=True)

    source_fields = ("name", "code", "code_system", "clinical_status", "abated_on", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")
        constraints = [_owner_source_key_constraint("condition")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.name


class Medication(ClinicalRecord):
    name = EncryptedCharField(_("medication"), max_length=300)
    code = EncryptedCharField(_("code"), max_length=64, blank=True)
    code_system = EncryptedCharField(_("code system"), max_length=200, blank=True)
    dosage = EncryptedTextField(_("dosage"), blank=True)
    status = EncryptedCharField(_("status"), max_length=32, blank=True)
    ended_on = EncryptedDateField(_("stopped on"), null=True, blank=True)

    source_fields = ("name", "code", "code_system", "dosage", "status", "ended_on", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("medication")
        verbose_name_plural = _("medications")
        constraints = [_owner_source_key_constraint("medication")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.name


class Allergy(ClinicalRecord):
    substance = EncryptedCharField(_("substance"), max_length=300)
    code = EncryptedCharField(_("code"), max_length=64, blank=True)
    code_system = EncryptedCharField(_("code system"), max_length=200, blank=True)
    category = EncryptedCharField(_("category"), max_length=32, blank=True)
    criticality = EncryptedCharField(_("criticality"), max_length=32, blank=True)
    reaction = EncryptedTextField(_("reaction"), blank=True)
    clinical_status = EncryptedCharField(_("status"), max_length=32, blank=True)

    source_fields = (
        "substance",
        "code",
        "code_system",
        "category",
        "criticality",
        "reaction",
        "clinical_status",
        "effective_at",
    )

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("allergy")
        verbose_name_plural = _("allergies")
        constraints = [_owner_source_key_constraint("allergy")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.substance


class Immunization(ClinicalRecord):
    vaccine = EncryptedCharField(_("vaccine"), max_length=300)
    code = EncryptedCharField(_("code"), max_length=64, blank=True)
    code_system = EncryptedCharField(_("code system"), max_length=200, blank=True)
    lot_number = EncryptedCharField(_("lot number"), max_length=64, blank=True)
    status = EncryptedCharField(_("status"), max_length=32, blank=True)

    source_fields = ("vaccine", "code", "code_system", "lot_number", "status", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("immunisation")
        verbose_name_plural = _("immunisations")
        constraints = [_owner_source_key_constraint("immunization")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.vaccine


class Procedure(ClinicalRecord):
    name = EncryptedCharField(_("procedure"), max_length=300)
    code = EncryptedCharField(_("code"), max_length=64, blank=True)
    code_system = EncryptedCharField(_("code system"), max_length=200, blank=True)
    status = EncryptedCharField(_("status"), max_length=32, blank=True)

    source_fields = ("name", "code", "code_system", "status", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("procedure")
        verbose_name_plural = _("procedures")
        constraints = [_owner_source_key_constraint("procedure")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.name


class Encounter(ClinicalRecord):
    name = EncryptedCharField(_("visit"), max_length=300)
    encounter_class = EncryptedCharField(_("kind of visit"), max_length=64, blank=True)
    reason = EncryptedCharField(_("reason"), max_length=300, blank=True)
    provider = EncryptedCharField(_("provider"), max_length=300, blank=True)
    ended_at = EncryptedDateTimeField(_("ended"), null=True, blank=True)

    source_fields = ("name", "encounter_class", "reason", "provider", "ended_at", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        constraints = [_owner_source_key_constraint("encounter")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.name


class Measurement(ClinicalRecord):
    """A measured value with its unit and reference range (lab results and vital signs)."""

    name = EncryptedCharField(_("test"), max_length=300)
    loinc_code = EncryptedCharField(_("LOINC code"), max_length=32, blank=True)
    # Keyed hash of the LOINC code (or of the name, without one): one lab test's history.
    test_key = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    # Numbers are stored as text: an encrypted column holds no Decimal.
    value = EncryptedCharField(_("value"), max_length=64, blank=True)
    value_text = EncryptedCharField(_("result"), max_length=300, blank=True)
    unit = EncryptedCharField(_("unit"), max_length=32, blank=True)
    reference_low = EncryptedCharField(_("reference low"), max_length=32, blank=True)
    reference_high = EncryptedCharField(_("reference high"), max_length=32, blank=True)
    reference_text = EncryptedCharField(_("reference range"), max_length=200, blank=True)
    interpretation = EncryptedCharField(_("interpretation"), max_length=16, blank=True)
    # Blood pressure and other panels: [{"name", "loinc_code", "value", "unit"}].
    components = EncryptedJSONField(_("components"), null=True, blank=True)

    source_fields = (
        "name",
        "loinc_code",
        "value",
        "value_text",
        "unit",
        "reference_low",
        "reference_high",
        "reference_text",
        "interpretation",
        "components",
        "effective_at",
    )

    class Meta(ClinicalRecord.Meta):
        abstract = True

    def __str__(self):
        return self.name


class LabResult(Measurement):
    class Meta(Measurement.Meta):
        verbose_name = _("lab result")
        verbose_name_plural = _("lab results")
        constraints = [_owner_source_key_constraint("labresult")]
        indexes = [models.Index(fields=["owner", "test_key", "-effective_at"])]


class VitalSign(Measurement):
    class Meta(Measurement.Meta):
        verbose_name = _("vital sign")
        verbose_name_plural = _("vital signs")
        constraints = [_owner_source_key_constraint("vitalsign")]
        indexes = [models.Index(fields=["owner", "test_key", "-effective_at"])]


class ClinicalNote(ClinicalRecord):
    title = EncryptedCharField(_("title"), max_length=300)
    text = EncryptedTextField(_("text"), blank=True)
    author = EncryptedCharField(_("author"), max_length=200, blank=True)
    # Set when the author is outside HealthSpace and unverified (a clinician through a share link).
    unverified_author = models.BooleanField(default=False)

    source_fields = ("title", "text", "author", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("clinical note")
        verbose_name_plural = _("clinical notes")
        constraints = [_owner_source_key_constraint("clinicalnote")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.title


class Document(ClinicalRecord):
    """A PDF or image; the file itself is encrypted in storage under a random name."""

    title = EncryptedCharField(_("title"), max_length=300)
    filename = EncryptedCharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    storage_name = models.CharField(max_length=255, unique=True, editable=False)
    # Keyed hash of the content: the same file uploaded twice is kept once.
    content_key = models.CharField(max_length=64, editable=False)

    source_fields = ("title", "filename", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        constraints = [
            _owner_source_key_constraint("document"),
            models.UniqueConstraint(fields=["owner", "content_key"], name="document_unique_content"),
        ]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.title


class SampleDay(models.Model):
    """One day of one metric for one patient: the samples as one encrypted compact payload.

    Years of wearable data stay a few thousand rows per metric; charts read only `summary`.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=64)
    day = models.DateField()
    # Compact encoding of the day's samples (see timeseries.py), encrypted.
    payload = EncryptedTextField()
    # {"count", "min", "max", "mean", "sum", "last"} computed from the payload, encrypted.
    summary = EncryptedJSONField()
    sample_count = EncryptedIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("day of samples")
        verbose_name_plural = _("days of samples")
        # The unique constraint's index also serves every read (owner, metric, day range).
        constraints = [models.UniqueConstraint(fields=["owner", "metric", "day"], name="sampleday_unique_day")]

    def __str__(self):
        return f"{self.metric} {self.day}"


class Workout(ClinicalRecord):
    activity = EncryptedCharField(_("activity"), max_length=100)
    duration_s = EncryptedIntegerField(_("duration (s)"), null=True, blank=True)
    distance_m = EncryptedCharField(_("distance (m)"), max_length=32, blank=True)
    energy_kcal = EncryptedCharField(_("energy (kcal)"), max_length=32, blank=True)
    # Statistics from the source (heart rate min/avg/max, pace...), encrypted.
    statistics = EncryptedJSONField(null=True, blank=True)
    ended_at = EncryptedDateTimeField(null=True, blank=True)

    source_fields = ("activity", "duration_s", "distance_m", "energy_kcal", "statistics", "ended_at", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("workout")
        verbose_name_plural = _("workouts")
        constraints = [_owner_source_key_constraint("workout")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.activity
