"""Withings sign-in and sync (the OAuth machinery is integrations.oauth).

What is Withings' own: its token requests (`action=requesttoken`, userid), a signed revocation, and a
sync of three lists, each with its own cursor in `Connection.cursor`:
- measures (`getmeas`), incremental by `lastupdate` (the answer's `updatetime`);
- activity (`getactivity`), incremental by `lastupdate` (the newest `modified` seen): today's totals so far
  come back each time they grow and replace the stored day (the provider replaces samples);
- sleep: night summaries (`getsummary`) changed since the newest `modified` seen (the first sync reaches
  back SLEEP_HISTORY), then each such night's stages (`sleep get`, which serves at most 24 hours a call).
"""

import datetime
import logging

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations.models import Connection
from integrations.oauth import SYNC_ATTEMPTS, RegisteredClientSource, SyncProgress

from . import mapping
from .client import CLIENT
from .provider import ATTENTION_REASONS, PROVIDER

logger = logging.getLogger(__name__)

# A server that keeps answering `more` must not keep a worker forever.
MAX_PAGES = 500
SCOPES = "user.metrics,user.activity"
# How far back the first sync asks for nights (each night is one more call for its stages).
SLEEP_HISTORY = datetime.timedelta(days=90)


class WithingsSource(RegisteredClientSource):
    provider = PROVIDER
    client = CLIENT
    scopes = SCOPES
    account_key = "userid"
    denied_message = _("You did not allow HealthSpace to read your Withings data: nothing was connected.")
    failed_message = _("Withings did not complete the sign-in: nothing was connected.")
    not_configured_message = ATTENTION_REASONS["not_configured"]

    def revoke(self, credentials: dict) -> bool:
        if not credentials.get("userid"):
            return False
        self.client.token_revoke(userid=credentials["userid"])
        return True

    def _pages(self, connection: Connection, path: str, action: str, **params):
        """Every page of a Withings list, following `more`/`offset`."""
        offset = None
        for _page in range(MAX_PAGES):
            body = self.client.page(path, action, access_token=self.access_token(connection), offset=offset, **params)
            yield body
            if not body.get("more"):
                return
            try:
                next_offset = int(body.get("offset"))
            except (TypeError, ValueError):
                return
            if offset is not None and next_offset <= offset:
                return  # a server going round in circles
            offset = next_offset

    def fetch(self, *, connection: Connection, progress: SyncProgress) -> dict:
        cursor = dict(connection.cursor or {})
        stats = mapping.MeasureStats()
        for body in self._pages(
            connection,
            "/measure",
            "getmeas",
            meastypes=mapping.REQUESTED_TYPES,
            category=1,
            lastupdate=cursor.get("lastupdate"),
        ):
            if isinstance(body.get("updatetime"), int):
                cursor["lastupdate"] = max(body["updatetime"], cursor.get("lastupdate") or 0)
            before = stats.rejected
            progress.write(
                mapping.measure_samples(body.get("measuregrps") or [], stats), rejected=stats.rejected - before
            )
        if stats.skipped:
            logger.info("withings sync run %s skipped %s measures of unkept types", progress.run.pk, stats.skipped)

        for body in self._pages(connection, "/v2/measure", "getactivity", lastupdate=cursor.get("activity", 0)):
            activities = [item for item in body.get("activities") or [] if isinstance(item, dict)]
            before = stats.rejected
            progress.write(mapping.activity_samples(activities, stats), rejected=stats.rejected - before)
            cursor["activity"] = max([cursor.get("activity", 0), *(_modified(item) for item in activities)])

        now = timezone.now()
        if "sleep" in cursor:
            window = {"lastupdate": cursor["sleep"]}
        else:
            window = {"startdateymd": (now - SLEEP_HISTORY).date().isoformat(), "enddateymd": now.date().isoformat()}
        # Without any night yet, the next sync asks for nights changed since the first one's window began.
        newest = cursor.get("sleep") or int((now - SLEEP_HISTORY).timestamp())
        for body in self._pages(connection, "/v2/sleep", "getsummary", **window):
            nights = [item for item in body.get("series") or [] if isinstance(item, dict)]
            for night in nights:
                self._night(connection, progress, night, stats)
            newest = max([newest, *(_modified(item) for item in nights)])
        cursor["sleep"] = newest
        return cursor

    def _night(self, connection: Connection, progress: SyncProgress, night: dict, stats: mapping.MeasureStats) -> None:
        """One night's in-bed period and its stages (segments of `sleep get` within it)."""
        before = stats.rejected
        samples = mapping.in_bed_sample(night, stats)
        if samples:
            segments = self.client.page(
                "/v2/sleep",
                "get",
                access_token=self.access_token(connection),
                startdate=night["startdate"],
                enddate=night["enddate"],
            ).get("series")
            samples += mapping.sleep_samples([item for item in segments or [] if isinstance(item, dict)], stats)
        progress.write(samples, rejected=stats.rejected - before)


def _modified(item: dict) -> int:
    value = item.get("modified")
    return value if isinstance(value, int) else 0


SOURCE = WithingsSource()
# The services, by their names.
authorization_start = SOURCE.authorization_start
authorization_complete = SOURCE.authorization_complete
token_refresh = SOURCE.token_refresh
sync_queue = SOURCE.sync_queue
connection_revoke = SOURCE.connection_revoke
__all__ = ["SOURCE", "SYNC_ATTEMPTS"]
