"""People, their profile, their consents and the trail of who touched their data."""

import datetime
import hashlib
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from waffle.models import AbstractUserFlag

from healthspace.crypto import EncryptedCharField, EncryptedDateField

# The staff group created after every migrate: read-only metadata of accounts, consents, audit.
SUPPORT_GROUP = "Support"
SUPPORT_PERMISSIONS = [
    "accounts.view_user",
    "accounts.view_consentevent",
    "accounts.view_auditevent",
    # Connections and runs as metadata; "change" only lets them retry a failed run.
    "integrations.view_connection",
    "integrations.view_syncrun",
    "integrations.change_syncrun",
    # Support actions of low risk, and how many patients wait for a gated feature. Resetting MFA and
    # break-glass access to medical records are not here: a superuser grants them to named people.
    "accounts.resend_verification",
    "accounts.disable_account",
    "accounts.view_waitlistentry",
]


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person with an account: a patient, or a member of staff. Email is the login."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField(_("email address"), unique=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        # Support actions in the staff console (accounts/support.py); each one is audited.
        permissions = [
            ("resend_verification", _("Can send a verification email again")),
            ("disable_account", _("Can disable an account")),
            ("reset_mfa", _("Can reset two-factor authentication after identity checks")),
        ]

    def __str__(self):
        return self.email

    def get_full_name(self):
        profile = getattr(self, "profile", None)
        return (profile.display_name if profile else "") or self.email

    def get_short_name(self):
        return self.get_full_name()


