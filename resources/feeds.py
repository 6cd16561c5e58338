"""Feed sources behind one resource: archived snapshots and live HTTP."""


from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from bitbybit_base import settings
from bitbybit_base.settings import FeedConfig
from resources.archive import has_day, read_archive_day
from resources.fetch_types import FetchRequest, FetchResult
from resources.http_fetch import HttpFeedFetcher


class NoRawDataError(RuntimeError):
    """The day can be read from neither the archive nor the live feeds."""


class FeedSource(dg.ConfigurableResource):
    """Where a day's feed documents come from.

    ``mode``: ``archive`` (snapshots only), ``http`` (live only) or ``auto`` (archive when it holds
    the day, live HTTP otherwise); default from ``BITBYBIT_FEED_SOURCE``. Live fetching is only
    allowed for recent days (``live_days`` back from today, UTC): a feed fetched now says nothing
    about an older day, so such a day fails with a clear message instead of producing empty tables.
    """

    mode: str | None = None
    archive_dir: str | None = None
    live_days: int = 1
    allow_private_addresses: bool | None = None

    def _mode(self) -> str:
        mode = (self.mode or settings.feed_source_mode()).lower()
        if mode not in ("archive", "http", "auto"):
            raise ValueError(f"FeedSource.mode {mode!r} is not archive, http or auto")
        return mode

    def _archive(self) -> Path | None:
        if self.archive_dir:
            return Path(self.archive_dir).expanduser().resolve()
        return settings.archive_dir()

    def _live_allowed(self, day: date) -> bool:
        today = datetime.now(UTC).date()
        return today - timedelta(days=self.live_days) <= day <= today

    def describe(self, day: date) -> str:
        """``archive`` or ``http``: where ``day`` would be read from (raises NoRawDataError)."""
        mode, archive = self._mode(), self._archive()
        if mode in ("archive", "auto") and has_day(archive, day):
            return "archive"
        if mode in ("http", "auto") and self._live_allowed(day):
            return "http"
        where = f"archive {archive}" if archive else "no archive configured"
        raise NoRawDataError(
            f"no raw feed data for {day.isoformat()}: not in the {where} and too old to fetch live "
            f"(live fetching covers the last {self.live_days} day(s); mode={mode})"
        )

    def available(self, day: date) -> bool:
        try:
            self.describe(day)
        except NoRawDataError:
            return False
        return True

    def fetch_day(
        self, day: date, feeds: list[FeedConfig], validators: dict[str, tuple[str | None, str | None]] | None = None
    ) -> list[FetchResult]:
        """One FetchResult per feed for ``day``; validators (ETag, Last-Modified) per feed for HTTP."""
        where = self.describe(day)
        if where == "archive":
            return read_archive_day(self._archive(), day, [(f.name, f.url) for f in feeds])
        fetch_settings = settings.runtime_settings().ingest.fetch
        if self.allow_private_addresses is not None:
            fetch_settings = fetch_settings.model_copy(update={"allow_private_addresses": self.allow_private_addresses})
        validators = validators or {}
        requests = [FetchRequest(f.name, f.url, *validators.get(f.name, (None, None))) for f in feeds]
        return HttpFeedFetcher(fetch_settings).fetch_many(requests)
