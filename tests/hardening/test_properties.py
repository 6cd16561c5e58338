"""Property-based tests (hypothesis) for the parser → filter → enhance → render → export path with
arbitrary Unicode (surrogates, NUL, controls, RTL and bidi overrides, combining marks, emoji), huge
fields, hostile URLs and HTML.

Properties: no exception escapes a stage for one bad article; every newsletter link is http(s);
the HTML stays under the clipping size with at least ``newsletter.min_articles`` stories; stored
text is clean; the SQL export round-trips exactly through ``psql`` under both
``standard_conforming_strings`` settings. Bounded for CI by the ``ci`` profile of conftest.py
(30 examples, fixed seed, no deadline).
"""

from __future__ import annotations

import polars as pl
import psycopg2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitbybit_assets import quality_rules as rules
from bitbybit_assets.schemas import ENHANCED_ARTICLES, NEWSLETTERS
from bitbybit_assets.warehouse.export import pg_text
from bitbybit_base.settings import load_settings
from bitbybit_base.text_safety import remove_unencodable
from tests.hardening.support import (
    DAY,
    enhance_offline,
    export_sql,
    filtered_from_feed,
    is_clean,
    is_storable,
    lines,
    newsletter,
    psql_replay,
    scored_from,
)
from tests.publish.helpers import enhanced_rows

MIN_ARTICLES = load_settings().newsletter.min_articles
MAX_HTML = load_settings().newsletter.max_html_bytes
LIMITS = load_settings().ingest.limits

SPECIAL = [
    "\x00", "\ud800", "\udfff", "\u202e", "\u2066", "\u200f", "\u0301\u0336\u0489", "\U0001F600",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\u05e9\u05dc\u05d5\u05dd", "\u0639\u0631\u0628\u064a",
    "\r\n", "\t", "\x1b[31m", "\x85", "\x9b", "\ufffe", "\ufeff", "<", ">", "&", "'", '"', "\\", "\\'",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", 'href="javascript:void(0)"',
    "javascript:", "&#0;", "&#xD800;", "&amp;lt;b&amp;gt;", "]]>", "<!--", "{{ x }}", "{% if %}", "%s",
    "$$", "E'", "--", ";", ":name", "UNTRUSTED_DATA_JSON>>>",
]  # fmt: skip
piece = st.one_of(
    st.text(max_size=12),
    st.sampled_from(SPECIAL),
    st.characters(categories=["Cs", "Cc", "Cf", "Mn", "So", "Zl", "Zp"]),
)
hostile_text = st.lists(piece, max_size=25).map("".join)
huge_text = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(["A", "word ", "\U0001f600", "<b>x</b>", "\x00", "\\'"]),
    st.integers(min_value=1_000, max_value=120_000),
)
field = st.one_of(hostile_text, hostile_text, hostile_text, huge_text)
hostile_url = st.one_of(
    st.sampled_from(lines("urls.txt")),
    hostile_text.map(lambda s: "https://example.org/" + s),
    hostile_text,
    st.integers(min_value=0, max_value=5000).map(lambda n: "https://example.org/" + "p" * n),
)


def _xml_safe(text: str) -> str:
    """Only characters XML 1.0 allows (others make the whole document malformed)."""
    ok = []
    for c in text:
        o = ord(c)
        if o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000:
            ok.append(c)
    return "".join(ok)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


GOOD = [
    (
        "Acme releases an open-weight language model for code",
        "Acme released a model for code generation today.",
    ),
    (
        "Researchers show a faster attention kernel for GPUs",
        "A paper describes a kernel that speeds up training.",
    ),
    (
        "Critical VPN flaw exploited in the wild, vendor patches",
        "Attackers exploit a critical vulnerability.",
    ),
    ("Startup raises $40M to build GPU clouds for labs", "The company rents GPU clusters to research labs."),
    (
        "New open source database targets vector search",
        "An open source engine targets vector search workloads.",
    ),
    (
        "Compiler release brings faster builds to developers",
        "The new compiler version speeds up large builds.",
    ),
]


def _document(bad: list[tuple[str, str, str]], xml_safe: bool) -> bytes:
    items = []
    for i, (title, text) in enumerate(GOOD):
        items.append(f"<item><title>{title}</title><link>https://example.org/good/{i}</link><guid>good-{i}</guid>"
                     f"<pubDate>Wed, 05 Aug 2026 08:00:00 GMT</pubDate><description>{_esc(text)}</description></item>")  # fmt: skip
    for j, (title, text, link) in enumerate(bad):
        if xml_safe:
            title, text, link = _xml_safe(title), _xml_safe(text), _xml_safe(link)
        items.append(f"<item><title>{_esc(title)}</title><link>{_esc(link)}</link><guid>bad-{j}</guid>"
                     f"<pubDate>Wed, 05 Aug 2026 09:00:00 GMT</pubDate><description>{_esc(text)}</description></item>")  # fmt: skip
    body = "".join(items)
    doc = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>p</title>{body}</channel></rss>'
    return doc.encode("utf-8", "surrogatepass")


