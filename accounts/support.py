"""Support actions staff take from the console: resend verification, disable an account, reset MFA.

Each one needs its own permission (User's Meta), is refused on one's own account and, unless the actor
is a superuser, on staff accounts; each is an audit event the patient sees in their access log, and the
patient is told by email. Emails say what happened to the account, never anything medical.
"""

from allauth.account import app_settings as account_settings
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.core.context import request_context
from allauth.mfa.models import Authenticator
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from .erasure import sessions_end
from .models import AuditEvent, User
from .services import audit_record

# What staff may have checked before resetting someone's MFA; the form asks for MFA_RESET_MIN_CHECKS.
IDENTITY_CHECKS = [
    ("email_code", _("The person read back a one-time code sent to the account's email address")),
    (
        "account_details",
        _("The person gave account details only the owner knows (when they signed up, country, sources)"),
    ),
    ("id_document", _("An official identity document matching the profile was shown on a video call")),
    ("known_phone", _("Called back on a phone number the patient gave before this request")),
]
MFA_RESET_MIN_CHECKS = 2
REASON_MIN_CHARS = 10


class SupportError(Exception):
    """An action staff cannot take on this account, in plain words for the console."""


def _check_target(*, actor: User, user: User, permission: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionDenied
    if actor.pk == user.pk:
        raise SupportError(_("Staff cannot take this action on their own account."))
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise SupportError(_("Only a superuser can take this action on a staff account."))


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < REASON_MIN_CHARS:
        raise SupportError(
            _("Write the reason in a sentence (at least %(count)d characters).") % {"count": REASON_MIN_CHARS}
        )
    return reason


def _audit(*, actor: User, user: User, action: str, object_type: str, reason: str = "") -> AuditEvent:
    return audit_record(
        actor_kind=AuditEvent.ActorKind.STAFF,
        actor=actor,
        subject=user,
        action=action,
        object_type=object_type,
        object_id=str(user.public_id),
        reason=reason,
    )


def patient_notify(*, user: User, template: str, context: dict, request) -> None:
    """Email the account's owner in their language (allauth's mailer and layout); never medical content."""
    address = EmailAddress.objects.get_primary_email(user) or user.email
    profile = getattr(user, "profile", None)
    with request_context(request), translation.override(profile.preferred_language if profile else None):
        get_adapter(request).send_mail(template, address, {"user": user, **context})


def verification_resend(*, actor: User, user: User, request) -> EmailAddress:
    """Send the account's unverified address a way to verify it (a re-run sends another email).

    With verification by link, allauth's confirmation link (valid in any browser). With verification
    by code (this project's default) a code is bound to the browser session that asked for it, so the
    email asks the patient to sign in, where allauth sends them a fresh code.
    """
    _check_target(actor=actor, user=user, permission="accounts.resend_verification")
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:
        address = EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    if address.verified:
        raise SupportError(_("This email address is already verified."))
    if account_settings.EMAIL_VERIFICATION_BY_CODE_ENABLED:
        login_url = request.build_absolute_uri(reverse("account_login"))
        patient_notify(
            user=user, template="accounts/email/verify_by_signing_in", context={"login_url": login_url}, request=request
        )
    else:
        with request_context(request):
            address.send_confirmation(request)
    _audit(actor=actor, user=user, action="staff.verification_resent", object_type="email_address")
    return address


def account_disable(*, actor: User, user: User, reason: str, request) -> int:
    """Disable the account and end its sessions at once; how many sessions were ended."""
    _check_target(actor=actor, user=user, permission="accounts.disable_account")
    reason = _reason(reason)
    if not user.is_active:
        raise SupportError(_("This account is already disabled."))
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        ended = sessions_end(user=user)
        _audit(actor=actor, user=user, action="staff.account_disabled", object_type="account", reason=reason)
    patient_notify(user=user, template="accounts/email/account_disabled", context={}, request=request)
    return ended


def mfa_reset(*, actor: User, user: User, checks: list[str], reason: str, request) -> int:
    """Remove every MFA authenticator of the account after identity checks; how many were removed.

    The account's sessions end too: the next sign-in is with the password alone, and the patient sets
    up two-factor authentication again. The checks' codes and the reason go to the audit trail.
    """
    _check_target(actor=actor, user=user, permission="accounts.reset_mfa")
    reason = _reason(reason)
    known = {code for code, _label in IDENTITY_CHECKS}
    checks = sorted(set(checks))
    if not set(checks) <= known or len(checks) < MFA_RESET_MIN_CHECKS:
        raise SupportError(
            _("Tick at least %(count)d identity checks you did before resetting.") % {"count": MFA_RESET_MIN_CHECKS}
        )
    with transaction.atomic():
        removed, _by_model = Authenticator.objects.filter(user=user).delete()
        if not removed:
            raise SupportError(_("This account has no two-factor authentication to reset."))
        sessions_end(user=user)
        _audit(
            actor=actor,
            user=user,
            action="staff.mfa_reset",
            object_type="mfa",
            reason=f"checks: {', '.join(checks)}. {reason}",
        )
    patient_notify(user=user, template="accounts/email/mfa_reset", context={}, request=request)
    return removed
