"""The shared text utilities (bitbybit_assets/text.py): words, sentences, HTML to text."""

from __future__ import annotations

import polars as pl

from bitbybit_assets import text
from bitbybit_assets.text import html_paragraphs, html_to_text, split_sentences, truncate_words, word_count


def test_split_sentences_keeps_abbreviations_and_decimals():
    text = "Dr. Smith joined Acme Inc. in the U.S. last year. The model scored 92.5 on MMLU! Is it good? Yes."
    assert split_sentences(text) == [
        "Dr. Smith joined Acme Inc. in the U.S. last year.",
        "The model scored 92.5 on MMLU!",
        "Is it good?",
        "Yes.",
    ]


def test_split_sentences_joins_inline_breaks():
    assert split_sentences("While many people\nbelieve it works, few checked.\nNew line here.") == [
        "While many people believe it works, few checked.",
        "New line here.",
    ]


def test_html_paragraphs_skip_captions_headings_and_code():
    html = (
        "<h2>Heading</h2><figure><img src=x><figcaption>A caption.</figcaption></figure>"
        "<p>First paragraph with <a href='#'>a link</a> inside.</p><pre>code()</pre><ul><li>Item one.</li></ul>"
        "<script>alert(1)</script>"
    )
    assert html_paragraphs(html) == ["First paragraph with a link inside.", "Item one."]


def test_word_count_counts_cjk_characters_not_spaces():
    assert word_count("Hello world") == 2
    assert word_count("OpenAI 发布了新模型") == 1 + 6  # one Latin word + six ideographs
    assert word_count("한국어 뉴스") == 5  # Hangul syllables
    assert word_count("don't stop, it’s GPT-4") == 5  # apostrophe suffix kept, GPT-4 is two
    assert word_count("") == 0 and word_count(None) == 0
    assert word_count("— … !") == 0


def test_word_count_expr_agrees_with_word_count():
    samples = ["Hello world", "OpenAI 发布了新模型", "don't stop, it’s GPT-4", "한국어 뉴스", "", None, "Ünïcödé café 3.5"]
    counted = pl.DataFrame({"s": samples}).select(text.word_count_expr("s"))["s"].to_list()
    assert counted == [word_count(s) for s in samples]


def test_truncate_words_counts_like_word_count():
    assert truncate_words("one two three four", 2) == "one two…"
    assert truncate_words("one two", 2) == "one two"
    cut = truncate_words("大型语言模型发布了新版本", 4)
    assert cut == "大型语言…" and word_count(cut) == 4


def test_html_to_text_drops_invisible_tags_and_collapses_space():
    assert html_to_text("<div>a<iframe src=x>no</iframe> <p>b&amp;c</p>\n<script>x()</script></div>") == "a b&c"
    assert html_to_text("plain &amp; simple\n text") == "plain & simple text"
    assert html_to_text(None) == ""
