"""People, their profile, their consents and the trail of who touched their data."""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from healthspace.crypto import EncryptedDateField

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


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

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
    # No database constraint: the ledger outlives the account it belonged to.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
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
}


def audit_action_label(action: str) -> str:
    return str(AUDIT_ACTION_LABELS.get(action, action))
