"""A patient with a row in every model that holds personal data, canary strings planted in its text.

`fill_everything` walks `accounts.privacy.personal_data_models()`: a model added later gets a row
from the generic maker (every required field filled, every long text field carrying a canary), so the
export and erasure tests cover it without a change here. Models whose rows need more than that (a file
in storage, samples in the store, a provider that exists, allauth's own models) have a maker below.
"""

from __future__ import annotations

import datetime
import decimal
import io
import itertools
import uuid

from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.usersessions.models import UserSession
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.utils import timezone

from accounts import privacy
from accounts.models import User
from healthspace import crypto
from records.timeseries import Sample, samples_merge

# Fields too short for a canary, and internal keys, get a plain value.
CANARY_MIN_LENGTH = 40
# A source name a spreadsheet would run as a formula.
FORMULA_SOURCE = "=HYPERLINK(evil)"
# Rows an active account cannot have: an erasure is asked only when the account closes.
NO_ROWS_WHILE_ACTIVE = {"accounts.AccountErasure"}


def canary_for(tag: str, model: type[models.Model], field: str) -> str:
    return f"{tag}-{model._meta.model_name}-{field}"


def _plain_value(field: models.Field, tag: str, model) -> object:
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return timezone.now().date()
    if isinstance(field, models.DecimalField):
        return decimal.Decimal("1")
    if isinstance(field, (models.IntegerField, models.FloatField)):
        return 1
    if isinstance(field, models.JSONField) or "JSON" in type(field).__name__:
        return {}
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, (models.CharField, models.TextField)):
        max_length = field.max_length or 10_000
        if field.unique:
            return uuid.uuid4().hex[:max_length]
        if max_length >= CANARY_MIN_LENGTH:
            return canary_for(tag, model, field.name)[:max_length]
        return "x"
    raise NotImplementedError(f"No generic value for {model._meta.label}.{field.name}")


def make_row(model: type[models.Model], owner: User, tag: str, made: dict) -> models.Model:
    """A row of any model for the owner: required fields filled, long text fields carrying a canary."""
    values = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        if field.is_relation:
            if field.related_model is User:
                values[field.name] = owner
            elif not field.null:
                related = made.get(field.related_model._meta.label) or make_row(field.related_model, owner, tag, made)
                values[field.name] = related
            continue
        # JSON fields have shapes of their own: left to their default (or {}), never given a canary.
        is_json = isinstance(field, models.JSONField) or "JSON" in type(field).__name__
        is_text = isinstance(field, (models.CharField, models.TextField)) and not is_json
        long_text = is_text and not field.choices and (field.max_length or 10_000) >= CANARY_MIN_LENGTH
        if field.has_default() and not long_text:
            continue
        if (field.null or field.blank) and not long_text:
            continue
        if field.name.endswith("_key") and not field.unique:
            continue  # keyed hashes stay empty, as for a manual record
        values[field.name] = _plain_value(field, tag, model)
    row = model._base_manager.create(**values)
    made.setdefault(model._meta.label, row)
    return row


# -- makers for rows that need more than their fields ------------------------------------------------


PDF = b"%PDF-1.4\n% canary document\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _document(owner, tag, made):
    from records import services

    upload = SimpleUploadedFile("scan=1.pdf", PDF + tag.encode(), content_type="application/pdf")
    return services.document_upload(user=owner, uploaded_file=upload, title=f"{tag}-document-title")


def _samples(owner, tag, made):
    from records.models import SampleDay

    start = datetime.datetime(2025, 1, 6, 8, tzinfo=datetime.UTC)
    samples = [
        Sample(
            metric="steps",
            start=start + datetime.timedelta(days=day, hours=hour),
            end=start + datetime.timedelta(days=day, hours=hour, minutes=30),
            value=100 * (day + 1) + hour,
            unit="count",
            source=FORMULA_SOURCE if hour == 0 else f"apple_health:{tag}-watch",
        )
        for day, hour in itertools.product(range(3), range(4))
    ]
    samples_merge(owner=owner, samples=samples)
    return SampleDay.objects.filter(owner=owner).first()


def _connection(owner, tag, made):
    from integrations.models import Connection
    from integrations.providers.base import provider_get
    from integrations.services import connection_connect

    connection = Connection.objects.filter(owner=owner).first()
    return connection or connection_connect(user=owner, provider=provider_get("myfitnesspal"))


def _sync_run(owner, tag, made):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from integrations.models import SyncRun

    connection = made.get("integrations.Connection") or _connection(owner, tag, made)
    encrypted = io.BytesIO()
    crypto.encrypt_stream(io.BytesIO(f"Date,Calories\n2025-01-06,{tag}\n".encode()), encrypted)
    name = default_storage.save(f"uploads/{uuid.uuid4().hex}", ContentFile(encrypted.getvalue()))
    return SyncRun.objects.create(
        owner=owner,
        connection=connection,
        kind=SyncRun.Kind.IMPORT,
        outcome=SyncRun.Outcome.FAILED,
        upload_name=name,
        upload_size=10,
        profile_hint={"date_of_birth": "1970-01-01"},
    )


