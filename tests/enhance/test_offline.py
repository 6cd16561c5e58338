"""The offline path: unit behaviour and real feed articles (feedparser + selectolax)."""

from __future__ import annotations

import re

import polars as pl
import pytest

from bitbybit_assets.enhance import offline
from bitbybit_assets.enhance.enhance import EnhancementSettings, enhance_articles, fit_summary
from bitbybit_assets.schemas import ENHANCED_ARTICLES
from tests.enhance.helpers import scored_frame
from tests.enhance.real_articles import feed_path, real_scored

SETTINGS = EnhancementSettings()


def norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


# ---------------------------------------------------------------- units


def test_split_sentences_keeps_abbreviations_and_decimals():
    text = "Dr. Smith joined Acme Inc. in the U.S. last year. The model scored 92.5 on MMLU! Is it good? Yes."
    assert offline.split_sentences(text) == [
        "Dr. Smith joined Acme Inc. in the U.S. last year.",
        "The model scored 92.5 on MMLU!",
        "Is it good?",
        "Yes.",
    ]


def test_split_sentences_joins_inline_breaks():
    assert offline.split_sentences("While many people\nbelieve it works, few checked.\nNew line here.") == [
        "While many people believe it works, few checked.",
        "New line here.",
    ]


def test_boilerplate_is_removed():
    body = offline.clean_body(
        "The real news is here and it matters a lot. Comments on Hacker News. "
        "The post Foo appeared first on Bar. Read more at https://x.example/a. Sign up for our newsletter."
    )
    assert body == "The real news is here and it matters a lot."


def test_html_blocks_skip_captions_headings_and_code():
    html = (
        "<h2>Heading</h2><figure><img src=x><figcaption>A caption.</figcaption></figure>"
        "<p>First paragraph with <a href='#'>a link</a> inside.</p><pre>code()</pre><ul><li>Item one.</li></ul>"
        "<script>alert(1)</script>"
    )
    assert offline.html_blocks(html) == ["First paragraph with a link inside.", "Item one."]


def test_summary_limits():
    text = " ".join(
        f"Sentence number {i} talks about compilers and GPUs in detail for engineers." for i in range(20)
    )
    summary = offline.compose_summary(
        "Compilers and GPUs", text, source="Acme", domain="acme.dev", max_words=40
    )
    sentences = offline.split_sentences(summary)
    assert 2 <= len(sentences) <= 3 and offline.word_count(summary) <= 40


def test_title_only_article_gets_a_sensible_summary_and_preview():
    summary = offline.compose_summary(
        "Show HN: A tiny Rust crate", "", source="Hacker News", domain="github.com", max_words=60
    )
    assert summary == "Show HN: A tiny Rust crate. Shared via Hacker News; the full story is on github.com."
    preview = offline.make_preview("Show HN: A tiny Rust crate", "", source="Hacker News")
    assert preview == "Show HN: A tiny Rust crate. From Hacker News."
    same = offline.compose_summary("Claude 5 is here", "", source="Anthropic", domain="anthropic.com")
    assert same == "Claude 5 is here. The full story is on anthropic.com."


def test_preview_is_the_lead_within_limit():
    text = "First sentence of the lead is here. " + "Another long sentence follows with more words. " * 20
    preview = offline.make_preview("T", text, source="S", max_chars=120)
    assert preview.startswith("First sentence of the lead is here.") and len(preview) <= 120
    long_one = "word " * 100 + "end."
    assert len(offline.make_preview("T", long_one, source="S", max_chars=280)) <= 280


def test_reading_time_and_source_labels():
    assert offline.reading_time_minutes(0) == 1
    assert offline.reading_time_minutes(230) == 1
    assert offline.reading_time_minutes(231) == 2
    assert offline.reading_time_minutes(2300, 230) == 10
    assert offline.source_label("hackernews-frontpage-fulltext") == "Hacker News"
    assert offline.source_label("techcrunch") == "TechCrunch"
    assert offline.source_label("cloudflare-blog") == "Cloudflare Blog"
    assert offline.source_label("anthropic-news-lite") == "Anthropic News"
    assert offline.source_label(None, "example.com") == "example.com"


def test_keyphrases_prefer_names_and_repeated_phrases():
    title = "Travis Kalanick’s robotics startup Atoms taps former Uber finance chief as CFO"
    text = (
        "Kalanick continues to get the band back together, after acquiring Anthony Levandowski's autonomy "
        "startup, and even soliciting investment from Uber itself. Uber said the robotics startup is growing."
    )
    phrases = offline.keyphrases(title, text, k=5)
    assert "travis kalanick" in phrases and "uber" in phrases
    assert not any(p in phrases for p in ("taps", "former", "steps"))
    words = [w for p in phrases for w in p.split()]
    assert len(words) == len(set(words))  # no word in two tags


