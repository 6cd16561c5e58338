"""Fetch results → ``raw_feeds`` rows (bronze). No Dagster here."""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl

from bitbybit_assets.ingest.parsing import FeedDocumentError, parse_and_keep
from bitbybit_assets.schemas import RAW_FEEDS, conform
from bitbybit_base.settings import IngestLimits
from bitbybit_base.text_safety import clean_text
from resources.fetch_types import FetchResult


def raw_feed_rows(day: date, results: list[FetchResult], limits: IngestLimits | None = None) -> pl.DataFrame:
    """One row per feed: bytes, fetch status, validators, checksum and the ids of its entries.

    A fetched body that is not a usable feed (HTML page, truncated XML, bad encoding, over the
    ``limits``) becomes an ``error`` row that still keeps the bytes, so the day can be inspected or
    re-parsed later. Header-derived text (ETag, Last-Modified, error) is sanitised: a server
    controls it. The parsed documents are kept for the silver stage (``parsing.take_parsed``).
    """
    rows = []
    for r in results:
        status, error, ids = r.fetch_status, r.error, None
        content = r.content
        digest = hashlib.sha256(content).hexdigest() if content is not None else None
        if status == "ok":
            try:
                ids = parse_and_keep(content, limits, digest).entry_ids
            except FeedDocumentError as exc:
                status, error = "error", str(exc)
        rows.append(
            {
                "partition_date": day,
                "feed_name": r.feed_name,
                "feed_url": r.url,
                "source": r.source,
                "fetch_status": status,
                "http_status": r.http_status,
                "etag": clean_text(r.etag, max_chars=512) or None,
                "last_modified": clean_text(r.last_modified, max_chars=200) or None,
                "content": content,
                "sha256": digest,
                "size_bytes": len(content) if content is not None else None,
                "error": clean_text(error, max_chars=2000) or None,
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
