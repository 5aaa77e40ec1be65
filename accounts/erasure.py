"""Erasure of an account and everything in it (GDPR Art. 17).

Asking (after re-authentication and a typed confirmation) disables the account at once and ends its
sessions; a job then deletes, in this order, so that a crash at any point is redone by running it again:
1. tokens at the providers, revoked through each app's hook (integrations' disconnect path, best effort);
2. files in storage (documents, uploads waiting for import, exports), named by each app's hook, while
   the rows that name them still exist;
3. cached items of the person, and their sessions;
4. every row of every model with a foreign key to the user, registered or not;
5. the confirmation email (no medical content), sent while the address is still known;
6. in one transaction: the ledgers are detached, the account is deleted, the receipt is detached.

The ledgers (ConsentEvent, AuditEvent) outlive the account, as accountability requires (GDPR Art. 5(2)
and 30: when consents were given and withdrawn, who accessed the data and when). After erasure their
rows no longer point at the person: `user`, `subject`, and the patient as `actor` are emptied, and so
is anything that could name them (a label, an object's id, a written reason). What stays is the kind of
event, who acted if it was staff, when, and how it ended. The receipt (AccountErasure) keeps when the
erasure was asked and done and how many rows of each kind went, without saying whose. So after erasure
no table holds a row for the patient, and the service can still show what happened.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import ProtectedError
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import privacy
from .models import AccountErasure, AuditEvent, ConsentEvent, User
from .services import audit_record

logger = logging.getLogger(__name__)

# Rows that outlive the account, detached instead of deleted.
KEPT_MODELS = (AuditEvent, ConsentEvent, AccountErasure)
# Runs of the job before it stops waiting for the confirmation email and finishes without it.
ERASURE_ATTEMPTS = 5


class ErasureError(Exception):
    """An erasure that cannot be asked for (plain words for the person)."""


class ConfirmationNotSent(Exception):
    """The confirmation email failed: the job is retried before the address is deleted."""


def sessions_end(*, user: User) -> int:
    """End every session of the user that allauth tracks (each device signed out); returns how many."""
    from allauth.usersessions.models import UserSession

    ended = 0
    for session in UserSession.objects.filter(user_id=user.pk).iterator():
        session.end()
        ended += 1
    return ended


def erasure_request(*, user: User) -> AccountErasure:
    """Disable the account now, end its sessions and queue the job that erases it (asking twice queues once)."""
    if user.is_staff or user.is_superuser:
        raise ErasureError(_("Staff accounts are closed by an administrator."))
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        erasure = AccountErasure.objects.filter(user=locked).exclude(status=AccountErasure.Status.DONE).first()
        if erasure is None:
            erasure = AccountErasure.objects.create(user=locked)
            audit_record(
                actor_kind=AuditEvent.ActorKind.PATIENT,
                actor=locked,
                subject=locked,
                action="privacy.erasure_requested",
                object_type="account",
            )
        if locked.is_active:
            locked.is_active = False
            locked.save(update_fields=["is_active"])
        transaction.on_commit(lambda: _enqueue(erasure.pk))
    sessions_end(user=user)
    return erasure


def _enqueue(erasure_id: int) -> None:
    from .tasks import account_erase_task

    try:
        account_erase_task.delay(erasure_id)
    except Exception:  # noqa: BLE001 - any broker failure: beat sends the erasure again
        logger.warning("broker unavailable: account erasure %s waits to be sent again", erasure_id)


def _add(removed: dict, counts: dict) -> None:
    for name, value in counts.items():
        if value:
            removed[name] = removed.get(name, 0) + value


def _revoke(user: User, removed: dict) -> None:
    for category in privacy.categories():
        if category.before_erasure is not None:
            _add(removed, category.before_erasure(user) or {})


def _files_delete(user: User, removed: dict) -> None:
    names = privacy.files_of(user)
    for name in names:
        default_storage.delete(name)
    _add(removed, {"files": len(names)})


def _cache_forget(user: User) -> None:
    keys = privacy.cache_keys_of(user)
    if keys:
        cache.delete_many(keys)


def _admin_log_forget(model, rows) -> int:
    """Delete the admin log's entries about these rows (their text names the object: an email for a user)."""
    if model not in admin.site._registry:
        return 0
    ids = [str(pk) for pk in rows.values_list("pk", flat=True)]
    if not ids:
        return 0
    content_type = ContentType.objects.get_for_model(model)
    deleted, _details = LogEntry.objects.filter(content_type=content_type, object_id__in=ids).delete()
    return deleted


