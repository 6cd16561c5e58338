from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from bitbybit_assets.ingest.parsing import (
    FeedDocumentError,
    clean_title,
    detect_language,
    normalise_entry,
    parse_document,
    parse_published,
    split_card_title,
)
from bitbybit_assets.text import html_to_text, word_count

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>T</title><language>en-us</language>
<item><title>Caf&amp;eacute; &amp;amp; AI &#8217;26</title><link>https://Ex.com/a?utm_source=x</link>
<guid>g1</guid><pubDate>Wed, 05 Aug 2026 14:30:00 -0400</pubDate>
<description><![CDATA[<p>Hello <b>world</b><script>alert(1)</script><style>p{}</style></p>]]></description>
<category>AI</category><category>Startups</category></item>
<item><title>No date</title><link>https://ex.com/b</link></item>
<item><title>Bad date</title><link>https://ex.com/c</link><pubDate>yesterday-ish</pubDate></item>
</channel></rss>"""


def _entries(doc: bytes):
    parsed = parse_document(doc)
    return parsed, [normalise_entry(e, feed_name="f", feed_language=parsed.language, position=i)
                    for i, e in enumerate(parsed.entries)]


def test_rss_entry_normalised():
    parsed, rows = _entries(RSS)
    assert parsed.language == "en" and parsed.entry_ids == ["g1", "https://ex.com/b", "https://ex.com/c"]
    first = rows[0]
    assert first["title"] == "Café & AI ’26"
    assert first["canonical_url"] == "https://ex.com/a"
    assert first["published_at"] == datetime(2026, 8, 5, 18, 30, tzinfo=UTC)
    assert first["date_quality"] == "exact"
    assert first["clean_text"] == "Hello world"
    assert first["categories"] == ["AI", "Startups"]
    assert rows[1]["published_at"] is None and rows[1]["date_quality"] == "missing"
    assert rows[1]["entry_id"] == "https://ex.com/b"  # no guid: the link is the id
    assert rows[2]["published_at"] is None and rows[2]["date_quality"] == "invalid"


def test_atom_with_microseconds_and_midnight_dates():
    atom = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
    <id>urn:x</id><updated>2026-08-16T18:38:17.450237+00:00</updated>
    <entry><title>E</title><id>urn:e1</id><link href="https://ex.com/e1"/>
    <updated>2026-08-16T18:38:17.450237+00:00</updated><content type="html">&lt;p&gt;Body text&lt;/p&gt;</content></entry>
    <entry><title>M</title><id>urn:e2</id><link href="https://ex.com/e2"/><updated>2026-08-16T00:00:00+00:00</updated></entry>
    </feed>"""
    _, rows = _entries(atom)
    assert rows[0]["published_at"] == datetime(2026, 8, 16, 18, 38, 17, 450237, tzinfo=UTC).replace(microsecond=0)
    assert rows[0]["clean_text"] == "Body text"
    assert rows[1]["date_quality"] == "midnight"


@pytest.mark.parametrize(
    "doc, fragment",
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>x</body></html>", "HTML page"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>a', "malformed"),
        (b"hello world", "malformed"),
        (b'<?xml version="1.0"?><note><to>x</to></note>', "not an RSS"),
    ],
)
def test_unusable_documents_refused(doc, fragment):
    with pytest.raises(FeedDocumentError, match=fragment):
        parse_document(doc)


def test_encoding_mismatch_refused():
    doc = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>é</title></channel></rss>'
    with pytest.raises(FeedDocumentError):
        parse_document(doc.encode("latin-1"))


def test_real_error_snapshots_refused(full_corpus: Path):
    for path in sorted((full_corpus / "_error_snapshots").glob("*.xml")):
        with pytest.raises(FeedDocumentError):
            parse_document(path.read_bytes())


