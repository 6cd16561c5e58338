"""The offline summary and preview (bitbybit_assets/enhance/summary.py)."""

from __future__ import annotations

from bitbybit_assets.enhance import summary as offline
from bitbybit_assets.text import split_sentences, word_count


def test_boilerplate_is_removed():
    body = offline.clean_body(
        "The real news is here and it matters a lot. Comments on Hacker News. "
        "The post Foo appeared first on Bar. Read more at https://x.example/a. Sign up for our newsletter."
    )
    assert body == "The real news is here and it matters a lot."


def test_summary_limits():
    text = " ".join(
        f"Sentence number {i} talks about compilers and GPUs in detail for engineers." for i in range(20)
    )
    summary = offline.compose_summary(
        "Compilers and GPUs", text, source="Acme", domain="acme.dev", max_words=40
    )
    sentences = split_sentences(summary)
    assert 2 <= len(sentences) <= 3 and word_count(summary) <= 40


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


def test_article_text_prefers_paragraphs_and_counts_cjk_words():
    html = "<p>" + "The body paragraph carries the story of the release in detail. " * 3 + "</p><h2>Head</h2>"
    assert offline.article_text(html, None, "short fallback") == " ".join(
        ["The body paragraph carries the story of the release in detail."] * 3
    ).replace(". ", ".\n")
    # a Chinese paragraph is many words, not one: it is chosen over a shorter clean text
    zh = "<p>开源大模型今天发布了新的版本，性能大幅提升。</p>"
    assert offline.article_text(zh, None, "a b c d e f g h") == "开源大模型今天发布了新的版本，性能大幅提升。"


def test_is_candidate_uses_cjk_word_count():
    zh = "研究人员发布了一个新的开源模型并公开了权重."  # 21 words, not one
    assert offline.is_candidate(zh, min_words=8) and not offline.is_candidate(zh, max_words=10)
    assert not offline.is_candidate("Too short.", min_words=5)
