"""Rendering: HTML parts, inlined CSS, dark mode, size limit, plain-text line lengths, files."""

from __future__ import annotations

import json
import re
import uuid

import polars as pl
import pytest
from selectolax.lexbor import LexborHTMLParser

from bitbybit_assets.publish.newsletter import build_day, build_newsletters
from bitbybit_assets.publish.render import NewsletterSettings
from bitbybit_assets.schemas import NEWSLETTERS
from tests.enhance.helpers import DAY
from tests.publish.helpers import enhanced_row, enhanced_rows, inspect

SETTINGS = NewsletterSettings(min_articles=0)
URL_ONLY = re.compile(r"^\s*https?://\S+$")


@pytest.fixture(scope="module")
def day12():
    return build_day(DAY, enhanced_rows(12), settings=SETTINGS, write_files=False)


def test_html_document_parts(day12):
    html = day12.row["html"]
    doc = inspect(html)
    assert doc.doctype and doc.doctype.lower() == "doctype html"
    metas = {a.get("name"): a.get("content") for _, a in doc.tags if _ == "meta" and a.get("name")}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"
    assert doc.find("title") and day12.row["subject_line"] in doc.all_text
    # no scripts, no external CSS; the only <style> keeps the media queries
    assert not doc.find("script") and not doc.find("link")
    style = "".join(doc.styles)
    assert "@media(prefers-color-scheme:dark)" in style.replace(" ", "")
    assert "max-width:620px" in style.replace(" ", "")
    assert ".headline{" not in style.replace(" ", "")  # plain rules were inlined, not kept
    # inlined styles with light defaults
    body = doc.find("body")[0]
    assert "background-color" in (body.get("style") or "")
    headlines = [a for t, a in doc.tags if t == "h3"]
    assert len(headlines) == 12 and all("font-size" in (a.get("style") or "") for a in headlines)
    # ~600px table layout
    containers = [a for t, a in doc.tags if t == "table" and "container" in (a.get("class") or "")]
    assert len(containers) == 1 and containers[0]["width"] == "600"
    assert all(a.get("role") == "presentation" for t, a in doc.tags if t == "table")


def test_html_articles_links_images_and_footer(day12):
    html = day12.row["html"]
    doc = inspect(html)
    hrefs = [a["href"] for t, a in doc.tags if t == "a"]
    for row in enhanced_rows(12):
        assert row["url"] in hrefs
        assert row["title"] in doc.all_text
    # "also covered by" links (articles with even index have two)
    assert "https://verge.example/0" in hrefs and "https://ars.example/0" in hrefs
    assert doc.all_text.count("Also covered by:") == 6
    # the lead story's image has alt text (the headline) and a size; every image has alt
    imgs = doc.find("img")
    assert len(imgs) == 1 and imgs[0]["src"] == "https://img.example.com/lead.jpg"
    assert all(i.get("alt") for i in imgs)
    assert imgs[0]["alt"] == enhanced_row(0)["title"]
    # unsubscribe placeholder + List-Unsubscribe note
    unsub = [a for t, a in doc.tags if t == "a" and a.get("href") == "{{unsubscribe_url}}"]
    assert len(unsub) == 1
    assert "Unsubscribe" in doc.all_text and "List-Unsubscribe" in doc.all_text
    assert day12.row["list_unsubscribe"] == "<{{unsubscribe_url}}>"
    # preheader: hidden, first thing in the body
    tree = LexborHTMLParser(html)
    pre = tree.css_first("div.preheader")
    assert pre is not None and "display:none" in pre.attributes["style"].replace(" ", "")
    assert day12.row["preheader"] in pre.text()


def test_sections_order_and_article_ids(day12):
    row = day12.row
    sections = json.loads(row["sections_json"])
    assert sections[0]["key"] == "top" and sections[0]["entry_keys"] == ["key000"]
    keys = [s["key"] for s in sections]
    assert keys == ["top", "news", "release", "research", "tutorial", "opinion", "funding", "other"]
    flat = [k for s in sections for k in s["entry_keys"]]
    assert row["article_ids"] == flat and sorted(flat) == sorted(r["entry_key"] for r in enhanced_rows(12))
    assert row["article_count"] == 12
    # the HTML shows the stories in article_ids order
    html = row["html"]
    positions = [html.index(f'/story-{int(k[3:]) + 1}"') for k in flat]
    assert positions == sorted(positions)
    titles = [LexborHTMLParser(html).css_first("h2.section-title").text()]
    assert titles == ["Top story"]


def test_size_is_measured_and_under_gmail_clip(day12):
    row = day12.row
    assert row["html_bytes"] == len(row["html"].encode("utf-8"))
    assert row["html_bytes"] <= SETTINGS.max_html_bytes
    assert row["trimmed"] == []


def test_twenty_stories_fit_102kb():
    res = build_day(DAY, enhanced_rows(20), settings=SETTINGS, write_files=False)
    assert res.row["article_count"] == 20
    assert res.row["html_bytes"] <= 102_000
    assert res.row["trimmed"] == []


def test_oversized_newsletter_is_trimmed_in_steps():
    long_summary = "This sentence is deliberately long to make the newsletter heavy. " * 12
    rows = [enhanced_row(i, summary=long_summary) for i in range(30)]
    settings = NewsletterSettings(min_articles=0, max_html_bytes=40_000)
    res = build_day(DAY, rows, settings=settings, write_files=False)
    assert res.row["html_bytes"] <= 40_000
    trimmed = res.row["trimmed"]
    assert trimmed[:4] == ["hero_image", "also_covered_by", "tags", "summaries_one_sentence"]
    dropped = [t.split(":", 1)[1] for t in trimmed if t.startswith("dropped:")]
    assert dropped, "shrinking alone cannot fit 30 stories in 40 KB"
    # the lowest-ranked stories go first, and the kept ones are exactly article_ids
    assert dropped == [f"key{i:03d}" for i in range(29, 29 - len(dropped), -1)]
    assert set(res.row["article_ids"]) == {r["entry_key"] for r in rows} - set(dropped)
    doc = inspect(res.row["html"])
    assert not doc.find("img") and not doc.find("span", **{"class": "tag"})


