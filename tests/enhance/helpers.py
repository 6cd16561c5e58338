"""Small ``scored_articles`` frames for enhancement and publishing tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import polars as pl

DAY = date(2026, 8, 5)

SCORED_SCHEMA = {
    "partition_date": pl.Date,
    "entry_key": pl.String,
    "article_id": pl.String,
    "feed_name": pl.String,
    "feed_category": pl.String,
    "url": pl.String,
    "canonical_url": pl.String,
    "domain": pl.String,
    "title": pl.String,
    "author": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
    "summary_html": pl.String,
    "content_html": pl.String,
    "clean_text": pl.String,
    "word_count": pl.Int32,
    "language": pl.String,
    "image_url": pl.String,
    "categories": pl.List(pl.String),
    "content_type": pl.String,
    "topics": pl.List(pl.String),
    "quality_score": pl.Float64,
    "tech_relevance_score": pl.Float64,
    "cluster_id": pl.String,
    "cluster_size": pl.Int32,
    "also_covered_by": pl.List(pl.Struct({"feed_name": pl.String, "title": pl.String, "url": pl.String})),
    "final_score": pl.Float64,
    "rank": pl.Int32,
    "selected": pl.Boolean,
    "selection_reason": pl.String,
}

TEXTS = [
    (
        "Acme releases Falcon 3, an open-weight language model for code",
        "Acme on Tuesday released Falcon 3, an open-weight language model trained for code generation. "
        "The model comes in three sizes and is licensed under Apache 2.0. Acme says Falcon 3 beats "
        "larger models on common coding benchmarks while running on a single GPU. Developers can "
        "download the weights today and run them with popular inference servers. The company also "
        "published the training recipe and the evaluation harness used for its benchmark claims.",
        "release",
    ),
    (
        "Researchers show a faster attention kernel for long contexts",
        "A team of researchers published a paper describing a new attention kernel for long context "
        "windows. The kernel reorders memory access to keep data in fast on-chip memory. In their tests "
        "it speeds up training of transformer models by a third on sequences of a million tokens. "
        "The code is available on GitHub under a permissive license.",
        "research",
    ),
    (
        "Startup Brightwire raises $40M to build GPU clouds for small labs",
        "Brightwire, a two-year-old startup, raised $40 million in a Series B round led by Example "
        "Ventures. The company rents GPU clusters to small research labs by the hour. It plans to use "
        "the money to open two new data centers next year and to hire more engineers.",
        "funding",
    ),
    ("Show HN: A tiny Rust crate for parsing feeds", "", "news"),
    (
        "Critical flaw in popular VPN appliance exploited in the wild",
        "Security researchers warned that attackers are exploiting a critical vulnerability in a widely "
        "used VPN appliance. The flaw lets unauthenticated attackers run code on the device. The vendor "
        "released patches and urged customers to update immediately. Government agencies added the bug "
        "to their catalog of known exploited vulnerabilities.",
        "news",
    ),
]


def scored_frame(
    n: int = 5, *, day: date = DAY, selected_every: int = 1, extra: list[dict] | None = None
) -> pl.DataFrame:
    """``n`` articles (cycling through :data:`TEXTS`) all selected, ranked 1..n."""
    rows = []
    for i in range(n):
        title, text, ctype = TEXTS[i % len(TEXTS)]
        if i >= len(TEXTS):
            title = f"{title} (part {i // len(TEXTS) + 1})"
        key = hashlib.sha256(f"{day}{i}{title}".encode()).hexdigest()[:32]
        url = f"https://example{i % 3}.com/news/{i}"
        rows.append(
            {
                "partition_date": day,
                "entry_key": key,
                "article_id": key[::-1],
                "feed_name": ["techcrunch", "hackernews-frontpage-fulltext", "acme-blog"][i % 3],
                "feed_category": "tech",
                "url": url,
                "canonical_url": url,
                "domain": f"example{i % 3}.com",
                "title": title,
                "author": None,
                "published_at": datetime(2026, 8, 5, 8, i % 60, tzinfo=UTC),
                "summary_html": f"<p>{text}</p>" if text else None,
                "content_html": None,
                "clean_text": text,
                "word_count": len(text.split()),
                "language": "en",
                "image_url": f"https://img.example.com/{i}.jpg" if i == 0 else None,
                "categories": [],
                "content_type": ctype,
                "topics": [],
                "quality_score": 7.0,
                "tech_relevance_score": 8.0 - i * 0.1,
                "cluster_id": f"c{i}",
                "cluster_size": 2 if i == 0 else 1,
                "also_covered_by": (
                    [
                        {
                            "feed_name": "the-verge",
                            "title": "Falcon 3 is here",
                            "url": "https://verge.example/falcon",
                        }
                    ]
                    if i == 0
                    else []
                ),
                "final_score": 10.0 - i,
                "rank": i + 1,
                "selected": i % selected_every == 0,
                "selection_reason": "top_n",
            }
        )
    rows.extend(extra or [])
    return pl.DataFrame(rows, schema=SCORED_SCHEMA)