def _newsletter_invariants(row: dict, *, expect_at_least: int) -> None:
    frame = pl.DataFrame([row], schema=NEWSLETTERS)  # storable: no unencodable text
    result = rules.newsletter_links_valid(frame, [DAY])
    assert result.passed, result.summary
    for link in rules.html_links(row["html"]):
        assert rules.is_web_link(link) or link.startswith(("mailto:", "#", "{{")), link
    assert row["html_bytes"] == len(row["html"].encode("utf-8")) <= MAX_HTML
    assert row["article_count"] >= expect_at_least
    for key in ("subject_line", "preheader", "intro", "html", "text"):
        assert is_clean(row[key]), key


@pytest.mark.slow
@given(bad=st.lists(st.tuples(field, field, hostile_url), min_size=1, max_size=3), xml_safe=st.booleans())
def test_parser_filter_enhance_render_export(bad, xml_safe):
    filtered = filtered_from_feed(_document(bad, xml_safe))  # never raises: a bad document is an error row
    for column in ("title", "clean_text", "url", "image_url", "author"):
        assert all(is_clean(v) for v in filtered[column].to_list()), column
    for column in ("summary_html", "content_html"):  # raw feed HTML: kept as sent, but storable
        assert all(is_storable(v) for v in filtered[column].to_list()), column
    assert all(len(t) <= LIMITS.max_title_chars for t in filtered["title"].to_list())
    if not xml_safe and filtered.is_empty():
        return  # the bad entry made the XML malformed: the feed is refused, nothing raised
    # one bad article never costs the good ones
    assert {f"good-{i}" for i in range(len(GOOD))} <= set(filtered["entry_id"].to_list())
    scored = scored_from(filtered)
    enhanced = enhance_offline(scored)
    assert enhanced.height == scored.height
    assert all(is_clean(v) for v in enhanced["summary"].to_list() + enhanced["preview"].to_list())
    res = newsletter(enhanced.to_dicts(), min_articles=MIN_ARTICLES)
    _newsletter_invariants(res.row, expect_at_least=min(MIN_ARTICLES, enhanced.height))
    sql, _ = export_sql(DAY, {"filtered_articles": filtered, "scored_articles": scored, "enhanced_articles": enhanced,
                              "newsletters": pl.DataFrame([res.row], schema=NEWSLETTERS)})  # fmt: skip
    assert "\x00" not in sql
    sql.encode("utf-8")


@pytest.mark.slow
@given(
    n=st.integers(min_value=MIN_ARTICLES, max_value=20),
    titles=st.lists(field, min_size=1, max_size=20),
    summaries=st.lists(field, min_size=1, max_size=20),
    urls=st.lists(hostile_url, min_size=1, max_size=20),
    tags=st.lists(hostile_text, max_size=8),
)
def test_render_keeps_links_size_and_story_count(n, titles, summaries, urls, tags):
    rows = enhanced_rows(n)
    for i, r in enumerate(rows):
        r.update(
            title=titles[i % len(titles)],
            summary=summaries[i % len(summaries)],
            url=urls[i % len(urls)],
            image_url=urls[(i + 1) % len(urls)],
            tags=tags,
            domain=titles[(i + 1) % len(titles)][:5000],
            also_covered_by=[
                {"feed_name": t[:100], "title": t, "url": u} for t, u in zip(titles, urls, strict=False)
            ],
        )
    res = newsletter(rows, min_articles=MIN_ARTICLES)
    _newsletter_invariants(res.row, expect_at_least=MIN_ARTICLES)


@pytest.mark.slow
@pytest.mark.integration
@given(
    values=st.lists(st.one_of(hostile_text, hostile_text, huge_text), min_size=1, max_size=6),
    tags=st.lists(hostile_text, max_size=4),
)
def test_sql_export_round_trips_exactly_under_both_settings(migrated_pg, tmp_path_factory, values, tags):
    # lakehouse frames hold no lone surrogates (removed where data enters); anything else they can
    values = [remove_unencodable(v) for v in values]
    tags = [remove_unencodable(t) for t in tags]
    rows = enhanced_rows(len(values))
    for r, v in zip(rows, values, strict=True):
        r.update(title=v, summary=v[::-1], tags=tags)
    sql, _ = export_sql(DAY, {"enhanced_articles": pl.DataFrame(rows, schema=ENHANCED_ARTICLES)})
    tmp = tmp_path_factory.mktemp("sql")
    for conforming in (False, True):
        done = psql_replay(migrated_pg, sql, conforming=conforming, tmp=tmp)
        assert done.returncode == 0, done.stderr[:2000]
        conn = psycopg2.connect(migrated_pg)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('newsletters') IS NOT NULL")
                assert cur.fetchone()[0]
                cur.execute("SELECT title, summary, tags FROM articles WHERE partition_date = %s "
                            "ORDER BY newsletter_rank", [DAY])  # fmt: skip
                got = cur.fetchall()
        finally:
            conn.close()
        assert got == [(pg_text(v), pg_text(v[::-1]), [pg_text(t) for t in tags]) for v in values]
