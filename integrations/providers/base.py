"""The plug-in interface every provider implements, and the registry that finds them.

A provider lives in `integrations/providers/<name>/` with a `provider.py` that defines `PROVIDER`.
Adding one touches no other file: the registry imports every sub-package.
"""

import datetime
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO

from django.utils.functional import Promise


@dataclass(frozen=True)
class Provider:
    """What the Connections page and the worker need to know about a source."""

    slug: str
    name: str | Promise
    description: str | Promise
    # "upload": the patient sends files; "webhook": an app posts to us; "oauth": we fetch from an API.
    kind: str
    # The records.models.Source a provider's clinical records and workouts carry.
    record_source: str
    # For uploads: the file extensions the form accepts (e.g. ".zip,.xml").
    accept: str = ""
    # For uploads and webhooks: `parse(stream, filename, progress) -> (iterator of items, stats or None)`;
    # progress is None or a callable(records_read, bytes_read, total_bytes).
    parse: Callable[[IO[bytes], str, Callable | None], tuple[Iterator, object]] | None = None
    # Optional cheaper check of a whole file before the import writes anything (ParseError if bad);
    # without it, the import reads the file once through `parse` without writing.
    validate: Callable[[IO[bytes], str], None] | None = None
    # For uploads that ask the patient something (a weight unit): a form class built with
    # `(data=None, *, user)`. Its cleaned data, never medical content, is kept on the run and
    # given to `parse` as the keyword `options`; providers without one are called without it.
    upload_form: type | None = None
    # For "oauth" sources: the task that runs one sync run (called with the run's id), and how often.
    sync_task: str = ""
    sync_interval: datetime.timedelta = datetime.timedelta(hours=6)
    # For "oauth" sources: the URL name the Connections page posts to, to start connecting.
    connect_url: str = ""
    # For "oauth" sources: the dotted path of their `integrations.oauth.OAuthSource` (sign-in, sync, the
    # Connections page's choices and whether this HealthSpace is set up for the source).
    oauth_source: str = ""
    # For "oauth" sources that can: revoke the connection's tokens at the provider (best effort).
    revoke: Callable[[object], None] | None = None
    # Sources whose values change after the fact (a day's steps so far, an edited meal): a sample with the
    # same start, duration and source replaces the stored one instead of counting as a second sample.
    replaces_samples: bool = False
    # Plain-language reasons a connection needs the patient, by Connection.attention_code.
    attention_reasons: dict = field(default_factory=dict)
    # The rollout flag (accounts.Flag) that gates connecting this source, by country, group or percentage;
    # "" when it is open to everyone. Patients outside it see a waitlist instead of Connect.
    feature: str = ""

    @property
    def consent_purpose(self) -> str:
        return f"source:{self.slug}"


@cache
def providers() -> dict[str, Provider]:
    """Every installed provider by slug, in the order of their folder names."""
    found = {}
    package = Path(__file__).parent
    for module in sorted(pkgutil.iter_modules([str(package)]), key=lambda module: module.name):
        if not module.ispkg:
            continue
        try:
            plugin = importlib.import_module(f"integrations.providers.{module.name}.provider")
        except ModuleNotFoundError as error:
            if error.name == f"integrations.providers.{module.name}.provider":
                continue  # a parser-only package, not a plug-in yet
            raise
        found[plugin.PROVIDER.slug] = plugin.PROVIDER
    return found


def provider_get(slug: str) -> Provider:
    """The provider for a slug; KeyError when none is installed."""
    return providers()[slug]