class Profile(models.Model):
    """What the patient tells us about themselves; the birth date is encrypted."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    country = CountryField(_("country"), blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    date_of_birth = EncryptedDateField(_("date of birth"), null=True, blank=True)
    # Only for suggesting screening topics by sex (records/preventive.py); blank is "prefer not to say".
    sex = EncryptedCharField(
        _("sex"),
        max_length=16,
        choices=[("", _("Prefer not to say")), ("female", _("Female")), ("male", _("Male"))],
        # Null rather than an encrypted empty string: nothing is stored for "prefer not to say".
        null=True,
        blank=True,
        default=None,
        help_text=_(
            "Used only to suggest screening topics such as cervical or breast screening. With “Prefer not to "
            "say”, every topic is shown with “if this applies to you”."
        ),
    )
    # GDPR Art. 18: while set, the data is kept but not processed (no syncs, outside AI or sharing).
    processing_restricted_at = models.DateTimeField(_("processing restricted since"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self):
        return f"Profile of user {self.user_id}"


class AppendOnlyQuerySet(models.QuerySet):
    """Rows of a ledger are written once: the ORM refuses to change or remove them."""

    def update(self, **kwargs):
        raise PermissionError(f"{self.model._meta.label} is append-only.")

    def delete(self):
        raise PermissionError(f"{self.model._meta.label} is append-only.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise PermissionError(f"{self.model._meta.label} is append-only.")

    def update_or_create(self, *args, **kwargs):
        raise PermissionError(f"{self.model._meta.label} is append-only.")

    def detach(self, **fields) -> int:
        """Remove the link to a person from these rows (erasure, Art. 17): the one change a ledger allows.

        Only the model's `DETACHABLE_FIELDS` may be named, and only emptied (None or ""); the database
        refuses any other update (migration 0003).
        """
        refused = {
            name
            for name, value in fields.items()
            if name not in self.model.DETACHABLE_FIELDS or value not in (None, "")
        }
        if refused or not fields:
            raise PermissionError(f"{self.model._meta.label} rows can only be detached from a person.")
        return super().update(**fields)


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()
    # What erasure may empty in a row that outlives its person (see AppendOnlyQuerySet.detach).
    DETACHABLE_FIELDS: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(f"{self._meta.label} is append-only.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{self._meta.label} is append-only.")


class ConsentPurpose(models.TextChoices):
    HEALTH_DATA = "health_data", _("Storing and processing my health data")
    AI_ASSISTANT = "ai_assistant", _("Answering my questions with the health assistant")


class ConsentEvent(AppendOnlyModel):
    """One grant or withdrawal of consent for one purpose (GDPR Art. 7 and 9(2)(a))."""

    class Action(models.TextChoices):
        GRANT = "grant", _("granted")
        WITHDRAW = "withdraw", _("withdrawn")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No database constraint: the ledger outlives the account it belonged to. Erasing the account
    # detaches its rows (user emptied): what was consented to, and when, stays; whose does not.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="consent_events",
    )
    # A purpose is a code: the fixed ones above, or `source:<provider>` for a connected source.
    purpose = models.CharField(_("purpose"), max_length=64)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    notice_version = models.CharField(_("privacy notice version"), max_length=32)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "purpose", "-created_at"])]

    DETACHABLE_FIELDS = ("user",)

    def __str__(self):
        return f"{self.purpose} {self.action}"


class AuditEvent(AppendOnlyModel):
    """Who did what to whose data, when, and how it ended. Never medical content."""

    class ActorKind(models.TextChoices):
        PATIENT = "patient", _("you")
        STAFF = "staff", _("HealthSpace staff")
        SHARE_LINK = "share_link", _("someone with a share link")
        AI_PROVIDER = "ai_provider", _("the AI provider")
        JOB = "job", _("a background job")
        SYSTEM = "system", _("HealthSpace")

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("done")
        DENIED = "denied", _("refused")
        FAILED = "failed", _("failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor_kind = models.CharField(_("who"), max_length=16, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    # A label for actors without an account (a share link's id, a provider's name); no content.
    actor_label = models.CharField(_("actor"), max_length=120, blank=True)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subject", "-created_at"])]

    # Erasure keeps who acted (staff stay accountable), what kind of thing and when; it empties the
    # person, the patient as actor, and anything that could name them (a label, an object's id, a reason).
    DETACHABLE_FIELDS = ("subject", "actor", "actor_label", "object_id", "reason")

    def __str__(self):
        return f"{self.actor_kind} {self.action} {self.object_type}"

    @property
    def action_label(self) -> str:
        return audit_action_label(self.action)


# What the patient reads in their access log, by action code. New actions add a label here.
AUDIT_ACTION_LABELS = {
    "account.login": _("Signed in"),
    "account.login_failed": _("Failed sign-in attempt"),
    "account.logout": _("Signed out"),
    "account.password_changed": _("Password changed"),
    "account.email_changed": _("Email address changed"),
    "account.mfa_changed": _("Two-factor authentication changed"),
    "account.profile_changed": _("Profile updated"),
    "consent.granted": _("Consent given"),
    "consent.withdrawn": _("Consent withdrawn"),
    "admin.view_user": _("Account details viewed by staff"),
    "admin.change_user": _("Account details changed by staff"),
    "share_link.created": _("Share link made"),
    "share_link.revoked": _("Share link closed"),
    "share_link.viewed": _("Visit summary viewed through a share link"),
    "share_link.downloaded": _("Visit summary downloaded through a share link"),
    "share_link.code_refused": _("Wrong access code typed on a share link"),
    "share_link.note_added": _("Note left through a share link"),
    "staff.verification_resent": _("Verification email sent again by staff"),
    "staff.account_disabled": _("Account disabled by staff"),
    "staff.mfa_reset": _("Two-factor authentication reset by staff after identity checks"),
    "staff.break_glass_granted": _("Staff given temporary emergency access to your records"),
    "staff.break_glass_viewed": _("Your records viewed by staff with emergency access"),
    "staff.break_glass_ended": _("Staff emergency access to your records ended"),
    "audit.purged": _("Access-log entries older than the retention period deleted"),
    "chat.tool": _("Your data read to answer a question in the chat"),
    "chat.provider_call": _("A question and the data it needed sent to the outside assistant"),
    "privacy.export_requested": _("Copy of your data asked for"),
    "privacy.export_ready": _("Copy of your data prepared"),
    "privacy.export_downloaded": _("Copy of your data downloaded"),
    "privacy.restricted": _("Processing of your data restricted"),
    "privacy.restriction_lifted": _("Restriction of processing lifted"),
    "privacy.erasure_requested": _("Erasure of your account asked for"),
}


def audit_action_label(action: str) -> str:
    return str(AUDIT_ACTION_LABELS.get(action, action))


def rollout_bucket(flag_name: str, user: User) -> int:
    """Where a user falls, 0 to 999, in a flag's percentage rollout: the same on every device, per flag."""
    digest = hashlib.sha256(f"{flag_name}:{user.public_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 1000


class Flag(AbstractUserFlag):
    """A feature flag (django-waffle's, `WAFFLE_FLAG_MODEL`) that can also be limited to some countries.

    Evaluated for a user, never from cookies or the query string (so it reads the same in a view, a
    template and a background job, and a patient cannot switch it on):
    1. "Everyone" yes or no decides alone (launched everywhere, or switched off for all);
    2. a visitor who is not signed in never has a flagged feature;
    3. countries gate: a patient whose profile country is not listed does not have it;
    4. then the rollout: listed users and groups, staff or superusers when ticked, and a stable
       percentage of users (by a hash of the flag and the user, not a random cookie);
    5. a flag with countries and no rollout at all is on for everyone in those countries.
    Waffle's testing, cookie-rollout, language and "authenticated" options are not used.
    """

    countries = CountryField(
        _("countries"),
        multiple=True,
        blank=True,
        help_text=_(
            "Only patients whose profile country is one of these; empty: every country. Within them, the users, "
            "groups and percentage narrow the rollout; with none of those, everyone there has the feature."
        ),
    )

    class Meta(AbstractUserFlag.Meta):
        verbose_name = _("feature flag")
        verbose_name_plural = _("feature flags")

    def is_active(self, request, read_only: bool = False) -> bool:
        if not self.pk:
            return super().is_active(request, read_only=read_only)  # missing: WAFFLE_FLAG_DEFAULT, logged
        return self.is_active_for(getattr(request, "user", None))

    def is_active_for(self, user) -> bool:
        """Whether this user has the feature (see the class docstring for the order of the rules)."""
        if self.everyone is not None:
            return bool(self.everyone)
        if user is None or not user.is_authenticated:
            return False
        if self.countries:
            profile = getattr(user, "profile", None)
            country = str(profile.country) if profile is not None and profile.country else ""
            if country not in {str(code) for code in self.countries}:
                return False
        user_ids, group_ids = self._get_user_ids(), self._get_group_ids()
        if user.pk in user_ids:
            return True
        if group_ids and group_ids.intersection(user.groups.values_list("pk", flat=True)):
            return True
        if (self.staff and user.is_staff) or (self.superusers and user.is_superuser):
            return True
        if self.percent:
            return rollout_bucket(self.name, user) < int(self.percent * 10)
        return bool(self.countries) and not user_ids and not group_ids


class WaitlistEntry(models.Model):
    """A patient waiting for a feature that is not open to them yet (by its flag's name). No medical data."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="waitlist_entries")
    feature = models.CharField(_("feature"), max_length=100)
    created_at = models.DateTimeField(_("joined"), auto_now_add=True)

    class Meta:
        verbose_name = _("waitlist entry")
        verbose_name_plural = _("waitlist entries")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "feature"], name="waitlist_one_per_feature")]
        indexes = [models.Index(fields=["feature", "-created_at"])]

    def __str__(self):
        return f"{self.feature} waitlist entry {self.pk}"


class BreakGlassGrant(models.Model):
    """One member of staff may read one patient's medical records until `expires_at`, for a written reason.

    Granted and used only through accounts/break_glass.py: every grant and every view is an audit event
    the patient sees in their access log.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Written by staff for the patient to read in their access log: why, never medical content.
    reason = models.CharField(_("reason"), max_length=200)
    created_at = models.DateTimeField(_("granted"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        verbose_name = _("break-glass access")
        verbose_name_plural = _("break-glass accesses")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["staff", "patient", "-expires_at"])]
        permissions = [("break_glass", _("Can open one patient's medical records for a limited time (break-glass)"))]

    def __str__(self):
        return f"Break-glass access {self.public_id}"

    def is_active(self, now: datetime.datetime | None = None) -> bool:
        return self.ended_at is None and self.expires_at > (now or timezone.now())


# -- the privacy centre: exports and erasures (GDPR Art. 15, 17 and 20) --------------------------------

EXPORT_KEPT_HOURS = 24


class DataExport(models.Model):
    """A copy of everything of one patient, built by a job, kept encrypted in storage for a day, then deleted."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("waiting")
        RUNNING = "running", _("being prepared")
        READY = "ready", _("ready to download")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("deleted")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Progress for the page: categories written out of all of them.
    steps_done = models.PositiveSmallIntegerField(default=0)
    steps_total = models.PositiveSmallIntegerField(default=0)
    # Name in storage of the encrypted zip; "" before it is built and once it is deleted.
    storage_name = models.CharField(max_length=255, blank=True, editable=False)
    size = models.BigIntegerField(_("size"), default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A code for staff when the job failed (never content).
    error_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(_("asked"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Downloads are not counted here: each one is an event of the access log.
    expires_at = models.DateTimeField(_("deleted after"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("data export")
        verbose_name_plural = _("data exports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"data export {self.public_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.READY, self.Status.FAILED, self.Status.EXPIRED)

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.steps_total:
            return 0
        return min(99, int(100 * self.steps_done / self.steps_total))

    def is_downloadable(self, now: datetime.datetime | None = None) -> bool:
        return (
            self.status == self.Status.READY
            and bool(self.storage_name)
            and self.expires_at is not None
            and self.expires_at > (now or timezone.now())
        )


class AccountErasure(models.Model):
    """One erasure of an account (Art. 17): asked, carried out by a job, then kept as an anonymous receipt.

    The account is disabled when it is asked; the job deletes every row, file, token and cached item,
    then empties `user` in the same transaction that deletes the account. What stays says when it was
    asked and done and how much went (counts by kind), never whose it was.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("running")
        DONE = "done", _("done")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(_("asked"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(_("done"), null=True, blank=True)
    # {"records.condition": 3, "files": 2, "tokens_revoked": 1, ...}: counts only.
    removed = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    email_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("account erasure")
        verbose_name_plural = _("account erasures")
        ordering = ["-requested_at", "-id"]

    def __str__(self):
        return f"account erasure {self.public_id}"