def test_tags_three_to_five_and_zero_shot_labels_without_model():
    index = offline.LabelIndex(offline.DEFAULT_TOPIC_LABELS, None)
    tags = offline.make_tags(
        "Critical flaw in VPN appliance exploited",
        "Attackers exploit a vulnerability. The security vendor shipped a patch for the vulnerability and the breach.",
        label_index=index,
    )
    assert 3 <= len(tags) <= 5 and tags[0] == "security"
    few = offline.make_tags("Hi", "", label_index=index, content_type="release", source="Acme")
    assert 3 <= len(few) <= 5 and "release" in few


def test_fit_summary_for_model_output():
    long = "One sentence here. " * 5
    assert (
        fit_summary(long, max_words=60, max_sentences=3)
        == "One sentence here. One sentence here. One sentence here."
    )
    assert offline.word_count(fit_summary("word " * 100, max_words=20, max_sentences=3)) <= 20
    assert fit_summary("<b>Bold</b> **claim** here.", max_words=20, max_sentences=3) == "Bold claim here."


def test_enhance_small_frame_contract():
    df = enhance_articles(scored_frame(6, selected_every=2))
    assert df.schema == pl.Schema(ENHANCED_ARTICLES)
    assert df["rank"].to_list() == [1, 3, 5]  # only the picks, by rank
    assert df["summary_source"].to_list() == ["offline"] * 3
    assert df["llm_model"].null_count() == 3
    first = df.row(0, named=True)
    assert first["also_covered_by"] == [
        {"feed_name": "the-verge", "title": "Falcon 3 is here", "url": "https://verge.example/falcon"}
    ]
    assert first["image_url"] == "https://img.example.com/0.jpg"


def test_enhance_empty_and_no_selection():
    assert enhance_articles(scored_frame(0)).height == 0
    none = scored_frame(3).with_columns(selected=pl.lit(False))
    out = enhance_articles(none)
    assert out.height == 0 and out.schema == pl.Schema(ENHANCED_ARTICLES)


# ---------------------------------------------------------------- real articles

REAL_FEEDS = {"techcrunch": 6, "hackernews-frontpage-fulltext": 8, "digg-tech": 3, "anthropic-news-lite": 2}


@pytest.fixture(scope="module")
def real():
    if feed_path("techcrunch") is None or feed_path("hackernews-frontpage-fulltext") is None:
        pytest.skip("feed snapshots for 2026-08-05 not present (sample_data/feeds or ../shared/data/feeds)")
    return real_scored(REAL_FEEDS)


def _check_real(df: pl.DataFrame, scored: pl.DataFrame, settings: EnhancementSettings) -> None:
    assert df.height == scored.height
    texts = {
        r["entry_key"]: norm(offline.article_text(r["content_html"], r["summary_html"], r["clean_text"]))
        for r in scored.iter_rows(named=True)
    }
    for r in df.iter_rows(named=True):
        summary, title = r["summary"], r["title"]
        sentences = offline.split_sentences(summary)
        assert 2 <= len(sentences) <= 3, summary
        assert offline.word_count(summary) <= settings.summary_max_words
        assert "Comments on Hacker News" not in summary and "http" not in summary
        # extractive: every sentence is the title, the source note, or a sentence of the article
        for s in sentences:
            if norm(s) in norm(title) or s.startswith(("Shared via", "The full story is on")):
                continue
            assert norm(s).removesuffix(" …") in texts[r["entry_key"]], s
        assert 3 <= len(r["tags"]) <= 5 and len(set(r["tags"])) == len(r["tags"])
        assert all(t == t.lower() and len(t) <= 30 for t in r["tags"])
        assert 0 < len(r["preview"]) <= settings.preview_max_chars
        assert r["reading_time_minutes"] == offline.reading_time_minutes(
            r["word_count"], settings.words_per_minute
        )
        assert r["summary_source"] == "offline"


def test_offline_path_on_real_articles(real):
    df = enhance_articles(real, settings=SETTINGS)
    _check_real(df, real, SETTINGS)
    by_title = {r["title"]: r for r in df.iter_rows(named=True)}
    # a title-only Hacker News link and a long full-text article
    link_only = next(
        r
        for r in df.iter_rows(named=True)
        if r["feed_name"].startswith("hackernews") and r["word_count"] < 10
    )
    assert link_only["summary"].startswith(link_only["title"].rstrip("."))
    longest = max(df.iter_rows(named=True), key=lambda r: r["word_count"])
    assert longest["reading_time_minutes"] > 3
    assert by_title  # titles are unique enough to index


@pytest.mark.slow
def test_offline_path_on_real_articles_with_minilm(real):
    """The production configuration: MiniLM sentence vectors, KeyBERT-style keyphrases, zero-shot labels."""
    from resources.embeddings import EmbeddingModel

    model = EmbeddingModel(device="cpu", backend="torch")
    subset = real.head(6)
    df = enhance_articles(subset, settings=SETTINGS, encode=model.encode)
    _check_real(df, subset, SETTINGS)
    labels = set(offline.DEFAULT_TOPIC_LABELS)
    assert any(set(t) & labels for t in df["tags"])  # zero-shot labels show up
