"""Fetch results → ``raw_feeds`` rows (bronze). No Dagster here."""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl

from bitbybit_assets.ingest.parsing import FeedDocumentError, parse_document
from bitbybit_assets.schemas import RAW_FEEDS, conform
from resources.fetch_types import FetchResult


def raw_feed_rows(day: date, results: list[FetchResult]) -> pl.DataFrame:
    """One row per feed: bytes, fetch status, validators, checksum and the ids of its entries.

    A fetched body that is not a usable feed (HTML page, truncated XML, bad encoding) becomes an
    ``error`` row that still keeps the bytes, so the day can be inspected or re-parsed later.
    """
    rows = []
    for r in results:
        status, error, ids = r.fetch_status, r.error, None
        if status == "ok":
            try:
                ids = parse_document(r.content).entry_ids
            except FeedDocumentError as exc:
                status, error = "error", str(exc)
        content = r.content
        rows.append(
            {
                "partition_date": day,
                "feed_name": r.feed_name,
                "feed_url": r.url,
                "source": r.source,
                "fetch_status": status,
                "http_status": r.http_status,
                "etag": r.etag,
                "last_modified": r.last_modified,
                "content": content,
                "sha256": hashlib.sha256(content).hexdigest() if content is not None else None,
                "size_bytes": len(content) if content is not None else None,
                "error": error,
                "fetched_at": r.fetched_at,
                "elapsed_ms": r.elapsed_ms,
                "entry_count": len(ids) if ids is not None else None,
                "entry_ids": ids,
            }
        )
    return conform(pl.DataFrame(rows, schema=RAW_FEEDS) if rows else pl.DataFrame(schema=RAW_FEEDS), RAW_FEEDS)


def fetch_summary(raw: pl.DataFrame) -> dict[str, int]:
    """Counts of rows per fetch status (for metadata and checks)."""
    counts = raw.group_by("fetch_status").len()
    return {row["fetch_status"]: int(row["len"]) for row in counts.iter_rows(named=True)}
