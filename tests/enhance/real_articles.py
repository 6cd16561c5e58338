"""``scored_articles``-shaped frames built from real feed snapshots (feedparser + selectolax)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import polars as pl
from selectolax.lexbor import LexborHTMLParser

from tests.enhance.helpers import SCORED_SCHEMA

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARCHIVES = (PROJECT_ROOT / "sample_data" / "feeds", PROJECT_ROOT.parent / "shared" / "data" / "feeds")
DAY = date(2026, 8, 5)
CONTENT_TYPES = ("news", "research", "release", "tutorial", "opinion", "funding", "other")


def feed_path(feed: str, day: date = DAY) -> Path | None:
    for root in ARCHIVES:
        path = root / day.isoformat() / f"{feed}.xml"
        if path.is_file():
            return path
    return None


def html_to_text(fragment: str | None) -> str:
    if not fragment:
        return ""
    tree = LexborHTMLParser(fragment)
    for node in tree.css("script, style, iframe, noscript"):
        node.decompose()
    root = tree.body or tree.root
    return re.sub(r"\s+", " ", root.text(separator=" ") if root else "").strip()


def _image(entry) -> str | None:
    for media in entry.get("media_content") or entry.get("media_thumbnail") or []:
        if media.get("url"):
            return media["url"]
    for enc in entry.get("enclosures") or []:
        if (enc.get("type") or "").startswith("image/") and enc.get("href"):
            return enc["href"]
    return None


def real_scored(feeds: dict[str, int], *, day: date = DAY) -> pl.DataFrame:
    """The first ``n`` entries of each feed (``{feed_name: n}``), all selected, ranked in order."""
    rows = []
    for feed, n in feeds.items():
        path = feed_path(feed, day)
        if path is None:
            continue
        parsed = feedparser.parse(path.read_bytes())
        for entry in parsed.entries[:n]:
            contents = [c.get("value") or "" for c in entry.get("content") or []]
            content_html = max(contents, key=len) if contents else ""
            summary_html = entry.get("summary") or ""
            text = html_to_text(content_html) or html_to_text(summary_html)
            url = entry.get("link") or ""
            key = hashlib.sha256(f"{feed}\x1f{entry.get('id') or url}".encode()).hexdigest()[:32]
            i = len(rows)
            rows.append(
                {
                    "partition_date": day,
                    "entry_key": key,
                    "article_id": hashlib.sha256(url.encode()).hexdigest()[:32],
                    "feed_name": feed,
                    "feed_category": "tech",
                    "url": url,
                    "canonical_url": url,
                    "domain": urlsplit(url).hostname,
                    "title": html_to_text(entry.get("title")),
                    "author": entry.get("author"),
                    "published_at": datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC),
                    "summary_html": summary_html or None,
                    "content_html": content_html or None,
                    "clean_text": text,
                    "word_count": len(text.split()),
                    "language": "en",
                    "image_url": _image(entry),
                    "categories": [t.get("term") for t in entry.get("tags") or [] if t.get("term")],
                    "content_type": CONTENT_TYPES[i % 5],
                    "topics": [],
                    "quality_score": 6.0,
                    "tech_relevance_score": 7.0,
                    "cluster_id": f"c{i}",
                    "cluster_size": 1,
                    "also_covered_by": [],
                    "final_score": 100.0 - i,
                    "rank": i + 1,
                    "selected": True,
                    "selection_reason": "top_n",
                }
            )
    return pl.DataFrame(rows, schema=SCORED_SCHEMA)
