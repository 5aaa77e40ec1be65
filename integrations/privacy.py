"""Integrations' part of the privacy centre (accounts/privacy.py): registered by IntegrationsConfig.ready().

Connections and their runs as a category; each source's consent (`source:<provider>`) as a purpose the
patient can withdraw from the Consents page. Withdrawing it disconnects the source at once (tokens revoked
at the provider where it can, no more syncs); erasure does the same for every source before deleting.
"""

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.privacy import Category, ConsentPurposeFamily, category_register, consent_purpose_register

SOURCE_PREFIX = "source:"


def _slug(purpose: str) -> str:
    return purpose.removeprefix(SOURCE_PREFIX)


def _known(purpose: str) -> bool:
    from .providers.base import providers

    return _slug(purpose) in providers()


def _label(purpose: str) -> str:
    from .providers.base import provider_get

    return _("Importing from %(source)s") % {"source": provider_get(_slug(purpose)).name}


def _live_connections(user, provider: str | None = None):
    from .models import Connection

    connections = Connection.objects.filter(owner=user).filter(
        ~Q(status=Connection.Status.DISCONNECTED) | Q(credentials__isnull=False) | ~Q(webhook_key="")
    )
    return connections.filter(provider=provider) if provider else connections


def _disconnect_all(user, provider: str | None = None) -> int:
    from .services import connection_disconnect

    disconnected = 0
    for connection in _live_connections(user, provider):
        connection_disconnect(user=user, connection=connection)
        disconnected += 1
    return disconnected


def source_consent_withdrawn(user, purpose: str) -> None:
    """A source's consent was withdrawn: disconnect it now (revoke its tokens, stop its syncs); idempotent."""
    _disconnect_all(user, _slug(purpose))


def _before_erasure(user) -> dict:
    return {"connections_disconnected": _disconnect_all(user)}


def _sources(user) -> list[str]:
    from .models import Connection
    from .providers.base import providers

    installed = providers()
    slugs = Connection.objects.filter(owner=user).values_list("provider", flat=True).distinct()
    return sorted(str(installed[slug].name) if slug in installed else slug for slug in slugs)


def _uploads(user) -> list[str]:
    from .models import SyncRun

    return list(SyncRun.objects.filter(owner=user).exclude(upload_name="").values_list("upload_name", flat=True))


def register() -> None:
    category_register(
        Category(
            key="connections",
            label=gettext_lazy("Connected sources and imports"),
            description=gettext_lazy("The sources you connected, and each import or sync with its counts."),
            models=("integrations.Connection", "integrations.SyncRun"),
            uses=("sync",),
            order=70,
            sources=_sources,
            export_excludes=("integrations.Connection.cursor",),
            files=_uploads,
            before_erasure=_before_erasure,
        )
    )
    consent_purpose_register(
        ConsentPurposeFamily(prefix=SOURCE_PREFIX, label=_label, known=_known, on_withdraw=source_consent_withdrawn)
    )
