"""``raw_feeds`` → ``feed_entries`` (silver): parse, normalise, keep entries new on the day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from bitbybit_assets.ingest.parsing import (
    FeedDocumentError,
    discard_parsed,
    entry_id_of,
    normalise_entry,
    take_parsed,
)
from bitbybit_assets.schemas import FEED_ENTRIES, conform
from bitbybit_base.settings import FeedConfig, IngestLimits


def new_entries(
    day: date,
    raw_day: pl.DataFrame,
    seen: dict[str, set[str]],
    feeds: dict[str, FeedConfig],
    limits: IngestLimits | None = None,
    backlog: dict[str, int] | None = None,
) -> pl.DataFrame:
    """Entries of ``day``'s snapshots whose id was not seen in the same feed before.

    ``raw_day`` holds that day's raw_feeds rows; only ``ok`` documents are parsed (or taken as the
    bronze stage of this process parsed them), except those whose ``entry_ids`` (recorded by
    bronze) were all seen: they cannot add a row, so they are not parsed. An id that occurs twice in
    one document counts once (first position wins).

    Once ``seen`` holds any feed (the pipeline is watching), a feed absent from it (added to the
    configuration, or back after a gap longer than the history) shows its whole back catalogue at
    once; of such a first snapshot only entries published since the start of the day before (or
    undated ones) are new, older ones belong to days nobody watched. ``backlog`` (when given)
    receives the number skipped per feed.
    """
    since = datetime.combine(day - timedelta(days=1), time.min, tzinfo=UTC)
    rows: list[dict] = []
    for raw in raw_day.filter(pl.col("fetch_status") == "ok").sort("feed_name").iter_rows(named=True):
        name = raw["feed_name"]
        ids = raw.get("entry_ids")
        if ids is not None and set(ids) <= seen.get(name, set()):
            # bronze recorded every entry id of the document (entry_id_of, same limits) and all were
            # seen before: it has nothing new, so it is not parsed again (most snapshots of a day)
            discard_parsed(raw["content"], limits, raw.get("sha256"))
            continue
        try:
            doc = take_parsed(raw["content"], limits, raw.get("sha256"))
        except FeedDocumentError:
            continue  # raw_feed_rows already marked such a document as an error
        already = seen.get(name, set())
        first_sighting = bool(seen) and name not in seen
        cfg = feeds.get(name)
        emitted: set[str] = set()
        for position, entry in enumerate(doc.entries):
            eid = entry_id_of(entry)
            if not eid or eid in already or eid in emitted:
                continue
            emitted.add(eid)
            row = normalise_entry(
                entry, feed_name=name, feed_language=doc.language, position=position, limits=limits
            )
            if row is None:
                continue
            if first_sighting and row["published_at"] is not None and row["published_at"] < since:
                if backlog is not None:
                    backlog[name] = backlog.get(name, 0) + 1
                continue
            row.update(
                partition_date=day,
                first_seen_date=day,
                feed_category=cfg.category if cfg else None,
                feed_trust=cfg.trust if cfg else 0.5,
            )
            rows.append(row)
    if not rows:
        return pl.DataFrame(schema=FEED_ENTRIES)
    return conform(pl.DataFrame(rows, infer_schema_length=None), FEED_ENTRIES)
