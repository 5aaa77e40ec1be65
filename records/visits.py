"""Visit preparation: the patient's visits, their share links, and what was decided after the visit.

The packet itself (building, reconciling medications, showing it in a language) is in packet.py.
A share link keeps a snapshot (the visit, the patient's name and birth date, the packet) as it was
when shared: later edits do not reach a link already sent. Only keyed hashes of its token and of
its access code are stored.
"""

import datetime
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import AuditEvent, User
from accounts.selectors import processing_allowed
from accounts.services import audit_record
from healthspace import crypto

from . import selectors, services
from .exceptions import RecordError
from .models import ClinicalNote, Condition, Encounter, Medication, ShareLink, Source, VisitPreparation
from .packet import (
    NOTE_SECTIONS,
    SECTION_NAMES,
    item_line,
    item_note,
    medication_name_key,
    new_item,
    packet_build,
    packet_merge,
    patient_language,
    visit_snapshot,
)

SHARE_LINK_DAY_CHOICES = (1, 3, 7, 14, 30)
ACCESS_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
ACCESS_CODE_LENGTH = 8


# -- visits: reads ----------------------------------------------------------------------------------


def visit_list_for_user(*, user: User) -> QuerySet:
    """The owner's visit preparations, latest appointment first, with how many links are open (one query)."""
    now = timezone.now()
    open_links = Count("share_links", filter=Q(share_links__revoked_at__isnull=True, share_links__expires_at__gt=now))
    return (
        VisitPreparation.objects.filter(owner=user).annotate(open_links=open_links).order_by("-appointment_at", "-id")
    )


def visit_get_for_user(*, user: User, public_id) -> VisitPreparation:
    """One of the owner's visit preparations, or 404 (also for someone else's)."""
    try:
        return VisitPreparation.objects.get(owner=user, public_id=public_id)
    except VisitPreparation.DoesNotExist:
        raise Http404("No such visit") from None


def share_links_for_visit(*, user: User, visit: VisitPreparation) -> QuerySet:
    """The links made for one of the owner's visits, newest first."""
    return ShareLink.objects.filter(owner=user, visit=visit).order_by("-created_at", "-id")


def share_link_get_for_user(*, user: User, public_id) -> ShareLink:
    """One of the owner's share links, or 404."""
    try:
        return ShareLink.objects.select_related("visit").get(owner=user, public_id=public_id)
    except ShareLink.DoesNotExist:
        raise Http404("No such link") from None


@dataclass
class FollowUp:
    visit: VisitPreparation
    index: int
    text: str
    done: bool


def follow_ups_for_user(*, user: User, include_done: bool = False) -> list[FollowUp]:
    """The owner's follow-ups from every visit, the latest visit's first (one query)."""
    found = []
    for visit in VisitPreparation.objects.filter(owner=user).order_by("-appointment_at", "-id"):
        for index, entry in enumerate(visit.follow_ups or []):
            if include_done or not entry.get("done"):
                found.append(FollowUp(visit=visit, index=index, text=entry["text"], done=bool(entry.get("done"))))
    return found


# -- visits: writes ---------------------------------------------------------------------------------


def _save(visit: VisitPreparation) -> VisitPreparation:
    visit.full_clean()
    visit.save()
    return visit


@transaction.atomic
def visit_create(
    *, user: User, appointment_at: datetime.datetime, clinician: str, reason: str = ""
) -> VisitPreparation:
    """Start preparing a visit: its packet is built from the owner's records (each call adds one)."""
    visit = VisitPreparation(owner=user, appointment_at=appointment_at, clinician=clinician, reason=reason)
    visit.packet = packet_build(user=user, reason=reason)
    visit.packet_built_at = timezone.now()
    return _save(visit)


def _check_owner(user: User, obj) -> None:
    if obj.owner_id != user.pk:
        raise RecordError(_("This record is not yours."))


