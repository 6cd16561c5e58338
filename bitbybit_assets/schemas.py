"""Column contracts of the lakehouse tables (polars schemas).

Every table is a Delta table partitioned by ``partition_date`` (``pl.Date``). Stages add their own
schema here; tests check that each asset's output matches its contract.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

RAW_FEEDS = {
    "partition_date": pl.Date,
    "feed_name": pl.String,
    "feed_url": pl.String,
    "source": pl.String,  # archive | http
    "fetch_status": pl.String,  # ok | not_modified | missing | error
    "http_status": pl.Int32,
    "etag": pl.String,
    "last_modified": pl.String,
    "content": pl.Binary,  # the raw bytes, kept so any day can be re-parsed
    "sha256": pl.String,
    "size_bytes": pl.Int64,
    "error": pl.String,
    "fetched_at": UTC_TS,
    "elapsed_ms": pl.Int64,
    "entry_count": pl.Int32,
    "entry_ids": pl.List(pl.String),  # ids of every entry in the document (for day assignment)
}

# One row per entry first seen in that feed on partition_date (the day-assignment rule).
FEED_ENTRIES = {
    "partition_date": pl.Date,
    "entry_key": pl.String,  # sha256(feed_name + "\x1f" + entry_id)[:32]: unique row id
    "article_id": pl.String,  # sha256(canonical_url)[:32]: the same article across feeds
    "feed_name": pl.String,
    "feed_category": pl.String,
    "feed_trust": pl.Float64,
    "entry_id": pl.String,  # guid / atom id, else link (as the feed gives it)
    "url": pl.String,
    "canonical_url": pl.String,
    "domain": pl.String,
    "title": pl.String,
    "author": pl.String,
    "published_at": UTC_TS,
    "published_raw": pl.String,
    "date_quality": pl.String,  # exact | midnight | missing | invalid
    "summary_html": pl.String,
    "content_html": pl.String,
    "clean_text": pl.String,  # title excluded; summary + content as plain text
    "word_count": pl.Int32,
    "language": pl.String,
    "language_confidence": pl.Float64,
    "image_url": pl.String,
    "categories": pl.List(pl.String),
    "first_seen_date": pl.Date,
    "position": pl.Int32,  # index of the entry in the feed document
}

# Every entry of the day with the content filter's decision.
FILTERED_ARTICLES = {
    **FEED_ENTRIES,
    "passed_filter": pl.Boolean,
    "filter_reason": pl.String,  # null when passed; else missing_title | missing_url | too_short |
    # outside_day | duplicate_url | language | blocked_domain | blocked_keyword | blocked_title
    "duplicate_of": pl.String,  # entry_key of the kept copy, for duplicate_url drops
}


def empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """Select and cast ``df`` to ``schema`` (missing columns become nulls); raise on extra-typed data."""
    cols = []
    for name, dtype in schema.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype, strict=True))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)
