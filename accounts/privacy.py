"""The data inventory: every category of a person's data, what it is used for, and the consent behind each use.

Accounts imports no feature app (DESIGN.md). Each app registers its own categories in its
`AppConfig.ready()` (records/privacy.py, chat/privacy.py, integrations/privacy.py; accounts' own are
at the end of this module), and the privacy centre, the export and the erasure iterate the registry.

A category names the models whose rows it covers. Every model with a foreign key to the user must be
covered by one (a test enumerates them), and so must appear in docs/processing-activities.json. A model
added later and not registered yet is still exported and erased, generically, by its user foreign keys:
nothing of a person can be forgotten by the export or survive an erasure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .models import ConsentPurpose

# -- uses, and what each one rests on ------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """One thing HealthSpace does with a category of data, and its legal basis."""

    code: str
    label: Promise
    # The consent purpose behind it ("" when it rests on another basis); "source:*" means each source's own.
    consent: str
    basis: Promise


USES: dict[str, Use] = {
    use.code: use
    for use in (
        Use(
            "storage",
            _("Kept, encrypted, in your health space"),
            ConsentPurpose.HEALTH_DATA,
            _("your explicit consent (GDPR Art. 9(2)(a))"),
        ),
        Use(
            "assistant",
            _("Context for the assistant's answers (an outside assistant only with your consent)"),
            ConsentPurpose.AI_ASSISTANT,
            _("your explicit consent (GDPR Art. 9(2)(a))"),
        ),
        Use(
            "share_links",
            _("Visit summaries you share through a link"),
            "",
            _("your explicit consent, given each time you make a link (GDPR Art. 9(2)(a))"),
        ),
        Use(
            "sync",
            _("Brought in from the sources you connect"),
            "source:*",
            _("your explicit consent for each source (GDPR Art. 9(2)(a))"),
        ),
        Use(
            "account",
            _("Running your account: signing in, security, messages about your account"),
            "",
            _("the contract with you (GDPR Art. 6(1)(b))"),
        ),
        Use(
            "accountability",
            _("Showing who accessed your data and proving your choices"),
            "",
            _("a legal obligation (GDPR Art. 5(2), 6(1)(c) and 30)"),
        ),
    )
}


# -- the registry --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """A category of a person's data as the privacy centre shows it, exports it and erases it.

    Hooks receive the user (and, for `export`, the archive writer of accounts/export.py). Left out, a
    hook does the generic thing: count, export and delete the rows of `models` by their user keys.
    """

    key: str
    label: str | Promise
    # "app_label.ModelName" of every model whose rows belong to this category.
    models: tuple[str, ...]
    uses: tuple[str, ...] = ("storage",)
    description: str | Promise = ""
    order: int = 100
    # Items to show (default: the rows of `models`).
    count: Callable | None = None
    # Where the items came from, in the patient's words.
    sources: Callable | None = None
    # Sub-rows (time series by metric): [{"label", "count", "detail"}].
    breakdown: Callable | None = None
    # Writes the category into the export (default: each model's rows as JSON).
    export: Callable | None = None
    # "app_label.ModelName.field" never written to an export (secrets, keyed hashes).
    export_excludes: tuple[str, ...] = ()
    # Names in default storage of the person's files (deleted by erasure before their rows).
    files: Callable | None = None
    # Work before erasure deletes rows (tokens revoked at a provider): returns counts.
    before_erasure: Callable | None = None
    # Cache keys holding something of the person.
    cache_keys: Callable | None = None


@dataclass(frozen=True)
class ArchivePart:
    """Something the export writes across categories (the record as one FHIR Bundle)."""

    key: str
    label: str | Promise
    write: Callable
    order: int = 100


@dataclass(frozen=True)
class ConsentPurposeFamily:
    """Purposes an app adds beyond the fixed ones (`source:<provider>`): their labels and what withdrawing does."""

    prefix: str
    label: Callable[[str], str]
    # Whether a purpose of this family exists (an installed provider).
    known: Callable[[str], bool]
    # Called after the withdrawal is committed, with (user, purpose).
    on_withdraw: Callable | None = None


@dataclass
class _Registry:
    categories: dict[str, Category] = field(default_factory=dict)
    parts: dict[str, ArchivePart] = field(default_factory=dict)
    purposes: dict[str, ConsentPurposeFamily] = field(default_factory=dict)


_registry = _Registry()


def category_register(category: Category) -> None:
    """Add (or replace, on a second ready()) a category of personal data."""
    _registry.categories[category.key] = category


def archive_part_register(part: ArchivePart) -> None:
    """Add (or replace) something the export writes across categories."""
    _registry.parts[part.key] = part


def consent_purpose_register(family: ConsentPurposeFamily) -> None:
    """Add (or replace) a family of consent purposes an app owns (`source:`)."""
    _registry.purposes[family.prefix] = family


def categories() -> list[Category]:
    """Every registered category, in the order the privacy centre lists them."""
    return sorted(_registry.categories.values(), key=lambda category: (category.order, category.key))


def archive_parts() -> list[ArchivePart]:
    """Every registered archive part, in the order the export writes them."""
    return sorted(_registry.parts.values(), key=lambda part: (part.order, part.key))


def consent_purpose_family(purpose: str) -> ConsentPurposeFamily | None:
    """The registered family a purpose belongs to (`source:withings` -> "source:"), or None."""
    for prefix, family in _registry.purposes.items():
        if purpose.startswith(prefix) and family.known(purpose):
            return family
    return None


# -- which models hold a person's data ------------------------------------------------------------------


def user_keys(model: type[models.Model]) -> list[models.Field]:
    """The model's foreign keys (and one-to-ones) to the user."""
    user_model = get_user_model()
    return [
        field
        for field in model._meta.concrete_fields
        if field.is_relation and (field.many_to_one or field.one_to_one) and field.related_model is user_model
    ]