@transaction.atomic
def visit_update(
    *, user: User, visit: VisitPreparation, appointment_at: datetime.datetime, clinician: str, reason: str
) -> VisitPreparation:
    """Change the appointment's date, clinician or reason (a new reason updates the packet's first concern)."""
    _check_owner(user, visit)
    visit.appointment_at, visit.clinician = appointment_at, clinician
    if reason != visit.reason:
        visit.reason = reason
        concerns = visit.packet.setdefault("sections", {}).setdefault("concerns", [])
        concerns[:] = [item for item in concerns if item["key"] != "concern:reason"]
        if reason.strip():
            concerns.insert(0, new_item("concern:reason", "reason", {"text": reason.strip()}))
    return _save(visit)


@transaction.atomic
def visit_packet_refresh(*, user: User, visit: VisitPreparation) -> VisitPreparation:
    """Rebuild the packet from the records as they are now, keeping the patient's edits and own lines."""
    _check_owner(user, visit)
    visit = VisitPreparation.objects.select_for_update().get(pk=visit.pk)
    visit.packet = packet_merge(packet_build(user=user, reason=visit.reason), visit.packet)
    visit.packet_built_at = timezone.now()
    return _save(visit)


def _override(submitted: str, generated: str) -> str | None:
    """The patient's wording, or None when they left the generated one (or emptied the field)."""
    submitted = " ".join((submitted or "").split())
    return None if not submitted or submitted == " ".join(generated.split()) else submitted


@transaction.atomic
def visit_packet_update(*, user: User, visit: VisitPreparation, revision: int, edits: dict) -> VisitPreparation:
    """Apply the patient's edits: each item shown or not, reworded, and lines added per section.

    `edits` is {section: {"items": [{"include", "text", "note"}, ...] in packet order, "add": [lines]}}.
    Refuses edits made on an older revision of the packet (another tab rebuilt it meanwhile).
    """
    _check_owner(user, visit)
    visit = VisitPreparation.objects.select_for_update().get(pk=visit.pk)
    packet = visit.packet
    if packet.get("revision", 0) != revision:
        raise RecordError(_("The packet changed since you opened this page. Your changes were not saved; try again."))
    for name in SECTION_NAMES:
        items = packet.setdefault("sections", {}).setdefault(name, [])
        section_edits = edits.get(name, {})
        changes = section_edits.get("items", [])
        if len(changes) != len(items):
            raise RecordError(
                _("The packet changed since you opened this page. Your changes were not saved; try again.")
            )
        for item, change in zip(items, changes, strict=True):
            item["include"] = bool(change.get("include"))
            item["text"] = _override(change.get("text", ""), item_line(name, item))
            if name in NOTE_SECTIONS:
                item["note"] = _override(change.get("note", ""), item_note(name, item))
        for line in section_edits.get("add", []):
            if line.strip():
                items.append(new_item(f"patient:{uuid.uuid4().hex}", "patient", {"text": line.strip()}))
    packet["revision"] = revision + 1
    visit.packet = packet
    return _save(visit)


@transaction.atomic
def visit_delete(*, user: User, visit: VisitPreparation) -> None:
    """Delete a visit preparation and its share links (links already sent stop working)."""
    _check_owner(user, visit)
    visit.delete()


# -- share links ------------------------------------------------------------------------------------


def _token_key(token: str) -> str:
    return crypto.keyed_hash("share-link", token)


def _code_normalise(code: str) -> str:
    return re.sub(r"[\s-]+", "", code or "").upper()


def _code_key(link: ShareLink, code: str) -> str:
    return crypto.keyed_hash("share-link-code", str(link.public_id), _code_normalise(code))


def access_code_generate() -> str:
    """A random access code, grouped for reading aloud ("K7QX-M2PD")."""
    code = "".join(secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(ACCESS_CODE_LENGTH))
    return f"{code[:4]}-{code[4:]}"


def _audit(link: ShareLink, action: str, *, actor_kind: str, actor: User | None = None, outcome=None) -> None:
    audit_record(
        actor_kind=actor_kind,
        actor=actor,
        # The link's short id, as the visit page lists it: the patient can tell which link was used.
        actor_label="" if actor else link.short_id,
        subject=link.owner,
        action=action,
        object_type="share_link",
        object_id=str(link.public_id),
        outcome=outcome or AuditEvent.Outcome.SUCCESS,
    )