def _rows_delete(user: User, removed: dict) -> None:
    pending = [model for model in privacy.personal_data_models()[1:] if model not in KEPT_MODELS]
    # A protected relation between two of them is resolved by deleting in a few passes.
    for _pass in range(len(pending) + 1):
        protected = []
        for model in pending:
            rows = privacy.rows_of(model, user)
            try:
                with transaction.atomic():
                    _add(removed, {"admin_log": _admin_log_forget(model, rows)})
                    _total, by_model = rows.delete()
            except ProtectedError:
                protected.append(model)
                continue
            _add(removed, by_model)
        if not protected:
            return
        pending = protected
    raise ProtectedError("Rows of the account are protected by each other.", set())


def _confirmation_send(erasure: AccountErasure, user: User) -> None:
    profile = getattr(user, "profile", None)
    language = profile.preferred_language if profile is not None else settings.LANGUAGE_CODE
    with translation.override(language):
        subject = render_to_string("accounts/privacy/email/erasure_subject.txt").strip()
        body = render_to_string("accounts/privacy/email/erasure_body.txt", {"requested_at": erasure.requested_at})
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])


def account_erase(*, erasure: AccountErasure) -> AccountErasure:
    """Erase the account the receipt names (the job's body); a re-run after a crash finishes what is left."""
    user = User.objects.filter(pk=erasure.user_id).select_related("profile").first() if erasure.user_id else None
    if erasure.status == AccountErasure.Status.DONE or user is None:
        return erasure
    AccountErasure.objects.filter(pk=erasure.pk).update(
        status=AccountErasure.Status.RUNNING, started_at=timezone.now(), attempts=erasure.attempts + 1
    )
    erasure.refresh_from_db()
    removed = dict(erasure.removed)
    if user.is_active:
        User.objects.filter(pk=user.pk).update(is_active=False)  # re-enabled meanwhile: the patient asked
    _revoke(user, removed)
    _files_delete(user, removed)
    _cache_forget(user)
    _add(removed, {"sessions": sessions_end(user=user)})
    _rows_delete(user, removed)
    AccountErasure.objects.filter(pk=erasure.pk).update(removed=removed)
    if erasure.email_sent_at is None:
        try:
            _confirmation_send(erasure, user)
        except Exception as error:  # noqa: BLE001 - any mail failure: retried, then given up
            logger.warning("account erasure %s: confirmation email failed (%s)", erasure.pk, type(error).__name__)
            if erasure.attempts < ERASURE_ATTEMPTS:
                raise ConfirmationNotSent from None
        else:
            AccountErasure.objects.filter(pk=erasure.pk).update(email_sent_at=timezone.now())
    with transaction.atomic():
        receipt = AccountErasure.objects.select_for_update().get(pk=erasure.pk)
        if receipt.status == AccountErasure.Status.DONE:
            return receipt
        AuditEvent.objects.filter(subject=user).detach(subject=None, actor_label="", object_id="", reason="")
        AuditEvent.objects.filter(actor=user).detach(actor=None, actor_label="", object_id="", reason="")
        ConsentEvent.objects.filter(user=user).detach(user=None)
        user_type = ContentType.objects.get_for_model(User)
        _deleted, _details = LogEntry.objects.filter(content_type=user_type, object_id=str(user.pk)).delete()
        AccountErasure.objects.filter(user=user).exclude(pk=receipt.pk).update(
            user=None, status=AccountErasure.Status.DONE, completed_at=timezone.now()
        )
        _total, by_model = User.objects.filter(pk=user.pk).delete()
        _add(removed, by_model)
        receipt.user = None
        receipt.status = AccountErasure.Status.DONE
        receipt.completed_at = timezone.now()
        receipt.removed = removed
        receipt.save()
    logger.info("account erasure %s done", receipt.pk)
    return receipt


def erasures_requeue(*, older_than) -> int:
    """Send again erasures not done after a while (lost message, dead worker): beat; the job is re-runnable."""
    due = AccountErasure.objects.exclude(status=AccountErasure.Status.DONE).filter(
        requested_at__lt=timezone.now() - older_than
    )
    sent = 0
    for erasure_id in due.order_by("pk").values_list("pk", flat=True):
        _enqueue(erasure_id)
        sent += 1
    return sent
