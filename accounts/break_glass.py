"""Break-glass access: one member of staff reads one patient's medical records, briefly, for a written reason.

Only staff with the `accounts.break_glass` permission (no group has it by default), never on their own
account, for BREAK_GLASS_MINUTES. The grant, every page seen under it, every refusal and its end are
audit events the patient sees in their access log, with the reason; the patient is emailed when access
is granted (the email says who and until when, and points to the access log: no medical content, and
not the reason, which staff write and might word badly). Records are read through `records.selectors`
with the patient as the user: nothing loosens owner scoping.
"""

import datetime
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import AuditEvent, BreakGlassGrant, User
from .services import audit_record
from .support import SupportError, patient_notify

PERMISSION = "accounts.break_glass"
REASON_MIN_CHARS = 20


def _audit(grant: BreakGlassGrant, action: str, *, what: str = "", outcome=AuditEvent.Outcome.SUCCESS) -> None:
    audit_record(
        actor_kind=AuditEvent.ActorKind.STAFF,
        actor=grant.staff,
        subject=grant.patient,
        action=action,
        object_type=f"records:{what}" if what else "break_glass",
        object_id=str(grant.public_id),
        outcome=outcome,
        reason=grant.reason,
    )


def break_glass_active(*, staff: User, patient: User) -> BreakGlassGrant | None:
    """The staff member's grant to this patient's records that is still running, if any."""
    now = timezone.now()
    return (
        BreakGlassGrant.objects.filter(staff=staff, patient=patient, ended_at__isnull=True, expires_at__gt=now)
        .order_by("-expires_at")
        .first()
    )


def break_glass_grant(*, staff: User, patient: User, reason: str, request) -> BreakGlassGrant:
    """Open a patient's records to one member of staff for BREAK_GLASS_MINUTES; audited, the patient emailed."""
    if not staff.has_perm(PERMISSION):
        raise PermissionDenied
    if staff.pk == patient.pk:
        raise SupportError(_("Staff cannot open their own records this way."))
    reason = " ".join((reason or "").split())
    if len(reason) < REASON_MIN_CHARS:
        raise SupportError(
            _("Write why you need this access in a sentence (at least %(count)d characters).")
            % {"count": REASON_MIN_CHARS}
        )
    if break_glass_active(staff=staff, patient=patient) is not None:
        raise SupportError(_("You already have access to this patient's records: end it before asking again."))
    with transaction.atomic():
        grant = BreakGlassGrant(
            staff=staff,
            patient=patient,
            reason=reason,
            expires_at=timezone.now() + datetime.timedelta(minutes=settings.BREAK_GLASS_MINUTES),
        )
        grant.full_clean()
        grant.save()
        _audit(grant, "staff.break_glass_granted")
    access_log = request.build_absolute_uri(reverse("accounts:access_log"))
    patient_notify(
        user=patient,
        template="accounts/email/break_glass_granted",
        context={"grant": grant, "access_log_url": access_log, "minutes": settings.BREAK_GLASS_MINUTES},
        request=request,
    )
    return grant


def break_glass_get_for_staff(*, staff: User, public_id) -> BreakGlassGrant:
    """One of the staff member's own grants (running or not), or 404: nobody uses someone else's."""
    try:
        return BreakGlassGrant.objects.select_related("patient", "staff").get(
            staff=staff, public_id=uuid.UUID(str(public_id))
        )
    except (BreakGlassGrant.DoesNotExist, ValueError):
        raise Http404("No such access") from None


def break_glass_check(*, grant: BreakGlassGrant, what: str) -> bool:
    """Whether the grant still opens the records (running, permission kept); every answer is audited.

    `what` names the page (a kind of record, or "overview") for the patient's access log.
    """
    if grant.is_active() and grant.staff.has_perm(PERMISSION):
        _audit(grant, "staff.break_glass_viewed", what=what)
        return True
    _audit(grant, "staff.break_glass_viewed", what=what, outcome=AuditEvent.Outcome.DENIED)
    return False


def break_glass_end(*, grant: BreakGlassGrant) -> BreakGlassGrant:
    """End a running grant now (ending one already over changes nothing)."""
    with transaction.atomic():
        updated = BreakGlassGrant.objects.filter(pk=grant.pk, ended_at__isnull=True).update(ended_at=timezone.now())
        if updated:
            grant.refresh_from_db(fields=["ended_at"])
            _audit(grant, "staff.break_glass_ended")
    return grant
