"""Item 2: one huge field cannot wipe the issue; titles, texts, entries per feed and document size
are capped (``ingest.limits``), and the renderer caps every field it shows."""

from __future__ import annotations

import time
from xml.sax.saxutils import escape

import pytest

from bitbybit_assets.ingest.parsing import FeedDocumentError, parse_document
from bitbybit_assets.publish.render import FIELD_CAPS, NewsletterSettings
from bitbybit_base.settings import IngestLimits, load_settings
from tests.hardening.support import filtered_from_feed, newsletter
from tests.publish.helpers import enhanced_rows


def rss(items: list[str]) -> bytes:
    body = "".join(items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


def entry(i: int, title: str = "", text: str = "") -> str:
    title = title or f"Story {i} about GPUs and compilers for engineers"
    text = text or "A body text long enough for the content filter to keep the entry in the day."
    return (
        f"<item><title>{escape(title)}</title><link>https://example.org/{i}</link><guid>g{i}</guid>"
        f"<pubDate>Wed, 05 Aug 2026 08:00:00 GMT</pubDate><description>{escape(text)}</description></item>"
    )


@pytest.mark.parametrize("length", [200_000, 2_000_000])
def test_huge_top_title_keeps_the_other_stories(length):
    rows = enhanced_rows(20)
    rows[0]["title"] = "A" * length  # the top pick, straight into the renderer (no ingest cap)
    res = newsletter(rows)
    settings = NewsletterSettings()
    # before: trimming dropped the other 19 stories and the HTML was still ~207 KB (2 MB for 2M chars)
    assert res.row["article_count"] == 20
    assert res.row["html_bytes"] <= settings.max_html_bytes
    assert "A" * (FIELD_CAPS["title"] + 1) not in res.row["html"]


def test_huge_fields_everywhere_still_fit_with_min_articles():
    rows = enhanced_rows(20)
    for r in rows:
        r.update(
            title="T" * 50_000,
            summary="word " * 50_000,
            tags=["x" * 10_000] * 50,
            url="https://example.org/" + "p" * 2000,
            image_url="https://img.example/" + "i" * 2000,
            domain="d" * 10_000,
            also_covered_by=[{"feed_name": "f" * 10_000, "title": "t" * 10_000, "url": "https://o.example/"}]
            * 20,
        )
    res = newsletter(rows, min_articles=5)
    assert res.row["html_bytes"] <= NewsletterSettings().max_html_bytes
    assert res.row["article_count"] >= 5


def test_ingest_caps_titles_and_texts():
    limits = load_settings().ingest.limits
    doc = rss([entry(0, title="Huge " * 400_000, text="word " * 1_000_000)] + [entry(i) for i in range(1, 4)])
    filtered = filtered_from_feed(doc)
    titles = filtered["title"].to_list()
    assert max(len(t) for t in titles) <= limits.max_title_chars
    assert max(len(t) for t in filtered["clean_text"].to_list()) <= limits.max_summary_chars
    assert filtered.height == 4  # the huge entry is kept, cut down; the others are untouched
    assert titles[1] == "Story 1 about GPUs and compilers for engineers"


def test_entries_per_feed_are_capped():
    limits = IngestLimits(max_entries_per_feed=50)
    doc = rss([entry(i) for i in range(120)])
    parsed = parse_document(doc, limits)
    assert len(parsed.entries) == 50 and parsed.entry_ids[0] == "g0"
    assert filtered_from_feed(doc, limits=limits).height == 50


def test_a_56k_entry_feed_is_refused_before_the_slow_parse():
    doc = rss([entry(i) for i in range(56_000)])  # ~11 MB would be parsed twice before the fix
    limits = IngestLimits(max_document_bytes=64 * 1024 * 1024)  # size alone would let it through
    started = time.monotonic()
    with pytest.raises(FeedDocumentError, match="max_entries_per_feed"):
        parse_document(doc, limits)
    assert time.monotonic() - started < 2.0
    # and as a raw_feeds row it is an error with the reason, not an exception
    assert filtered_from_feed(doc, limits=limits).height == 0


def test_documents_over_the_size_cap_are_refused():
    doc = rss([entry(i, text="x " * 2000) for i in range(10)])
    with pytest.raises(FeedDocumentError, match="max_document_bytes"):
        parse_document(doc, IngestLimits(max_document_bytes=8 * 1024))


def test_limits_have_documented_defaults_in_config():
    text = (load_settings.__globals__["config_dir"]() / "production.yaml").read_text()
    for key in IngestLimits.model_fields:
        assert f"    {key}:" in text, f"ingest.limits.{key} is not documented in production.yaml"
    assert load_settings().ingest.limits == IngestLimits()  # the file says what the defaults are
