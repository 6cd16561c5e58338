"""The offline path of enhance_articles: small frames and real feed articles (feedparser + selectolax)."""

from __future__ import annotations

import re

import polars as pl
import pytest

from bitbybit_assets.enhance.enhance import EnhancementSettings, enhance_articles, fit_summary
from bitbybit_assets.enhance.summary import article_text, reading_time_minutes
from bitbybit_assets.enhance.tags import DEFAULT_TOPIC_LABELS
from bitbybit_assets.schemas import ENHANCED_ARTICLES
from bitbybit_assets.text import split_sentences, word_count
from tests.enhance.helpers import scored_frame
from tests.enhance.real_articles import feed_path, real_scored

SETTINGS = EnhancementSettings()


def norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


# ---------------------------------------------------------------- units


def test_fit_summary_for_model_output():
    long = "One sentence here. " * 5
    assert (
        fit_summary(long, max_words=60, max_sentences=3)
        == "One sentence here. One sentence here. One sentence here."
    )
    assert word_count(fit_summary("word " * 100, max_words=20, max_sentences=3)) <= 20
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
        r["entry_key"]: norm(article_text(r["content_html"], r["summary_html"], r["clean_text"]))
        for r in scored.iter_rows(named=True)
    }
    for r in df.iter_rows(named=True):
        summary, title = r["summary"], r["title"]
        sentences = split_sentences(summary)
        assert 2 <= len(sentences) <= 3, summary
        assert word_count(summary) <= settings.summary_max_words
        assert "Comments on Hacker News" not in summary and "http" not in summary
        # extractive: every sentence is the title, the source note, or a sentence of the article
        for s in sentences:
            if norm(s) in norm(title) or s.startswith(("Shared via", "The full story is on")):
                continue
            assert norm(s).removesuffix(" …") in texts[r["entry_key"]], s
        assert 3 <= len(r["tags"]) <= 5 and len(set(r["tags"])) == len(r["tags"])
        assert all(t == t.lower() and len(t) <= 30 for t in r["tags"])
        assert 0 < len(r["preview"]) <= settings.preview_max_chars
        assert r["reading_time_minutes"] == reading_time_minutes(
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
def test_offline_path_on_real_articles_with_minilm(real, tmp_path, monkeypatch):
    """The production configuration: MiniLM sentence vectors, KeyBERT-style keyphrases, zero-shot labels."""
    from resources.embeddings import EmbeddingModel

    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path))  # encode() memoises under <data dir>
    model = EmbeddingModel(device="cpu", backend="torch")
    subset = real.head(6)
    df = enhance_articles(subset, settings=SETTINGS, encode=model.encode)
    _check_real(df, subset, SETTINGS)
    labels = set(DEFAULT_TOPIC_LABELS)
    assert any(set(t) & labels for t in df["tags"])  # zero-shot labels show up


def test_offline_path_encodes_the_day_in_one_call(real, monkeypatch):
    """The summaries and tags of all picks are encoded in one call (full, length-sorted batches);
    the result equals the one-article-at-a-time path's."""
    import numpy as np

    from bitbybit_assets.enhance import enhance as enhance_module
    from bitbybit_assets.enhance.vectors import BatchedEncoder, tfidf_encoder

    subset = real.head(8)
    vocab = tfidf_encoder([f"{t} {b}" for t, b in zip(subset["title"], subset["clean_text"], strict=True)])
    calls: list[int] = []

    def counted(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return vocab(texts)

    batched = enhance_articles(subset, settings=SETTINGS, encode=counted)
    assert len(calls) == 2  # the topic labels once, then every article's texts together
    assert calls[1] > 8 * 10

    class Unbatched(BatchedEncoder):
        """Each summary and tag step encodes its own texts, as before the priming."""

        def prime(self, texts):
            pass

        def __call__(self, texts):
            return self.encode(texts)

    monkeypatch.setattr(enhance_module, "BatchedEncoder", Unbatched)
    calls.clear()
    single = enhance_articles(subset, settings=SETTINGS, encode=counted)
    assert len(calls) > 8  # one call or more per article
    assert single.select("summary", "tags").equals(batched.select("summary", "tags"))