@transaction.atomic
def share_link_create(
    *, user: User, visit: VisitPreparation, days: int = 7, with_code: bool = False, language: str = ""
) -> tuple[ShareLink, str, str]:
    """A new link to the packet as it is now; returns the link, its token and its access code (shown once)."""
    _check_owner(user, visit)
    if not processing_allowed(user=user):
        raise RecordError(_("You restricted the processing of your data: lift the restriction to share it."))
    if days not in SHARE_LINK_DAY_CHOICES:
        raise RecordError(_("Choose how long the link stays open from the list."))
    token = secrets.token_urlsafe(32)
    code = access_code_generate() if with_code else ""
    link = ShareLink(
        owner=user,
        visit=visit,
        token_key=_token_key(token),
        snapshot=visit_snapshot(visit=visit),
        language=language or patient_language(user),
        expires_at=timezone.now() + datetime.timedelta(days=days),
    )
    link.code_key = _code_key(link, code) if code else ""
    link.full_clean()
    link.save()
    _audit(link, "share_link.created", actor_kind=AuditEvent.ActorKind.PATIENT, actor=user)
    return link, token, code


@transaction.atomic
def share_link_revoke(*, user: User, link: ShareLink) -> ShareLink:
    """Close a link now; revoking a closed link changes nothing."""
    _check_owner(user, link)
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        _audit(link, "share_link.revoked", actor_kind=AuditEvent.ActorKind.PATIENT, actor=user)
    return link


def share_link_open(*, token: str) -> ShareLink | None:
    """The open link a token names, or None: unknown, expired and revoked look the same."""
    if not token or len(token) > 128:
        return None
    link = ShareLink.objects.filter(token_key=_token_key(token)).select_related("owner").first()
    if link is None or not link.is_open():
        return None
    if not processing_allowed(user=link.owner):
        return None  # restricted (GDPR Art. 18), or the account is closing: the link answers as if unknown
    return link


def share_link_code_matches(*, link: ShareLink, code: str) -> bool:
    """Whether a typed access code is the link's (constant-time); a wrong one is audited."""
    matches = bool(link.code_key) and hmac.compare_digest(_code_key(link, code), link.code_key)
    if not matches:
        _audit(
            link,
            "share_link.code_refused",
            actor_kind=AuditEvent.ActorKind.SHARE_LINK,
            outcome=AuditEvent.Outcome.DENIED,
        )
    return matches


def share_link_viewed(*, link: ShareLink, action: str = "share_link.viewed") -> None:
    """Count one view of the shared packet and leave it in the owner's access log."""
    ShareLink.objects.filter(pk=link.pk).update(view_count=F("view_count") + 1, last_viewed_at=timezone.now())
    _audit(link, action, actor_kind=AuditEvent.ActorKind.SHARE_LINK)


@transaction.atomic
def share_link_note_add(*, link: ShareLink, name: str, role: str, text: str) -> ClinicalNote:
    """A clinician's note through a link, into the owner's records from an unverified author; a resend adds nothing."""
    name, role, text = " ".join(name.split()), " ".join(role.split()), text.strip()
    source_key = crypto.keyed_hash("share-link-note", str(link.public_id), name, role, text)
    existing = ClinicalNote.objects.filter(owner=link.owner, source_key=source_key).first()
    if existing is not None:
        return existing
    with translation.override(patient_language(link.owner)):
        note = ClinicalNote(
            owner=link.owner,
            source=Source.SHARE_LINK,
            source_key=source_key,
            source_label=_("Visit summary shared on %(date)s")
            % {"date": date_format(timezone.localtime(link.created_at), "DATE_FORMAT")},
            title=_("Note from %(name)s") % {"name": name},
            author=f"{name} ({role})" if role else name,
            text=text,
            unverified_author=True,
            effective_at=timezone.now(),
        )
    note.full_clean()
    note.save()
    ShareLink.objects.filter(pk=link.pk).update(note_count=F("note_count") + 1)
    _audit(link, "share_link.note_added", actor_kind=AuditEvent.ActorKind.SHARE_LINK)
    return note


