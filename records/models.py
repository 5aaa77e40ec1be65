"""Everything medical, encrypted, scoped to its owner.

Content (names, codes, values, notes) is encrypted. What indexes need stays in plain text: the
owner, the kind of record (its table), the clinical date, the source, and keyed hashes for exact
matches (import idempotency, grouping one lab test). Reads go through selectors.py only.
"""

import datetime
import decimal
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
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
    SHARE_LINK = "share_link", _("Left through a share link")


class ClinicalRecord(models.Model):
    """What every clinical record has: owner, source, date, and the patient's own note."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(_("source"), max_length=32, choices=Source.choices, default=Source.MANUAL)
    # Keyed hash of the source's own identifier (FHIR type/id...): a re-import finds the row again.
    source_key = models.CharField(max_length=64, blank=True, editable=False)
    # Where it came from in the source's words (a clinic, an app), encrypted.
    source_label = EncryptedCharField(_("from"), max_length=200, blank=True)
    # Which connected source wrote it ("apple-health", "fhir-file", "smart-fhir:<server id>"), or "" for
    # the patient's own entries and command-line imports: disconnecting one source deletes only its
    # records, and two EHR portals' records never collide. Plain: names a source, never a content.
    origin = models.CharField(max_length=80, blank=True, editable=False, db_index=True)
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


class Symptom(ClinicalRecord):
    """Something the patient felt, from their symptom journal; the onset is `effective_at`."""

    what = EncryptedCharField(_("symptom"), max_length=200)
    severity = EncryptedIntegerField(
        _("severity (0 to 10)"), null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    duration_minutes = EncryptedIntegerField(
        _("duration (minutes)"), null=True, blank=True, validators=[MinValueValidator(0)]
    )

    source_fields = ("what", "severity", "duration_minutes", "effective_at")

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("symptom")
        verbose_name_plural = _("symptoms")
        constraints = [_owner_source_key_constraint("symptom")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return self.what


class PreventiveCheck(models.Model):
    """A preventive topic (a screening, a check-up) the patient marked as done, on a date they give.

    The topic is a key of records/data/preventive_topics.json. It is encrypted like the date: which
    screening someone had is health data, and nothing needs to filter on it in the database.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    topic_key = EncryptedCharField(_("topic"), max_length=64)
    done_on = EncryptedDateField(_("done on"))
    note = EncryptedTextField(_("note"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("preventive check")
        verbose_name_plural = _("preventive checks")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"Preventive check {self.public_id}"


class DoseLog(models.Model):
    """A dose of one of the patient's medications, logged as taken or skipped."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    medication = models.ForeignKey(Medication, on_delete=models.CASCADE, related_name="dose_logs")
    taken = models.BooleanField(_("taken"), default=True)
    # In plain text like a record's date: adherence over 30 and 90 days is a date range read by the database.
    at = models.DateTimeField(_("when"))
    note = EncryptedTextField(_("note"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("dose log")
        verbose_name_plural = _("dose logs")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["owner", "-at"])]

    def __str__(self):
        return f"Dose log {self.public_id}"


class VisitPreparation(models.Model):
    """An appointment the patient prepares: its editable packet (packet.py), then what was decided (visits.py)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # In plain text like a record's date: the list is ordered by the database.
    appointment_at = models.DateTimeField(_("appointment"))
    clinician = EncryptedCharField(_("clinician or specialty"), max_length=200)
    reason = EncryptedTextField(_("reason for the visit"), blank=True)
    # The packet's sections, items and the patient's edits (see packet.py for the layout).
    packet = EncryptedJSONField(default=dict, blank=True)
    packet_built_at = models.DateTimeField(null=True, blank=True)
    # What the patient noted after the visit, as entered: {"diagnoses", "started", "stopped", "notes"}.
    after_visit = EncryptedJSONField(null=True, blank=True)
    # [{"text", "done"}]: what is to be done next, from the after-visit form.
    follow_ups = EncryptedJSONField(default=list, blank=True)
    after_recorded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("visit preparation")
        verbose_name_plural = _("visit preparations")
        ordering = ["-appointment_at", "-id"]
        indexes = [models.Index(fields=["owner", "-appointment_at"])]

    def __str__(self):
        return f"Visit preparation {self.public_id}"


SHARE_LINK_DAYS = 7


def share_link_default_expiry() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=SHARE_LINK_DAYS)


class ShareLink(models.Model):
    """A time-boxed, revocable link through which a clinician reads one visit's packet as it was shared.

    Only keyed hashes of the token and of the access code are kept: neither can be shown again.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    visit = models.ForeignKey(VisitPreparation, on_delete=models.CASCADE, related_name="share_links")
    token_key = models.CharField(max_length=64, unique=True, editable=False)
    code_key = models.CharField(max_length=64, blank=True, editable=False)
    # The packet, the visit and the patient's name as they were when the link was made.
    snapshot = EncryptedJSONField()
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    expires_at = models.DateTimeField(_("expires"), default=share_link_default_expiry)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    view_count = models.PositiveIntegerField(_("views"), default=0)
    last_viewed_at = models.DateTimeField(_("last viewed"), null=True, blank=True)
    note_count = models.PositiveIntegerField(_("notes received"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("share link")
        verbose_name_plural = _("share links")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"Share link {self.short_id}"

    @property
    def short_id(self) -> str:
        """What the patient and the access log call the link (no secret in it)."""
        return self.public_id.hex[:8]

    @property
    def has_code(self) -> bool:
        return bool(self.code_key)

    def is_open(self, now: datetime.datetime | None = None) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


# -- insurance and costs ------------------------------------------------------------------------


def validate_amount(value: str) -> None:
    """An amount of money or a percentage stored as text: a plain non-negative decimal number."""
    if value in (None, ""):
        return
    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        raise ValidationError(_("Enter a number."), code="invalid") from None
    if not number.is_finite() or number < 0:
        raise ValidationError(_("Enter a number of zero or more."), code="invalid")
    if number.adjusted() >= 12:
        raise ValidationError(_("This amount is too large."), code="invalid")


def _amount_field(label):
    # Encrypted columns hold no Decimal: amounts are their exact decimal text, checked on the way in.
    return EncryptedCharField(label, max_length=40, blank=True, validators=[validate_amount])


class CoverageStatus(models.TextChoices):
    # FHIR R4's required value set for Coverage.status (entered-in-error is never stored).
    ACTIVE = "active", _("Active")
    CANCELLED = "cancelled", _("Cancelled")
    DRAFT = "draft", _("Draft")


class Coverage(ClinicalRecord):
    """An insurance plan: imported (FHIR Coverage) or entered by the patient (source manual).

    One model for both: a FHIR Coverage carries the same deductible and out-of-pocket maximum in
    `costToBeneficiary`; the premium has no FHIR element and travels in an extension on export.
    `effective_at` is the start of the cover.
    """

    insurer = EncryptedCharField(_("insurer"), max_length=200)
    plan_name = EncryptedCharField(_("plan"), max_length=200, blank=True)
    member_number = EncryptedCharField(_("member number"), max_length=100, blank=True)
    coverage_type = EncryptedCharField(_("type of cover"), max_length=100, blank=True)
    # Who holds and pays for the policy (the patient, an employer...): FHIR's policyHolder.
    payer = EncryptedCharField(_("policy holder"), max_length=200, blank=True)
    status = EncryptedCharField(
        _("status"), max_length=16, choices=CoverageStatus.choices, default=CoverageStatus.ACTIVE, blank=True
    )
    ends_on = EncryptedDateField(_("valid until"), null=True, blank=True)
    deductible = _amount_field(_("deductible per year"))
    out_of_pocket_max = _amount_field(_("out-of-pocket maximum per year"))
    premium_monthly = _amount_field(_("premium per month"))
    coinsurance_percent = _amount_field(_("co-insurance (%)"))
    # ISO 4217 code of the amounts above; blank: the patient's own currency.
    currency = EncryptedCharField(_("currency"), max_length=3, blank=True)

    source_fields = (
        "insurer",
        "plan_name",
        "member_number",
        "coverage_type",
        "payer",
        "status",
        "effective_at",
        "ends_on",
        "deductible",
        "out_of_pocket_max",
        "premium_monthly",
        "coinsurance_percent",
        "currency",
    )

    class Meta(ClinicalRecord.Meta):
        verbose_name = _("insurance plan")
        verbose_name_plural = _("insurance plans")
        constraints = [_owner_source_key_constraint("coverage")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]

    def __str__(self):
        return " — ".join(part for part in (self.insurer, self.plan_name) if part)

    def clean(self):
        super().clean()
        try:
            over = bool(self.coinsurance_percent) and decimal.Decimal(self.coinsurance_percent) > 100
        except decimal.InvalidOperation:
            over = False  # not a number: the field's own validator says so
        if over:
            raise ValidationError({"coinsurance_percent": _("A percentage is at most 100.")})
        if self.currency and not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ValidationError({"currency": _("Enter a three-letter currency code such as EUR or USD.")})
        started = self.effective_at.date() if self.effective_at else None
        if started and self.ends_on and self.ends_on < started:
            raise ValidationError({"ends_on": _("The end of the cover is before its start.")})


class CostRecord(ClinicalRecord):
    """What a claim or an explanation of benefit says a visit cost; amounts are exact decimal text.

    The links to the visit, the claim and the plan are keyed hashes of their source keys (an
    Encounter's, a Claim's, a Coverage's `source_key`), so a link holds in whatever order files arrive.
    """

    # What the care was (the first billed item, or the visit's type), in the source's words.
    name = EncryptedCharField(_("care"), max_length=300, blank=True)
    provider = EncryptedCharField(_("provider"), max_length=300, blank=True)
    insurer = EncryptedCharField(_("insurer"), max_length=200, blank=True)
    claim_type = EncryptedCharField(_("type of claim"), max_length=64, blank=True)
    status = EncryptedCharField(_("status"), max_length=32, blank=True)
    billed = _amount_field(_("billed"))
    currency = EncryptedCharField(_("currency"), max_length=3, blank=True)
    # [{"name", "code", "billed", "allowed", "insurer_paid", "deductible", "copay", "coinsurance"}]
    items = EncryptedJSONField(_("lines"), null=True, blank=True)
    encounter_key = models.CharField(max_length=64, blank=True, editable=False)
    coverage_key = models.CharField(max_length=64, blank=True, editable=False)

    class Meta(ClinicalRecord.Meta):
        abstract = True

    def __str__(self):
        return self.name or str(self._meta.verbose_name).capitalize()


class Claim(CostRecord):
    """A bill sent to the insurer (FHIR Claim): what was billed, before the insurer's answer."""

    source_fields = (
        "name",
        "provider",
        "insurer",
        "claim_type",
        "status",
        "billed",
        "currency",
        "items",
        "effective_at",
    )

    class Meta(CostRecord.Meta):
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        constraints = [_owner_source_key_constraint("claim")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]


class ExplanationOfBenefit(CostRecord):
    """The insurer's answer to a claim: what it allowed and paid, and what the patient owed."""

    allowed = _amount_field(_("allowed"))
    insurer_paid = _amount_field(_("paid by the insurer"))
    deductible = _amount_field(_("deductible"))
    copay = _amount_field(_("co-pay"))
    coinsurance = _amount_field(_("co-insurance"))
    # What the patient owed in all: the source's own total, else deductible + co-pay + co-insurance.
    patient_owed = _amount_field(_("you owed"))
    outcome = EncryptedCharField(_("outcome"), max_length=16, blank=True)
    claim_key = models.CharField(max_length=64, blank=True, editable=False)

    source_fields = (
        "name",
        "provider",
        "insurer",
        "claim_type",
        "status",
        "outcome",
        "billed",
        "allowed",
        "insurer_paid",
        "deductible",
        "copay",
        "coinsurance",
        "patient_owed",
        "currency",
        "items",
        "effective_at",
    )

    class Meta(CostRecord.Meta):
        verbose_name = _("explanation of benefit")
        verbose_name_plural = _("explanations of benefit")
        constraints = [_owner_source_key_constraint("explanationofbenefit")]
        indexes = [models.Index(fields=["owner", "-effective_at"])]