def test_plain_text_version(day12):
    text = day12.row["text"]
    lines = text.splitlines()
    too_long = [line for line in lines if len(line) > 78 and not URL_ONLY.match(line)]
    assert too_long == []
    assert text.startswith("BITBYBIT\n========\n")
    assert day12.row["intro"].split(".")[0].split()[-1] in text
    for r in enhanced_rows(12):
        assert r["url"] in text
        assert r["title"].split()[0] in text
    assert "Unsubscribe: {{unsubscribe_url}}" in text
    assert "<" not in text.replace("<{{", "")  # no markup in the text version
    assert "TOP STORY" in text and "FUNDING & BUSINESS" in text
    assert "\n\n\n" not in text


def test_quiet_day_says_so_under_the_intro_in_html_and_text():
    rows = [enhanced_row(i, quiet_day=True) for i in range(3)]
    result = build_day(DAY, rows, settings=SETTINGS, write_files=False)
    note = "A quiet day: 3 stories met our bar today."
    assert result.rendered.quiet_day
    tree = LexborHTMLParser(result.row["html"])
    quiet = tree.css("p.quiet")
    assert [p.text() for p in quiet] == [note]
    assert "font-style" in (quiet[0].attributes.get("style") or "")  # inlined like the rest
    # right under the intro, before the first section
    body = tree.body.text()
    assert body.index(result.row["intro"][:40]) < body.index(note) < body.index("Top story")
    text = result.row["text"]
    assert note in text and text.index(note) < text.index("TOP STORY")
    assert "\n\n\n" not in text

    one = build_day(DAY, [enhanced_row(0, quiet_day=True)], settings=SETTINGS, write_files=False)
    assert "A quiet day: 1 story met our bar today." in one.row["text"]


def test_a_full_day_has_no_quiet_note(day12):
    assert not day12.rendered.quiet_day
    assert not LexborHTMLParser(day12.row["html"]).css("p.quiet")
    assert "quiet day" not in day12.row["text"].lower()
    # rows written before the column existed read as null: not quiet
    old = build_day(DAY, [enhanced_row(i, quiet_day=None) for i in range(3)], settings=SETTINGS, write_files=False)
    assert not old.rendered.quiet_day and "quiet day" not in old.row["text"].lower()


def test_plain_text_long_urls_and_titles_wrap():
    long_url = "https://very-long-domain-name.example.com/" + "segment/" * 12 + "article.html"
    rows = [
        enhanced_row(0, url=long_url, title="A " + "remarkably " * 15 + "long headline"),
        enhanced_row(1, summary="Word " * 80 + "end."),
    ]
    res = build_day(DAY, rows, settings=SETTINGS, write_files=False)
    lines = res.row["text"].splitlines()
    assert [ln for ln in lines if len(ln) > 78 and not URL_ONLY.match(ln)] == []
    assert any(ln.strip() == long_url for ln in lines)  # a long URL stands alone, unbroken


def test_newsletter_id_is_deterministic():
    a = build_day(DAY, enhanced_rows(5), settings=SETTINGS, write_files=False).row
    b = build_day(DAY, enhanced_rows(5), settings=SETTINGS, write_files=False).row
    c = build_day(DAY, enhanced_rows(6), settings=SETTINGS, write_files=False).row
    assert a["newsletter_id"] == b["newsletter_id"] != c["newsletter_id"]
    assert uuid.UUID(a["newsletter_id"]).version == 5
    assert a["html"] == b["html"]


def test_build_newsletters_writes_files_and_matches_schema(isolated_env):
    enhanced = pl.DataFrame(enhanced_rows(4), schema_overrides={"partition_date": pl.Date})
    df, results = build_newsletters(enhanced, [DAY], settings=SETTINGS)
    assert df.schema == pl.Schema(NEWSLETTERS)
    assert df.height == 1
    html_path = isolated_env / "output" / "newsletter" / "2026-08-05.html"
    text_path = isolated_env / "output" / "newsletter" / "2026-08-05.txt"
    assert results[0].html_path == html_path and html_path.read_text() == df["html"][0]
    assert text_path.read_text() == df["text"][0]
    assert len(df["subject_candidates"][0]) >= 3
    assert df["subject_line"][0] in df["subject_candidates"][0].to_list()
    assert df["copy_source"][0] == "offline" and df["llm_cost_usd"][0] == 0.0


def test_day_without_picks_has_no_newsletter(tmp_path):
    enhanced = pl.DataFrame(enhanced_rows(2), schema_overrides={"partition_date": pl.Date})
    other = DAY.replace(day=6)
    df, results = build_newsletters(enhanced, [DAY, other], settings=SETTINGS, output_base=tmp_path)
    assert df["partition_date"].to_list() == [DAY]
    assert not (tmp_path / "newsletter" / "2026-08-06.html").exists()


def test_unsafe_links_are_dropped_but_the_story_stays():
    rows = [enhanced_row(0, url="javascript:alert(1)", image_url="data:image/png;base64,AAAA")]
    res = build_day(DAY, rows, settings=SETTINGS, write_files=False)
    doc = inspect(res.row["html"])
    assert rows[0]["title"] in doc.all_text
    assert not doc.find("img")
    assert all(a["href"].startswith(("https://", "http://", "{{")) for t, a in doc.tags if t == "a")
    assert "Read:" not in res.row["text"]
