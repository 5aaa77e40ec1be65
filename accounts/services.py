"""Writes for accounts: profiles, the consent ledger and the audit trail."""

from django.conf import settings
from django.db import transaction

from .models import AuditEvent, ConsentEvent, ConsentPurpose, Profile, User
from .selectors import consent_is_granted


def audit_record(
    *,
    actor_kind: str,
    action: str,
    subject: User | None = None,
    actor: User | None = None,
    actor_label: str = "",
    object_type: str = "",
    object_id: str = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the audit trail; callers pass codes and ids, never medical content."""
    event = AuditEvent(
        actor_kind=actor_kind,
        actor=actor,
        actor_label=actor_label[:120],
        subject=subject,
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        outcome=outcome,
        reason=reason[:200],
    )
    event.full_clean()
    event.save()
    return event


@transaction.atomic
def consent_set(*, user: User, purpose: str, granted: bool, notice_version: str = "") -> ConsentEvent | None:
    """Grant or withdraw one purpose; a no-op (None) when the ledger already says so."""
    if consent_is_granted(user=user, purpose=purpose) == granted:
        return None
    event = ConsentEvent(
        user=user,
        purpose=purpose,
        action=ConsentEvent.Action.GRANT if granted else ConsentEvent.Action.WITHDRAW,
        notice_version=notice_version or settings.PRIVACY_NOTICE_VERSION,
    )
    event.full_clean()
    event.save()
    audit_record(
        actor_kind=AuditEvent.ActorKind.PATIENT,
        actor=user,
        subject=user,
        action="consent.granted" if granted else "consent.withdrawn",
        object_type="consent",
        object_id=purpose,
    )
    if not granted:
        # What the purpose's app does on withdrawal (a source: stop its syncs, revoke its tokens) runs
        # once the withdrawal is committed, outside the transaction: it may call the provider.
        transaction.on_commit(lambda: consent_withdrawal_apply(user=user, purpose=purpose))
    return event


def consent_withdrawal_apply(*, user: User, purpose: str) -> None:
    """Carry out a committed withdrawal for the app that owns the purpose (idempotent)."""
    from .privacy import consent_purpose_family

    family = consent_purpose_family(purpose)
    if family is not None and family.on_withdraw is not None:
        family.on_withdraw(user, purpose)


@transaction.atomic
def profile_update(*, user: User, **fields) -> Profile:
    """Create or change the patient's profile; re-running with the same values changes nothing."""
    profile, _ = Profile.objects.get_or_create(user=user)
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.full_clean()
    profile.save()
    return profile


@transaction.atomic
def patient_register(*, user: User, display_name: str, country: str, preferred_language: str) -> Profile:
    """Finish a sign-up: the profile and the health-data consent given on the form."""
    profile = profile_update(
        user=user, display_name=display_name, country=country, preferred_language=preferred_language
    )
    consent_set(user=user, purpose=ConsentPurpose.HEALTH_DATA, granted=True)
    return profile
