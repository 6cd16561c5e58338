"""Run the ingest stage in memory, straight from a feed archive (no Dagster, no lakehouse).

Used by the evaluation command (evaluation/), benchmarks and tests; the Dagster assets call the same
functions.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from bitbybit_assets.ingest.bronze import raw_feed_rows
from bitbybit_assets.ingest.content_filter import apply_content_filter
from bitbybit_assets.ingest.day_assignment import seen_ids
from bitbybit_assets.ingest.silver import new_entries
from bitbybit_base.settings import (
    ContentFilterSettings,
    FeedConfig,
    IngestLimits,
    read_feeds_file,
    runtime_settings,
)
from resources.archive import has_day, read_archive_day


def raw_feeds_for_day(
    archive_dir: Path, day: date, feeds: list[FeedConfig], limits: IngestLimits | None = None
) -> pl.DataFrame:
    return raw_feed_rows(day, read_archive_day(archive_dir, day, [(f.name, f.url) for f in feeds]), limits)


def filtered_articles_for_days(
    archive_dir: Path,
    days: list[date],
    history_days: int = 30,
    *,
    feeds: list[FeedConfig] | None = None,
    filter_settings: ContentFilterSettings | None = None,
) -> pl.DataFrame:
    """filtered_articles for ``days``, with earlier archive days (up to ``history_days``) as history."""
    feeds = feeds if feeds is not None else read_feeds_file()  # config/feeds.yaml
    loaded = runtime_settings()
    cfg = filter_settings or loaded.content_filter
    limits = loaded.ingest.limits
    by_name = {f.name: f for f in feeds}
    raw_cache: dict[date, pl.DataFrame] = {}

    def raw(d: date) -> pl.DataFrame:
        if d not in raw_cache:
            raw_cache[d] = raw_feeds_for_day(archive_dir, d, feeds, limits)
        return raw_cache[d]

    frames = []
    for day in sorted(days):
        history = [
            raw(day - timedelta(days=i)).select("feed_name", "entry_ids")
            for i in range(1, history_days + 1)
            if has_day(archive_dir, day - timedelta(days=i))
        ]
        seen = seen_ids(pl.concat(history) if history else pl.DataFrame())
        entries = new_entries(day, raw(day), seen, by_name, limits)
        frames.append(apply_content_filter(entries, day, cfg))
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
