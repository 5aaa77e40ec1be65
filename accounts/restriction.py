"""Restriction of processing (GDPR Art. 18): the data stays, nothing is done with it until the patient lifts it.

While restricted, `selectors.processing_allowed` is False, and each path that processes the data asks it:
syncs and imports (integrations), calls to an outside AI provider (chat answers with the offline engine
and says why), and share links (they answer 404, as if they did not exist, and new ones cannot be made).
The patient can still see, export and erase their data.
"""

from django.db import transaction
from django.utils import timezone

from .models import AuditEvent, Profile, User
from .services import audit_record


@transaction.atomic
def processing_restriction_set(*, user: User, restricted: bool) -> Profile:
    """Restrict processing now, or lift the restriction; asking for the current state again changes nothing."""
    profile, _created = Profile.objects.select_for_update().get_or_create(user=user)
    if (profile.processing_restricted_at is not None) != restricted:
        profile.processing_restricted_at = timezone.now() if restricted else None
        profile.save(update_fields=["processing_restricted_at", "updated_at"])
        audit_record(
            actor_kind=AuditEvent.ActorKind.PATIENT,
            actor=user,
            subject=user,
            action="privacy.restricted" if restricted else "privacy.restriction_lifted",
            object_type="account",
        )
    return profile
