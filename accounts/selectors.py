"""Reads for accounts, always scoped to one user."""

from django.db.models import QuerySet

from .models import AuditEvent, ConsentEvent, ConsentPurpose, User


def consent_is_granted(*, user: User, purpose: str) -> bool:
    """Whether the latest event of the user's ledger for this purpose is a grant."""
    latest = (
        ConsentEvent.objects.filter(user=user, purpose=purpose)
        .order_by("-created_at", "-id")
        .values_list("action", flat=True)
        .first()
    )
    return latest == ConsentEvent.Action.GRANT


def consent_status_for_user(*, user: User) -> list[dict]:
    """Each fixed purpose with its current state and when it last changed."""
    latest: dict[str, ConsentEvent] = {}
    for event in ConsentEvent.objects.filter(user=user).order_by("created_at", "id"):
        latest[event.purpose] = event
    rows = []
    for purpose in ConsentPurpose:
        event = latest.get(purpose.value)
        rows.append(
            {
                "purpose": purpose.value,
                "label": purpose.label,
                "granted": event is not None and event.action == ConsentEvent.Action.GRANT,
                "since": event.created_at if event else None,
                "notice_version": event.notice_version if event else "",
            }
        )
    return rows


def consent_events_for_user(*, user: User) -> QuerySet[ConsentEvent]:
    """The user's whole consent ledger, newest first."""
    return ConsentEvent.objects.filter(user=user).order_by("-created_at", "-id")


def audit_events_for_user(*, user: User, actor_kind: str = "") -> QuerySet[AuditEvent]:
    """Events about the user's data, newest first, optionally of one kind of actor."""
    events = AuditEvent.objects.filter(subject=user).select_related("actor").order_by("-created_at", "-id")
    if actor_kind:
        events = events.filter(actor_kind=actor_kind)
    return events
