"""Small, valid frames of each table (one day); tests break them to craft bad days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from bitbybit_assets.schemas import (
    ENHANCED_ARTICLES,
    NEWSLETTERS,
    RAW_FEEDS,
    SCORED_ARTICLES,
    conform,
)

D1 = date(2026, 8, 5)
D2 = date(2026, 8, 6)


def raw_feeds_day(day: date, ok: int = 10, errors: int = 0, missing: int = 0) -> pl.DataFrame:
    statuses = ["ok"] * (ok - errors) + ["error"] * errors + ["missing"] * missing
    return conform(
        pl.DataFrame({
            "partition_date": [day] * len(statuses),
            "feed_name": [f"feed-{i}" for i in range(len(statuses))],
            "fetch_status": statuses,
            "error": [("HTTP 500" if s == "error" else None) for s in statuses],
            "http_status": [(500 if s == "error" else 200 if s == "ok" else None) for s in statuses],
        }),
        RAW_FEEDS,
    )


def scored_day(day: date, picks: int = 10, extra_unselected: int = 0) -> pl.DataFrame:
    n = picks + extra_unselected
    tag = day.isoformat()
    return conform(
        pl.DataFrame({
            "partition_date": [day] * n,
            "entry_key": [f"{tag}-e{i}" for i in range(n)],
            "article_id": [f"{tag}-a{i}" for i in range(n)],
            "feed_name": [f"feed-{i % 4}" for i in range(n)],
            "title": [f"Story {i}" for i in range(n)],
            "url": [f"https://site-{i}.example/a{i}" for i in range(n)],
            "is_advertisement": [False] * n,
            "ad_score": [0.1] * n,
            "cluster_id": [f"c-{i}" for i in range(n)],
            "rank": [i + 1 for i in range(n)],
            "selected": [i < picks for i in range(n)],
        }),
        SCORED_ARTICLES,
    )


def enhanced_day(day: date, picks: int = 10) -> pl.DataFrame:
    tag = day.isoformat()
    return conform(
        pl.DataFrame({
            "partition_date": [day] * picks,
            "entry_key": [f"{tag}-e{i}" for i in range(picks)],
            "article_id": [f"{tag}-a{i}" for i in range(picks)],
            "rank": [i + 1 for i in range(picks)],
            "title": [f"Story {i}" for i in range(picks)],
            "url": [f"https://site-{i}.example/a{i}" for i in range(picks)],
            "summary": [f"Story {i} happened. It matters because of reasons. More follows soon." for i in range(picks)],
            "cluster_id": [f"c-{i}" for i in range(picks)],
            "tags": [["ai", "chips", "cloud"]] * picks,
        }),
        ENHANCED_ARTICLES,
    )


def newsletter_day(day: date, articles: int = 10) -> pl.DataFrame:
    tag = day.isoformat()
    links = "".join(f'<li><a href="https://site-{i}.example/a{i}">Story {i}</a></li>' for i in range(articles))
    html = (f"<html><body><a href=\"#top\">top</a><ul>{links}</ul>"
            '<a href="mailto:editor@bitbybit.example">write</a> <a href="{{unsubscribe_url}}">unsubscribe</a>'
            "</body></html>")
    return conform(
        pl.DataFrame({
            "partition_date": [day],
            "newsletter_id": [f"nl-{tag}"],
            "subject_line": [f"bitbybit {tag}: Story 0 and more"],
            "html": [html],
            "text": ["Story 0 ..."],
            "article_ids": [[f"{tag}-e{i}" for i in range(articles)]],
            "article_count": [articles],
            "html_bytes": [len(html.encode())],
            "generated_at": [datetime(2026, 8, 6, 6, 45, tzinfo=UTC)],
            "llm_cost_usd": [0.0123],
        }),
        NEWSLETTERS,
    )