def personal_data_models() -> list[type[models.Model]]:
    """The user model and every installed model with a foreign key to it, in a stable order."""
    found = [model for model in apps.get_models() if user_keys(model)]
    return [get_user_model(), *sorted(found, key=lambda model: model._meta.label)]


def rows_of(model: type[models.Model], user) -> models.QuerySet:
    """The model's rows that point at the user through any of its user keys."""
    condition = Q()
    for key in user_keys(model):
        condition |= Q(**{key.name: user})
    return model._base_manager.filter(condition)


def covered_labels() -> set[str]:
    """Labels of the models some category covers."""
    return {label for category in categories() for label in category.models}


def uncovered_models() -> list[type[models.Model]]:
    """Models holding a person's data that no category covers (a test keeps this empty)."""
    covered = covered_labels()
    return [model for model in personal_data_models()[1:] if model._meta.label not in covered]


def category_models(category: Category) -> list[type[models.Model]]:
    """The model classes a category names."""
    return [apps.get_model(label) for label in category.models]


# -- the inventory page ------------------------------------------------------------------------------------


def _count(category: Category, user) -> int:
    if category.count is not None:
        return category.count(user)
    return sum(rows_of(model, user).count() for model in category_models(category))


def _consent_state(code: str, granted: dict[str, bool]) -> dict:
    use = USES[code]
    if use.consent == "source:*":
        sources = sorted(purpose for purpose, given in granted.items() if purpose.startswith("source:") and given)
        state = bool(sources)
        labels = [consent_purpose_label(purpose) for purpose in sources]
    elif use.consent:
        state = granted.get(use.consent, False)
        labels = [consent_purpose_label(use.consent)]
    else:
        state, labels = None, []
    return {
        "code": code,
        "label": use.label,
        "basis": use.basis,
        "consent": use.consent,
        "granted": state,
        "consents": labels,
    }


def consent_purpose_label(purpose: str) -> str:
    """A purpose in the patient's words: a fixed one's label, or its family's (`Importing from Withings`)."""
    if purpose in ConsentPurpose.values:
        return str(ConsentPurpose(purpose).label)
    family = consent_purpose_family(purpose)
    return family.label(purpose) if family is not None else purpose


def inventory_for_user(*, user) -> list[dict]:
    """The privacy centre's inventory: each category with its count, sources, uses and their consents.

    A handful of counting queries per category; nothing is decrypted except where a category's own
    hooks need it (sources read from plain columns wherever they can).
    """
    from .selectors import consent_states_for_user

    granted = consent_states_for_user(user=user)
    rows = []
    for category in categories():
        rows.append(
            {
                "key": category.key,
                "label": category.label,
                "description": category.description,
                "count": _count(category, user),
                "sources": category.sources(user) if category.sources else [],
                "breakdown": category.breakdown(user) if category.breakdown else [],
                "uses": [_consent_state(code, granted) for code in category.uses],
            }
        )
    for model in uncovered_models():
        # Registered nowhere yet: still shown, so nothing of the patient is invisible here.
        count = rows_of(model, user).count()
        rows.append(
            {
                "key": model._meta.label_lower,
                "label": capfirst(model._meta.verbose_name_plural),
                "description": "",
                "count": count,
                "sources": [],
                "breakdown": [],
                "uses": [_consent_state("storage", granted)],
            }
        )
    return rows


def files_of(user) -> list[str]:
    """Names in default storage of every file of the person (documents, uploads, exports)."""
    names: list[str] = []
    for category in categories():
        if category.files is not None:
            names.extend(name for name in category.files(user) if name)
    return names


