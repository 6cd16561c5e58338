"""Dagster wiring: tags for the GPU launcher, the embedding cache across runs, memory across days."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pytest

from bitbybit_assets.curate.assets import GPU_OP_TAGS, article_embeddings, scored_articles
from bitbybit_assets.partitions import DAILY
from bitbybit_assets.schemas import ARTICLE_EMBEDDINGS, SCORED_ARTICLES
from bitbybit_base.settings import runtime_settings
from resources.embeddings import EmbeddingModel
from resources.lakehouse import DeltaIOManager, Lakehouse

from .test_pipeline import crafted

filtered_source = dg.SourceAsset(key="filtered_articles", partitions_def=DAILY)


@pytest.fixture
def lakehouse(tmp_path, monkeypatch, encoder):
    monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", str(tmp_path / "lakehouse"))
    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path / "data"))  # the prototypes' vector cache
    lh = Lakehouse(root=str(tmp_path / "lakehouse"))
    df = crafted()
    for day in (date(2026, 8, 5), date(2026, 8, 6)):
        lh.write_days("filtered_articles", df.filter(pl.col("partition_date") == day), day, day)
    return lh


def run(
    lh: Lakehouse, assets: list, partition: str | None, tags: dict | None = None
) -> dg.ExecuteInProcessResult:
    resources = {
        "lakehouse": lh,
        "io_manager": DeltaIOManager(lakehouse=lh),
        # same configuration as the session's `encoder` fixture, so the model is loaded once
        "embeddings": EmbeddingModel(
            model_name="all-MiniLM-L6-v2", device="cpu", backend="torch", batch_size=16
        ),
        "settings": runtime_settings(),  # the settings file as the test set it up
    }
    return dg.materialize([filtered_source, *assets], partition_key=partition, resources=resources, tags=tags)


def meta(result: dg.ExecuteInProcessResult, key: str) -> dict:
    mats = result.asset_materializations_for_node(key)
    assert mats
    return {k: v.value for k, v in mats[-1].metadata.items()}


def test_gpu_tags():
    for a in (article_embeddings, scored_articles):
        spec = next(iter(a.specs))
        assert spec.tags.get("compute") == "gpu"
        assert a.op.tags.items() >= GPU_OP_TAGS.items()
        assert a.op.tags["bitbybit/compute"] == "gpu"
        assert a.backfill_policy == dg.BackfillPolicy.single_run()
        assert spec.group_name == "curate"


def test_embeddings_are_cached_across_runs(lakehouse, encoder):
    first = run(lakehouse, [article_embeddings], "2026-08-05")
    assert first.success
    m1 = meta(first, "article_embeddings")
    assert m1["encoded"] == m1["texts"] > 0
    calls = encoder.texts_encoded
    again = run(lakehouse, [article_embeddings], "2026-08-05")
    assert meta(again, "article_embeddings")["encoded"] == 0
    assert encoder.texts_encoded == calls  # the encoder saw nothing new
    stored = lakehouse.read_days("article_embeddings", date(2026, 8, 5), date(2026, 8, 5))
    # one row per text and model: MiniLM and the multilingual encoder (cached the same way), and the
    # CJK-title encoder for the rows with a Chinese title
    assert m1["cjk_title_texts"] > 0 and m1["cjk_title_encoded"] == m1["cjk_title_texts"]
    assert meta(again, "article_embeddings")["cjk_title_encoded"] == 0
    models = ["all-MiniLM-L6-v2", m1["multilingual_model"], m1["cjk_title_model"]]
    assert sorted(stored["model"].unique().to_list()) == sorted(models)
    assert stored.filter(pl.col("model") == m1["cjk_title_model"]).height == m1["cjk_title_texts"] < m1["texts"]
    assert stored.filter(pl.col("model") == "all-MiniLM-L6-v2").height == m1["texts"]
    assert m1["multilingual_encoded"] == m1["texts"]
    assert meta(again, "article_embeddings")["multilingual_encoded"] == 0
    assert set(ARTICLE_EMBEDDINGS) <= set(stored.columns)
    # day 2: only its two new texts are encoded
    day2 = run(lakehouse, [article_embeddings], "2026-08-06")
    assert meta(day2, "article_embeddings")["encoded"] == 2


def test_scored_articles_two_days_with_memory(lakehouse):
    for day in ("2026-08-05", "2026-08-06"):
        result = run(lakehouse, [article_embeddings, scored_articles], day)
        assert result.success
    m = meta(result, "scored_articles")
    assert "| day | rank | title |" in m["picks"]
    assert m["selected"] >= 1 and m["history_rows"] > 0
    day2 = lakehouse.read_days("scored_articles", date(2026, 8, 6), date(2026, 8, 6))
    assert set(SCORED_ARTICLES) <= set(day2.columns)
    again = day2.filter(pl.col("title").str.starts_with("Quillon 3 from Zorblax")).row(0, named=True)
    assert (
        again["previously_sent"] and again["selection_reason"] == "not selected: already sent on 2026-08-05"
    )


def test_single_run_backfill_matches_day_by_day(lakehouse, tmp_path):
    tags = {
        "dagster/asset_partition_range_start": "2026-08-05",
        "dagster/asset_partition_range_end": "2026-08-06",
    }
    result = run(lakehouse, [article_embeddings, scored_articles], None, tags)
    assert result.success
    both = lakehouse.read_days("scored_articles", date(2026, 8, 5), date(2026, 8, 6))
    assert both["partition_date"].n_unique() == 2
    again = both.filter(pl.col("title").str.starts_with("Quillon 3 from Zorblax")).row(0, named=True)
    assert again["previously_sent"]


def test_scoring_reuses_the_prototypes_embedded_with_the_articles(lakehouse, encoder):
    """article_embeddings embeds the topic prototypes while its model is loaded (into the disk cache),
    so scored_articles encodes nothing and does not load the model again."""
    assert run(lakehouse, [article_embeddings], "2026-08-05").success
    calls = encoder.texts_encoded
    embeddings_source = dg.SourceAsset(key="article_embeddings", partitions_def=DAILY)
    assert run(lakehouse, [embeddings_source, scored_articles], "2026-08-05").success
    assert encoder.texts_encoded == calls
