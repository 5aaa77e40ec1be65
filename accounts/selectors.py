"""Reads for accounts, always scoped to one user."""

import datetime

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import AuditEvent, ConsentEvent, ConsentPurpose, DataExport, User


def consent_is_granted(*, user: User, purpose: str) -> bool:
    """Whether the latest event of the user's ledger for this purpose is a grant."""
    latest = (
        ConsentEvent.objects.filter(user=user, purpose=purpose)
        .order_by("-created_at", "-id")
        .values_list("action", flat=True)
        .first()
    )
    return latest == ConsentEvent.Action.GRANT


def _latest_consents(user: User) -> dict[str, ConsentEvent]:
    latest: dict[str, ConsentEvent] = {}
    for event in ConsentEvent.objects.filter(user=user).order_by("created_at", "id"):
        latest[event.purpose] = event
    return latest


def consent_states_for_user(*, user: User) -> dict[str, bool]:
    """Every purpose in the user's ledger with whether it is granted now (one query)."""
    return {purpose: event.action == ConsentEvent.Action.GRANT for purpose, event in _latest_consents(user).items()}


def consent_status_for_user(*, user: User) -> list[dict]:
    """Each fixed purpose, then each registered one in the ledger (a source), with its state and last change."""
    from .privacy import consent_purpose_family, consent_purpose_label

    latest = _latest_consents(user)
    purposes = [purpose.value for purpose in ConsentPurpose]
    # Sources and other purposes apps register: granted by using them (connecting), withdrawn here.
    purposes += sorted(purpose for purpose in latest if purpose not in purposes and consent_purpose_family(purpose))
    rows = []
    for purpose in purposes:
        event = latest.get(purpose)
        rows.append(
            {
                "purpose": purpose,
                "label": consent_purpose_label(purpose),
                "granted": event is not None and event.action == ConsentEvent.Action.GRANT,
                "since": event.created_at if event else None,
                "notice_version": event.notice_version if event else "",
                "grantable_here": purpose in ConsentPurpose.values,
            }
        )
    return rows


def consent_events_for_user(*, user: User) -> QuerySet[ConsentEvent]:
    """The user's whole consent ledger, newest first."""
    return ConsentEvent.objects.filter(user=user).order_by("-created_at", "-id")


# The access log's "what" filter: groups of actions by their code's prefix.
AUDIT_ACTION_GROUPS = {
    "account": ("account.",),
    "consent": ("consent.",),
    "share_link": ("share_link.",),
    "assistant": ("chat.",),
    "staff": ("admin.", "staff."),
    "privacy": ("privacy.",),
}


def audit_events_for_user(
    *,
    user: User,
    actor_kind: str = "",
    action_group: str = "",
    since: datetime.date | None = None,
    until: datetime.date | None = None,
) -> QuerySet[AuditEvent]:
    """Events about the user's data, newest first, filtered by kind of actor, group of actions and days (UTC)."""
    events = AuditEvent.objects.filter(subject=user).select_related("actor").order_by("-created_at", "-id")
    if actor_kind:
        events = events.filter(actor_kind=actor_kind)
    if action_group in AUDIT_ACTION_GROUPS:
        condition = Q()
        for prefix in AUDIT_ACTION_GROUPS[action_group]:
            condition |= Q(action__startswith=prefix)
        events = events.filter(condition)
    if since is not None:
        events = events.filter(created_at__gte=datetime.datetime.combine(since, datetime.time.min, tzinfo=datetime.UTC))
    if until is not None:
        end = datetime.datetime.combine(until + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC)
        events = events.filter(created_at__lt=end)
    return events


# -- the privacy centre --------------------------------------------------------------------------------


def account_is_active(*, user: User) -> bool:
    """Whether the account still exists and is enabled, read again (a job's user object may be stale)."""
    return User.objects.filter(pk=user.pk, is_active=True).exists()


PROCESSING_ALLOWED = "allowed"
# Erased, being erased, or disabled: nothing may be written for the account any more.
PROCESSING_CLOSED = "closed"
# GDPR Art. 18: the data is kept, nothing is done with it.
PROCESSING_RESTRICTED = "restricted"


def processing_state(*, user: User) -> str:
    """Whether syncs, outside AI calls and sharing may use the user's data now, read again (one query).

    Every job that writes a patient's data asks this after re-reading its row, so a task queued before
    an erasure or a restriction does nothing when it runs after.
    """
    row = User.objects.filter(pk=user.pk).values_list("is_active", "profile__processing_restricted_at").first()
    if row is None or not row[0]:
        return PROCESSING_CLOSED
    return PROCESSING_RESTRICTED if row[1] is not None else PROCESSING_ALLOWED


def processing_allowed(*, user: User) -> bool:
    """Whether the user's data may be processed now (see processing_state)."""
    return processing_state(user=user) == PROCESSING_ALLOWED


def processing_restricted(*, user: User) -> bool:
    """Whether the patient restricted processing of their data (GDPR Art. 18)."""
    return processing_state(user=user) == PROCESSING_RESTRICTED


def data_exports_for_user(*, user: User) -> QuerySet[DataExport]:
    """The user's exports, newest first."""
    return DataExport.objects.filter(owner=user).order_by("-created_at", "-id")


def data_export_get_for_user(*, user: User, public_id) -> DataExport:
    """One of the user's exports, or 404 (also for someone else's)."""
    export = DataExport.objects.filter(owner=user, public_id=public_id).first()
    if export is None:
        raise Http404("No such export")
    return export