def test_every_sample_feed_parses(sample_archive: Path):
    files = sorted(sample_archive.glob("*/*.xml"))
    assert len(files) > 100
    for path in files:
        parsed = parse_document(path.read_bytes())
        for i, entry in enumerate(parsed.entries):
            row = normalise_entry(entry, feed_name=path.stem, feed_language=parsed.language, position=i)
            assert row is not None and row["title"], path
            assert row["canonical_url"] is None or row["canonical_url"].startswith("http")


def test_every_feed_in_the_full_corpus_parses(full_corpus: Path):
    """One document of each of the 35 feeds (their last day) parses and normalises."""
    latest: dict[str, Path] = {}
    for path in sorted(full_corpus.glob("2026-*/*.xml")):
        latest[path.stem] = path
    assert len(latest) == 35
    total = 0
    for path in latest.values():
        parsed = parse_document(path.read_bytes())
        rows = [normalise_entry(e, feed_name=path.stem, feed_language=parsed.language, position=i)
                for i, e in enumerate(parsed.entries)]
        assert all(r and r["entry_key"] and r["title"] for r in rows), path
        total += len(rows)
    assert total > 1500


def test_helpers():
    assert html_to_text("<div>a<iframe src=x>no</iframe> <p>b&amp;c</p></div>") == "a b&c"
    assert clean_title("A &amp;amp; B <em>C</em>") == "A & B C"
    assert word_count("Hello world 你好") == 4
    assert detect_language("OpenAI released a new reasoning model today with better benchmarks")[0] == "en"
    assert detect_language("谷歌发布新的人工智能模型")[0] == "zh"
    assert detect_language("Shieldstral", fallback="en")[0] == "en"  # short text: the feed's language


def test_listing_card_titles_lose_their_date_and_label():
    """anthropic-research glues each card's date and section label to the title (real feed titles)."""
    assert split_card_title("Jul 24, 2026Frontier Red TeamProject Pilot: Can AI control a drone?") == (
        "Project Pilot: Can AI control a drone?", "Frontier Red Team")
    assert split_card_title("Aug 12, 2026Economic ResearchReviewing the evidence on worker retraining programs") == (
        "Reviewing the evidence on worker retraining programs", "Economic Research")
    assert split_card_title("Jul 8, 2026AlignmentAn off switch for dual-use knowledge in AI models") == (
        "An off switch for dual-use knowledge in AI models", "Alignment")
    assert split_card_title("Jul 13, 2026Societal ImpactsClaude’s values across models and languages") == (
        "Claude’s values across models and languages", "Societal Impacts")
    assert split_card_title("Jul 9, 2026Claude plays robotics") == ("Claude plays robotics", None)
    # without a date written against the next word nothing changes
    for title in ("Jul 24, 2026: what shipped", "DeepMind releases Gemini 3.7", "Project Pilot: Can AI control a drone?",
                  "Jul 24 2026Recap"):
        assert split_card_title(title) == (title, None)


def test_a_card_entry_keeps_its_label_as_a_category_and_drops_the_repeated_description():
    entry = feedparser.FeedParserDict(
        id="https://www.anthropic.com/research/project-pilot", link="https://www.anthropic.com/research/project-pilot",
        title="Jul 24, 2026Frontier Red TeamProject Pilot: Can AI control a drone?",
        summary="Jul 24, 2026Frontier Red TeamProject Pilot: Can AI control a drone?")
    row = normalise_entry(entry, feed_name="anthropic-research", feed_language="en", position=0)
    assert row["title"] == "Project Pilot: Can AI control a drone?"
    assert row["categories"] == ["Frontier Red Team"]
    assert row["clean_text"] == ""  # the description only repeated the card: a title-only entry


def test_parse_published_odd_years():
    entry = feedparser.FeedParserDict(published="Mon, 01 Jan 1900 00:00:00 GMT",
                                      published_parsed=(1900, 1, 1, 0, 0, 0, 0, 1, 0))
    assert parse_published(entry)[2] == "invalid"
