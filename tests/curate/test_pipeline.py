"""curate_days end to end on crafted articles with the real model: every field, every decision."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from bitbybit_assets.curate.config import curate_config
from bitbybit_assets.curate.embedding_cache import embedding_rows, vector_map
from bitbybit_assets.curate.pipeline import curate_days
from bitbybit_assets.curate.ranker import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    TextProjection,
    feature_matrix,
    load_ranker,
)
from bitbybit_assets.curate.scoring import CONTENT_TYPES, build_prototypes
from bitbybit_assets.curate.text import with_text
from bitbybit_assets.schemas import SCORED_ARTICLES

from .conftest import article, frame

D1, D2 = date(2026, 8, 5), date(2026, 8, 6)
QUILLON_TEXT = (
    "Zorblax released Quillon 3, an open-weights large language model for code. The AI model tops "
    "coding benchmarks and is available to developers under an open licence."
)


def crafted() -> pl.DataFrame:
    kept = article("Zorblax launches Quillon 3, an open-weights AI coding model", text=QUILLON_TEXT)
    rows = [
        kept,
        article(
            "Zorblax's Quillon 3 open-weights coding model is here",
            feed="hn",
            category="aggregator",
            trust=0.8,
            text=QUILLON_TEXT[:120],
        ),
        article(
            "Zorblax launches Quillon 3, an open-weights AI coding model",
            feed="tc-startups",
            trust=0.8,
            text=QUILLON_TEXT,
            url=kept["url"],
            passed=False,
            reason="duplicate_url",
            duplicate_of=kept["entry_key"],
        ),
        article("Zyxt (YC W24) Is Hiring a Founding Engineer", feed="hn", category="aggregator", trust=0.8),
        article(
            "Vantor raises $80M to build AI-powered warehouse robots",
            text="Vantor, a robotics startup, raised $80M.",
        ),
        article(
            "How bonuses at investment banks changed this year",
            feed="careers",
            category="careers",
            trust=0.3,
            text="Bankers in London saw bonuses fall as trading revenue dropped.",
        ),
        article("北京今天下雨 气温下降", feed="zh-news", passed=False, reason="language"),
        article(
            "Quillon 3 from Zorblax: open-weights coding model benchmarks",
            day=D2,
            feed="hn",
            category="aggregator",
            trust=0.8,
            text=QUILLON_TEXT,
        ),
        article(
            "Researchers find a zero-day vulnerability in a popular VPN client",
            day=D2,
            text="Security researchers disclosed a flaw that leaks users' IP addresses.",
        ),
    ]
    return frame(rows)


@pytest.fixture(scope="module")
def scored(encoder) -> pl.DataFrame:
    cfg = curate_config()
    filtered = crafted()
    rows, _ = embedding_rows(with_text(filtered), None, encoder.encode, "all-MiniLM-L6-v2")
    protos = build_prototypes(cfg.topics, encoder.encode)
    return curate_days(filtered, vector_map(rows), None, protos, cfg)


def row(scored: pl.DataFrame, title_start: str, feed: str | None = None) -> dict:
    df = scored.filter(pl.col("title").str.starts_with(title_start))
    if feed:
        df = df.filter(pl.col("feed_name") == feed)
    assert df.height == 1, (title_start, df.height)
    return df.row(0, named=True)


def test_contract_all_rows_kept(scored):
    assert scored.schema == pl.Schema(SCORED_ARTICLES)
    assert scored.height == crafted().height
    assert scored["selection_reason"].null_count() == 0
    for col in ("quality_score", "tech_relevance_score"):
        vals = scored[col].to_list()
        assert all(0 <= v <= 10 and round(v, 2) == v for v in vals)
    assert set(scored["content_type"].to_list()) <= set(CONTENT_TYPES)
    assert all(0 <= v <= 1 for v in scored["ad_score"].to_list())


def test_day_one_decisions(scored):
    tc = row(scored, "Zorblax launches", "techcrunch")
    hn = row(scored, "Zorblax's Quillon 3")
    dup = row(scored, "Zorblax launches", "tc-startups")
    assert tc["cluster_id"] == hn["cluster_id"] == dup["cluster_id"]
    assert tc["cluster_size"] == 3
    assert tc["is_canonical"] and not hn["is_canonical"]  # more trusted source
    assert hn["canonical_entry_key"] == tc["entry_key"]
    assert tc["selected"] and tc["selection_reason"].startswith("selected: rank")
    assert not hn["selected"] and hn["selection_reason"].startswith("not selected: duplicate of story")
    assert {c["feed_name"] for c in tc["also_covered_by"]} == {"hn", "tc-startups"}
    assert hn["also_covered_by"] == []
    assert dup["selection_reason"] == "not selected: filtered (duplicate_url)"
    assert "ai-models" in tc["topics"] or "ai-agents-and-coding" in tc["topics"]

    ad = row(scored, "Zyxt (YC W24)")
    assert ad["is_advertisement"] and ad["ad_reason"] and not ad["selected"]
    assert ad["selection_reason"] == "not selected: advertisement" and ad["rank"] is None

    bank = row(scored, "How bonuses")
    assert not bank["selected"] and bank["tech_relevance_score"] < 4
    assert bank["selection_reason"] == "not selected: below the ranker's quality floor"
    assert bank["model_score"] < load_ranker("default").pick_floor

    zh = row(scored, "北京")
    assert zh["selection_reason"] == "not selected: filtered (language)" and not zh["selected"]

    vantor = row(scored, "Vantor")
    assert vantor["content_type"] == "funding"


def test_day_two_remembers_what_was_sent(scored):
    again = row(scored, "Quillon 3 from Zorblax")
    first = row(scored, "Zorblax launches", "techcrunch")
    assert again["cluster_id"] == first["cluster_id"]
    assert again["previously_sent"] and not again["selected"]
    assert again["selection_reason"] == "not selected: already sent on 2026-08-05"
    vpn = row(scored, "Researchers find a zero-day")
    assert vpn["selected"] and not vpn["previously_sent"]


def test_ranks_are_contiguous_per_day(scored):
    for day in (D1, D2):
        ranks = sorted(scored.filter(pl.col("partition_date") == day)["rank"].drop_nulls().to_list())
        assert ranks == list(range(1, len(ranks) + 1))


def test_history_from_an_earlier_run_gives_the_same_result(encoder, scored):
    """Day 2 alone, with day 1 read back as stored history, decides as the two-day run did."""
    cfg = curate_config()
    filtered = crafted()
    rows, _ = embedding_rows(with_text(filtered), None, encoder.encode, "all-MiniLM-L6-v2")
    protos = build_prototypes(cfg.topics, encoder.encode)
    history = scored.filter(pl.col("partition_date") == D1)
    day2 = curate_days(
        filtered.filter(pl.col("partition_date") == D2), vector_map(rows), history, protos, cfg
    )
    expected = scored.filter(pl.col("partition_date") == D2)
    assert (
        day2.select("entry_key", "cluster_id", "selected", "selection_reason")
        .sort("entry_key")
        .equals(expected.select("entry_key", "cluster_id", "selected", "selection_reason").sort("entry_key"))
    )


def test_picks_are_explained_by_the_feature_columns_alone(scored):
    """model_score and final_score are reproduced from scored_articles columns and the artefact."""
    model = load_ranker("default")
    x = feature_matrix(
        {c: scored[c].to_list() for c in (*FEATURE_COLUMNS, *CATEGORICAL_COLUMNS)}, model.features
    )
    assert [round(float(v), 4) for v in model.score(x)] == scored["model_score"].to_list()
    assert set(scored["ranker_version"].to_list()) == {model.version}
    for r in scored.filter(pl.col("passed_filter") & ~pl.col("is_advertisement")).iter_rows(named=True):
        same_story = scored.filter(
            (pl.col("cluster_id") == r["cluster_id"])
            & (pl.col("partition_date") == r["partition_date"])
            & pl.col("passed_filter")
            & ~pl.col("is_advertisement")
        )
        best = max(same_story["model_score"].to_list())
        assert r["final_score"] == round(10 * best * (1 - r["ad_score"]), 4)
        assert r["score_explanation"]
    tc = row(scored, "Zorblax launches", "techcrunch")
    assert tc["f_coverage_feeds"] == 2.0 and tc["f_story_age_days"] == 0.0
    assert row(scored, "Quillon 3 from Zorblax")["f_story_age_days"] == 1.0
    assert row(scored, "Quillon 3 from Zorblax")["f_title_version"] == 0.0  # "Quillon 3": no dotted version


def test_hand_weighted_formula_without_a_ranker(encoder):
    cfg = curate_config()
    filtered = crafted()
    rows, _ = embedding_rows(with_text(filtered), None, encoder.encode, "all-MiniLM-L6-v2")
    protos = build_prototypes(cfg.topics, encoder.encode)
    out = curate_days(filtered, vector_map(rows), None, protos, cfg, ranker=None)
    bank = row(out, "How bonuses")
    assert bank["selection_reason"] == "not selected: below min_relevance"
    assert out["model_score"].null_count() == out.height and out["ranker_version"].null_count() == out.height


def test_the_text_score_column_comes_from_the_multilingual_vector(encoder):
    """f_text_score is the ranker's text map of the row's multilingual vector (its fallback without)."""
    cfg = curate_config()
    filtered = crafted()
    texts = with_text(filtered)
    rows, _ = embedding_rows(texts, None, encoder.encode, "all-MiniLM-L6-v2")
    protos = build_prototypes(cfg.topics, encoder.encode)
    model = load_ranker("default")
    model.text = TextProjection(cfg.embeddings.multilingual_model, [1.0, -1.0, 0.5], 0.2, fallback=-3.0)
    rng = np.random.default_rng(0)
    hashes = texts["text_hash"].to_list()
    missing = hashes[-1]  # the VPN story has no multilingual vector
    ml = {h: rng.normal(size=3) for h in hashes if h != missing}
    out = curate_days(filtered, vector_map(rows), None, protos, cfg, model, ml)
    by_hash = dict(zip(out["text_hash"].to_list(), out["f_text_score"].to_list(), strict=True))
    assert by_hash[missing] == -3.0
    for h in ml:
        assert by_hash[h] == round(0.2 + float(ml[h] @ np.array([1.0, -1.0, 0.5])), 4)
    x = feature_matrix(
        {c: out[c].to_list() for c in (*FEATURE_COLUMNS, *CATEGORICAL_COLUMNS)}, model.features
    )
    assert [round(float(v), 4) for v in model.score(x)] == out["model_score"].to_list()
    # the hand formula has no text score
    plain = curate_days(filtered, vector_map(rows), None, protos, cfg, None, ml)
    assert plain["f_text_score"].null_count() == plain.height
