"""Security events of the account, written to the audit trail so the patient can see them."""

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.dispatch import receiver

from .models import AuditEvent
from .services import audit_record


def _own(user, action):
    if user is not None and getattr(user, "pk", None):
        audit_record(actor_kind=AuditEvent.ActorKind.PATIENT, actor=user, subject=user, action=action)


@receiver(auth_signals.user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    _own(user, "account.login")


@receiver(auth_signals.user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    _own(user, "account.logout")


@receiver(account_signals.password_changed)
@receiver(account_signals.password_set)
@receiver(account_signals.password_reset)
def _password(sender, request, user, **kwargs):
    _own(user, "account.password_changed")


@receiver(account_signals.email_changed)
def _email(sender, request, user, **kwargs):
    _own(user, "account.email_changed")


@receiver(mfa_signals.authenticator_added)
@receiver(mfa_signals.authenticator_removed)
@receiver(mfa_signals.authenticator_reset)
def _mfa(sender, request, user, **kwargs):
    _own(user, "account.mfa_changed")


def support_group_ensure(sender, using="default", **kwargs):
    """Create the Support group with its view permissions (after every migrate; idempotent)."""
    from django.contrib.auth.models import Group, Permission

    from .models import SUPPORT_GROUP, SUPPORT_PERMISSIONS

    group, _created = Group.objects.using(using).get_or_create(name=SUPPORT_GROUP)
    for dotted in SUPPORT_PERMISSIONS:
        app_label, codename = dotted.split(".")
        permission = (
            Permission.objects.using(using).filter(content_type__app_label=app_label, codename=codename).first()
        )
        if permission is not None:
            group.permissions.add(permission)