def _authenticator(owner, tag, made):
    return TOTP.activate(owner, generate_totp_secret()).instance


def _user_session(owner, tag, made):
    return UserSession.objects.create(user=owner, ip="192.0.2.7", session_key=uuid.uuid4().hex, user_agent="Test")


def _email_address(owner, tag, made):
    return EmailAddress.objects.filter(user=owner).first() or EmailAddress.objects.create(
        user=owner, email=owner.email, verified=True, primary=True
    )


def _log_entry(owner, tag, made):
    # The patient as the actor of an admin action: only staff have these, but the model holds a user key.
    return LogEntry.objects.create(
        user=owner,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(owner.pk),
        object_repr="account",
        action_flag=CHANGE,
        change_message="[]",
    )


def _profile(owner, tag, made):
    from accounts.services import profile_update

    return profile_update(user=owner, date_of_birth=datetime.date(1971, 4, 9))


def _break_glass(owner, tag, made):
    from accounts.models import BreakGlassGrant

    staff = User.objects.create_user(email=f"bg-{uuid.uuid4().hex[:8]}@healthspace.example", is_staff=True)
    return BreakGlassGrant.objects.create(
        staff=staff, patient=owner, reason="Support ticket", expires_at=timezone.now() + datetime.timedelta(hours=1)
    )


def _memory(owner, tag, made):
    from chat.models import MemoryFact

    return MemoryFact.objects.create(owner=owner, text=f"{tag}-memoryfact-text")


MAKERS = {
    "records.Document": _document,
    "records.SampleDay": _samples,
    "integrations.Connection": _connection,
    "integrations.SyncRun": _sync_run,
    "mfa.Authenticator": _authenticator,
    "usersessions.UserSession": _user_session,
    "account.EmailAddress": _email_address,
    "admin.LogEntry": _log_entry,
    "accounts.Profile": _profile,
    "accounts.BreakGlassGrant": _break_glass,
    "chat.MemoryFact": _memory,
    # Made by the account's own life: registration writes consents and audit events.
    "accounts.ConsentEvent": lambda owner, tag, made: None,
    "accounts.AuditEvent": lambda owner, tag, made: None,
    # Made by the export under test itself.
    "accounts.DataExport": lambda owner, tag, made: None,
    "accounts.AccountErasure": lambda owner, tag, made: None,
}


def reauthenticated(client, user):
    """The client signed in as the user, who has just typed their password again (allauth's reauthentication)."""
    from django.urls import reverse

    from accounts.tests.factories import PASSWORD

    client.force_login(user)
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def fill_everything(owner: User, *, tag: str) -> dict[str, models.Model]:
    """One row (at least) of every model holding personal data, for the owner; returns them by label."""
    made: dict[str, models.Model] = {}
    for model in privacy.personal_data_models()[1:]:
        label = model._meta.label
        if label in made:
            continue
        maker = MAKERS.get(label)
        row = maker(owner, tag, made) if maker else make_row(model, owner, tag, made)
        if row is not None:
            made[label] = row
    return made


def fill_links(owner: User, *, tag: str) -> list[str]:
    """A row in every many-to-many table that links the user to something (groups, permissions, feature flags)."""
    from django.apps import apps

    linked = []
    for through in apps.get_models(include_auto_created=True):
        if not through._meta.auto_created:
            continue
        keys = [field for field in through._meta.concrete_fields if field.is_relation]
        mine = [field for field in keys if field.related_model is User]
        others = [field for field in keys if field.related_model is not User]
        if len(mine) != 1 or len(others) != 1:
            continue
        target = others[0].related_model
        row = target._default_manager.first() or make_row(target, owner, tag, {})
        through._base_manager.create(**{mine[0].name: owner, others[0].name: row})
        linked.append(through._meta.label)
    return linked


def rows_for(owner_id: int) -> dict[str, int]:
    """Rows that still point at a user id, in every table with a key to the user (auto-created ones too)."""
    from django.apps import apps

    found = {}
    user_model = User
    for model in apps.get_models(include_auto_created=True):
        keys = [
            field for field in model._meta.concrete_fields if field.is_relation and field.related_model is user_model
        ]
        if model is user_model:
            count = user_model._base_manager.filter(pk=owner_id).count()
        elif keys:
            condition = models.Q()
            for key in keys:
                condition |= models.Q(**{key.attname: owner_id})
            count = model._base_manager.filter(condition).count()
        else:
            continue
        if count:
            found[model._meta.label] = count
    return found
