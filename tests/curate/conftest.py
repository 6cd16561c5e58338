"""Curate test helpers: one real embedding model per session, and crafted filtered_articles rows."""

from __future__ import annotations

import hashlib
import os
from datetime import date

import polars as pl
import pytest

from bitbybit_assets.schemas import FILTERED_ARTICLES, conform

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def encoder():
    """The packaged all-MiniLM-L6-v2 on CPU, plain torch fp32 (loaded once for the session)."""
    from resources.embeddings import shared_encoder

    enc = shared_encoder("all-MiniLM-L6-v2", device="cpu", backend="torch", batch_size=16)
    enc.encode(["warm up"])
    return enc


def article(
    title: str,
    *,
    day: date = date(2026, 8, 5),
    feed: str = "techcrunch",
    text: str = "",
    trust: float = 0.9,
    category: str = "news",
    categories: list[str] | None = None,
    passed: bool = True,
    reason: str | None = None,
    url: str | None = None,
    duplicate_of: str | None = None,
) -> dict:
    """One filtered_articles row (the fields curation reads)."""
    url = url or f"https://{feed}.example.com/{hashlib.sha1(title.encode()).hexdigest()[:10]}"
    entry_id = url
    return {
        "partition_date": day,
        "entry_key": hashlib.sha256(f"{feed}\x1f{entry_id}".encode()).hexdigest()[:32],
        "article_id": hashlib.sha256(url.encode()).hexdigest()[:32],
        "feed_name": feed,
        "feed_category": category,
        "feed_trust": trust,
        "entry_id": entry_id,
        "url": url,
        "canonical_url": url,
        "domain": url.split("/")[2],
        "title": title,
        "clean_text": text,
        "word_count": len(text.split()),
        "language": "en",
        "categories": categories or [],
        "first_seen_date": day,
        "position": 0,
        "passed_filter": passed,
        "filter_reason": reason,
        "duplicate_of": duplicate_of,
    }


def frame(rows: list[dict]) -> pl.DataFrame:
    return conform(pl.DataFrame(rows), FILTERED_ARTICLES)