def cache_keys_of(user) -> list[str]:
    """Cache keys that hold something of the person, from every category's hook."""
    keys: list[str] = []
    for category in categories():
        if category.cache_keys is not None:
            keys.extend(category.cache_keys(user))
    return keys


# -- accounts' own categories (registered by AccountsConfig.ready) -------------------------------------


def _profile_export(user, writer) -> None:
    from allauth.account.models import EmailAddress

    from .export import row_dict
    from .models import Profile

    profile = Profile.objects.filter(user=user).first()
    addresses = list(EmailAddress.objects.filter(user=user).order_by("pk"))
    writer.json(
        "profile.json",
        {
            "account": {
                "email": user.email,
                "id": str(user.public_id),
                "date_joined": user.date_joined,
                "last_login": user.last_login,
            },
            "profile": row_dict(profile) if profile is not None else None,
            "email_addresses": [row_dict(address) for address in addresses],
        },
    )
    writer.counted(Profile, 1 if profile is not None else 0)
    writer.counted(EmailAddress, len(addresses))


def _access_log_rows(user):
    from .models import AuditEvent

    for event in AuditEvent.objects.filter(subject=user).order_by("created_at", "id").iterator(chunk_size=500):
        yield {
            "when": event.created_at,
            "who": event.get_actor_kind_display(),
            "actor_kind": event.actor_kind,
            "actor": event.actor_label,
            "what": event.action_label,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "outcome": event.outcome,
            "why": event.reason,
        }


def _access_log_export(user, writer) -> None:
    from .models import AuditEvent

    writer.counted(AuditEvent, writer.json_rows("access_log.json", _access_log_rows(user)))
    for label in ("accounts.BreakGlassGrant", "admin.LogEntry"):
        model = apps.get_model(label)
        writer.model_rows(model, rows_of(model, user), name=f"access_log/{model._meta.model_name}.json")


def _rate_limit_keys(user) -> list[str]:
    """allauth's rate-limit entries keyed by this user or their email address (best effort: they expire anyway)."""
    from allauth.account import app_settings as account_settings
    from allauth.core.internal.ratelimit import get_cache_key, parse_rates
    from django.conf import settings

    keys = []
    emails = {user.email.lower()}
    emails |= {f"{host}:{user.email.lower()}" for host in settings.ALLOWED_HOSTS if host and "*" not in host}
    for action, config in (account_settings.RATE_LIMITS or {}).items():
        for rate in parse_rates(config):
            if rate.per == "user":
                keys.append(get_cache_key(None, app="allauth.account", action=action, rate=rate, user=user))
            elif rate.per == "key":
                keys += [
                    get_cache_key(None, app="allauth.account", action=action, rate=rate, key=key) for key in emails
                ]
    return keys


def _exports_files(user) -> list[str]:
    from .models import DataExport

    return list(DataExport.objects.filter(owner=user).exclude(storage_name="").values_list("storage_name", flat=True))


def register_account_categories() -> None:
    category_register(
        Category(
            key="profile",
            label=_("Profile"),
            description=_("Your email address, display name, country, language and date of birth."),
            models=("accounts.Profile", "account.EmailAddress"),
            uses=("account", "storage"),
            order=10,
            count=lambda user: 1,
            sources=lambda user: [str(_("Entered by you"))],
            export=_profile_export,
        )
    )
    category_register(
        Category(
            key="security",
            label=_("Sign-in and security"),
            description=_("Your two-factor methods and the devices signed in to your account."),
            models=("mfa.Authenticator", "usersessions.UserSession"),
            uses=("account",),
            order=80,
            export_excludes=("mfa.Authenticator.data", "usersessions.UserSession.data"),
            cache_keys=_rate_limit_keys,
        )
    )
    category_register(
        Category(
            key="features",
            label=_("Features you are waiting for"),
            models=("accounts.WaitlistEntry",),
            uses=("account",),
            order=85,
        )
    )
    category_register(
        Category(
            key="consents",
            label=_("Consents"),
            description=_("Every consent you gave or withdrew, with the version of the privacy notice."),
            models=("accounts.ConsentEvent",),
            uses=("accountability",),
            order=90,
        )
    )
    category_register(
        Category(
            key="access_log",
            label=_("Access log"),
            description=_("Who saw or received your data, when and why, and the security events of your account."),
            models=("accounts.AuditEvent", "accounts.BreakGlassGrant", "admin.LogEntry"),
            uses=("accountability",),
            order=95,
            count=lambda user: apps.get_model("accounts.AuditEvent").objects.filter(subject=user).count(),
            export=_access_log_export,
        )
    )
    category_register(
        Category(
            key="privacy_requests",
            label=_("Your copies and requests"),
            description=_("The copies of your data you asked for (kept for a day) and your requests."),
            models=("accounts.DataExport", "accounts.AccountErasure"),
            uses=("accountability",),
            order=99,
            files=_exports_files,
        )
    )
