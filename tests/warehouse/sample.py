"""Hand-built upstream frames for warehouse tests (two feeds with entries, one failing feed)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import polars as pl

from bitbybit_assets.schemas import FILTERED_ARTICLES, RAW_FEEDS, conform
from bitbybit_assets.warehouse.tables import ENHANCED_COLS, LLM_CALLS_COLS, NEWSLETTER_COLS, SCORED_COLS

DAY1 = date(2026, 7, 18)
DAY2 = date(2026, 7, 19)
FEEDS = {
    "alpha-ai": "https://alpha.example/feed.xml",
    "beta-dev": "https://beta.example/rss",
    "gamma-broken": "https://gamma.example/atom",
}


def key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def day_frames(day: date, n_per_feed: int = 6, *, variant: str = "a") -> dict[str, pl.DataFrame]:
    """Upstream frames for one day: ``n_per_feed`` entries in each working feed.

    Per feed: entry 0 is dropped by the filter (too_short), entry 1 is a duplicate_url drop, entry 2
    is an ad, entries 3.. pass; the first two passing entries of each feed are picked.
    """
    ts = datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)
    raw, filtered, scored = [], [], []
    for fi, (feed, url) in enumerate(FEEDS.items()):
        broken = feed == "gamma-broken"
        raw.append(
            {
                "partition_date": day,
                "feed_name": feed,
                "feed_url": url,
                "source": "archive",
                "fetch_status": "error" if broken else "ok",
                "http_status": 500 if broken else 200,
                "content": None if broken else b"<rss/>",
                "size_bytes": 0 if broken else 6,
                "error": "HTTP 500" if broken else None,
                "fetched_at": ts,
                "elapsed_ms": 1500 + 250 * fi,
                "entry_count": 0 if broken else n_per_feed,
                "entry_ids": [],
            }
        )
        if broken:
            continue
        for i in range(n_per_feed):
            ek = key(feed, day, i, variant)
            passed = i not in (0, 1)
            filtered.append(
                {
                    "partition_date": day,
                    "entry_key": ek,
                    "article_id": key("article", feed, day, i),
                    "feed_name": feed,
                    "title": f"{feed} story {i} on {day}",
                    "url": f"https://{feed}.example/{day}/{i}",
                    "domain": f"{feed}.example",
                    "published_at": ts - timedelta(hours=i),
                    "clean_text": f"Body text of {feed} story {i}. " * 5,
                    "word_count": 30 + i,
                    "language": "en",
                    "passed_filter": passed,
                    "filter_reason": None if passed else ("too_short" if i == 0 else "duplicate_url"),
                    "duplicate_of": key(feed, day, 3, variant) if i == 1 else None,
                }
            )
            if passed:
                is_ad = i == 2
                pick = i in (3, 4)
                scored.append(
                    {
                        "partition_date": day,
                        "entry_key": ek,
                        "is_advertisement": is_ad,
                        "ad_score": 0.9 if is_ad else 0.1,
                        "ad_reason": "sponsored" if is_ad else None,
                        "quality_score": 7.25 + i / 10,
                        "tech_relevance_score": 2.0 if i == 5 else 8.5,
                        "content_type": ["news", "tutorial", "research"][i % 3],
                        "topics": ["llm", "agents"] if i % 2 else ["open-source"],
                        "cluster_id": f"c-{feed}-{i}",
                        "cluster_size": 1,
                        "is_canonical": True,
                        "canonical_entry_key": ek,
                        "previously_sent": False,
                        "final_score": 0.5 + i / 100,
                        "rank": (i - 2) if pick else None,
                        "selected": pick,
                        "selection_reason": "top_n" if pick else ("ad" if is_ad else "below_cut"),
                    }
                )
    f = conform(pl.DataFrame(filtered), FILTERED_ARTICLES)
    s = conform(pl.DataFrame(scored), SCORED_COLS)
    picks = (
        s.filter(pl.col("selected")).join(f.drop("partition_date"), on="entry_key").sort("feed_name", "rank")
    )
    picks = picks.with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int32).alias("rank"))
    enhanced = conform(
        picks.with_columns(
            pl.lit(None, dtype=pl.String).alias("image_url"),
            ("Summary of " + pl.col("title")).alias("summary"),
            pl.lit("offline").alias("summary_source"),
            pl.lit(["ai", "ml", "tools"]).alias("tags"),
            ("Preview of " + pl.col("title")).alias("preview"),
            pl.lit(2, dtype=pl.Int32).alias("reading_time_minutes"),
            pl.lit(None, dtype=pl.String).alias("llm_model"),
            pl.lit([{"feed_name": "other", "title": "Same story", "url": "https://other.example/x"}]).alias(
                "also_covered_by"
            ),
        ),
        ENHANCED_COLS,
    )
    ids = enhanced["entry_key"].to_list()
    newsletter = conform(
        pl.DataFrame(
            {
                "partition_date": [day],
                "newsletter_id": [str(uuid.uuid5(uuid.NAMESPACE_URL, f"nl-{day}-{variant}"))],
                "subject_line": [f"bitbybit {day}: agents everywhere"],
                "subject_candidates": [["a", "b", "c"]],
                "preheader": ["Today's picks"],
                "intro": ["Hello."],
                "sections_json": [json.dumps([{"key": "top", "title": "Top", "entry_keys": ids}])],
                "html": ["<html><body>newsletter</body></html>"],
                "text": ["newsletter"],
                "article_ids": [ids],
                "article_count": [len(ids)],
                "html_bytes": [36],
                "generated_at": [ts + timedelta(hours=2)],
                "llm_cost_usd": [0.0123],
                "copy_source": ["offline"],
            }
        ),
        NEWSLETTER_COLS,
    )
    llm = conform(
        pl.DataFrame(
            {
                "partition_date": [day] * 3,
                "run_id": ["r1"] * 3,
                "call_id": [key("call", day, i, variant) for i in range(3)],
                "purpose": ["article_summaries", "article_summaries", "newsletter_copy"],
                "model": ["m"] * 3,
                "prompt_version": ["v1"] * 3,
                "input_tokens": [1000, 0, 500],
                "output_tokens": [200, 0, 100],
                "latency_ms": [1200, 0, 800],
                "cost_usd": [0.01, 0.0, 0.0023],
                "status": ["ok", "ok", "ok"],
                "error": [None, None, None],
                "cache_hit": [False, True, False],
                "attempt": [1, 0, 1],
                "item_count": [4, 1, 1],
                "called_at": [ts] * 3,
            }
        ),
        LLM_CALLS_COLS,
    )
    return {
        "raw_feeds": conform(pl.DataFrame(raw), RAW_FEEDS),
        "filtered_articles": f,
        "scored_articles": s,
        "enhanced_articles": enhanced,
        "newsletters": newsletter,
        "llm_calls": llm,
    }


def concat_days(*frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return {name: pl.concat([f[name] for f in frames]) for name in frames[0]}


TRANSLATION = {
    "original_title": "大模型代理无处不在",
    "original_language": "zh",
    "translated_by": "qwen-translate",
}


def with_translated_pick(frames: dict[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], str]:
    """``frames`` with the first pick translated (as ingest/translation.py leaves it in filtered_articles
    and enhance carries it on): the English title, the original in ``TRANSLATION``. Returns its entry_key."""
    ek = frames["enhanced_articles"]["entry_key"][0]
    hit = pl.col("entry_key") == ek
    marks = [pl.when(hit).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in TRANSLATION.items()]
    out = dict(frames)
    for name in ("filtered_articles", "enhanced_articles"):
        out[name] = frames[name].with_columns(
            *marks,
            pl.when(hit).then(pl.lit("LLM agents are everywhere")).otherwise(pl.col("title")).alias("title"),
        )
    return out, ek
