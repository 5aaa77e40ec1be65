"""Oura (API v2) sign-in and sync (the OAuth machinery is integrations.oauth).

What is Oura's own: its token requests, revocation by access token, and a sync of
- heart rate, incremental by time (`since`: the newest reading kept);
- daily activity, sleep periods and daily SpO2, incremental by date (`day`: the last sync's date). Each
  sync asks again for the RECENT_DAYS before it, because a day's totals keep growing until it ends and
  a night is scored after waking; the store replaces a day's total rather than adding to it.
A collection the patient did not share (403: a scope left unticked at Oura) is skipped, not fatal.
"""

import datetime
import logging

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations.exceptions import ProviderError
from integrations.models import Connection
from integrations.oauth import SYNC_ATTEMPTS, RegisteredClientSource, SyncProgress

from . import mapping
from .client import CLIENT
from .provider import ATTENTION_REASONS, PROVIDER

logger = logging.getLogger(__name__)

# A server that keeps sending `next_token` must not keep a worker forever.
MAX_PAGES = 500
SCOPES = "heartrate personal daily spo2Daily"
# How far back the first sync reaches.
HISTORY = datetime.timedelta(days=30)
# Days asked for again at each sync: today's totals grow, last night is scored after waking.
RECENT_DAYS = 2
DAILY_COLLECTIONS = {
    "daily_activity": mapping.daily_activity_samples,
    "sleep": mapping.sleep_samples,
    "daily_spo2": mapping.spo2_samples,
}


class OuraSource(RegisteredClientSource):
    provider = PROVIDER
    client = CLIENT
    scopes = SCOPES
    denied_message = _("You did not allow HealthSpace to read your Oura data: nothing was connected.")
    failed_message = _("Oura did not complete the sign-in: nothing was connected.")
    not_configured_message = ATTENTION_REASONS["not_configured"]

    def revoke(self, credentials: dict) -> bool:
        self.client.token_revoke(access_token=credentials["access_token"])
        return True

    def _documents(self, connection: Connection, collection: str, params: dict):
        """Every page's documents of one collection, following `next_token`."""
        next_token = None
        for _page in range(MAX_PAGES):
            body = self.client.collection_page(
                collection, access_token=self.access_token(connection), params=params, next_token=next_token
            )
            yield [item for item in body.get("data") or [] if isinstance(item, dict)]
            next_token = body.get("next_token")
            if not isinstance(next_token, str) or not next_token:
                return

    def fetch(self, *, connection: Connection, progress: SyncProgress) -> dict:
        cursor = dict(connection.cursor or {})
        now = timezone.now().replace(microsecond=0)
        stats = mapping.Stats()

        since = cursor.get("since") or (now - HISTORY).isoformat()
        for documents in self._documents(
            connection, "heartrate", {"start_datetime": since, "end_datetime": now.isoformat()}
        ):
            before = stats.rejected
            samples = mapping.heartrate_samples(documents, stats)
            progress.write(samples, rejected=stats.rejected - before)
            if samples:
                latest = max(sample.start for sample in samples)
                if latest > datetime.datetime.fromisoformat(since):
                    since = latest.isoformat()
        cursor["since"] = since

        today = now.date()
        first = (
            datetime.date.fromisoformat(cursor["day"]) - datetime.timedelta(days=RECENT_DAYS)
            if "day" in cursor
            else (now - HISTORY).date()
        )
        # end_date is asked one day on, so today is in whether Oura reads the range as inclusive or not.
        params = {"start_date": first.isoformat(), "end_date": (today + datetime.timedelta(days=1)).isoformat()}
        for collection, samples_of in DAILY_COLLECTIONS.items():
            try:
                for documents in self._documents(connection, collection, params):
                    before = stats.rejected
                    progress.write(samples_of(documents, stats), rejected=stats.rejected - before)
            except ProviderError as error:
                if error.code != "access_limited":
                    raise
                logger.info("oura sync run %s: %s not shared, skipped", progress.run.pk, collection)
        cursor["day"] = today.isoformat()
        return cursor


SOURCE = OuraSource()
# The services, by their names.
authorization_start = SOURCE.authorization_start
authorization_complete = SOURCE.authorization_complete
token_refresh = SOURCE.token_refresh
sync_queue = SOURCE.sync_queue
connection_revoke = SOURCE.connection_revoke
__all__ = ["SOURCE", "SYNC_ATTEMPTS"]