# -- after the visit ----------------------------------------------------------------------------------


def _lines(values) -> list[str]:
    seen, lines = set(), []
    for value in values or []:
        line = " ".join(str(value).split())
        if line and line.lower() not in seen:
            seen.add(line.lower())
            lines.append(line)
    return lines


def _after_record(user: User, visit: VisitPreparation, kind: str, line: str, record) -> None:
    """Write one record decided at the visit; the same line sent again is already there."""
    record.source_key = crypto.keyed_hash("after-visit", str(visit.public_id), kind, line.lower())
    if type(record).objects.filter(owner=user, source_key=record.source_key).exists():
        return
    record.owner, record.source = user, Source.MANUAL
    record.source_label = _("Noted after your visit of %(date)s") % {
        "date": date_format(timezone.localtime(visit.appointment_at), "DATE_FORMAT")
    }
    record.effective_at = record.effective_at or visit.appointment_at
    record.full_clean()
    record.save()


def _stop_medication(user: User, visit: VisitPreparation, line: str) -> None:
    """Stop the patient's own current entries of that drug; a drug from another source gets a stopped entry."""
    day = timezone.localtime(visit.appointment_at).date()
    wanted = medication_name_key(line)
    own = [
        row
        for row in selectors.medications_current_for_user(user=user)
        if row.is_manual and medication_name_key(row.name) == wanted
    ]
    for row in own:
        services.record_update(user=user, record=row, changes={"status": "stopped", "ended_on": day})
    if not own:
        _after_record(user, visit, "stopped", line, Medication(name=line, status="stopped", ended_on=day))


@transaction.atomic
def visit_after_record(
    *,
    user: User,
    visit: VisitPreparation,
    diagnoses: list[str],
    started: list[str],
    stopped: list[str],
    follow_ups: list[str],
    notes: str = "",
) -> VisitPreparation:
    """Record what was decided: conditions and medications into the records (as entered by the patient), follow-ups.

    Re-sending the form adds only the lines that are new; a line removed later leaves its record in place.
    """
    _check_owner(user, visit)
    visit = VisitPreparation.objects.select_for_update().get(pk=visit.pk)
    diagnoses, started, stopped, follow_ups = _lines(diagnoses), _lines(started), _lines(stopped), _lines(follow_ups)
    _after_record(
        user,
        visit,
        "encounter",
        "visit",
        Encounter(name=visit.clinician, reason=visit.reason[:300], encounter_class="AMB"),
    )
    for line in diagnoses:
        _after_record(user, visit, "condition", line, Condition(name=line[:300], clinical_status="active"))
    for line in started:
        _after_record(user, visit, "started", line, Medication(name=line[:300], status="active"))
    for line in stopped:
        _stop_medication(user, visit, line[:300])
    done = {entry["text"].lower() for entry in visit.follow_ups or [] if entry.get("done")}
    visit.follow_ups = [{"text": line, "done": line.lower() in done} for line in follow_ups]
    visit.after_visit = {"diagnoses": diagnoses, "started": started, "stopped": stopped, "notes": notes.strip()}
    visit.after_recorded_at = timezone.now()
    return _save(visit)


@transaction.atomic
def follow_up_set_done(*, user: User, visit: VisitPreparation, index: int, done: bool) -> VisitPreparation:
    """Tick a follow-up done (or not); an index out of range changes nothing."""
    _check_owner(user, visit)
    visit = VisitPreparation.objects.select_for_update().get(pk=visit.pk)
    follow_ups = list(visit.follow_ups or [])
    if 0 <= index < len(follow_ups):
        follow_ups[index] = {**follow_ups[index], "done": done}
        visit.follow_ups = follow_ups
        _save(visit)
    return visit
