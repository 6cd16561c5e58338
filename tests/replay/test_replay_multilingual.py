"""A replay clusters with the stored multilingual vectors, as the pipeline does: an unchanged replay
reproduces the published clusters, the cross-language link (English + Chinese title of one story)
included."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from bitbybit_assets.curate.config import curate_config
from bitbybit_assets.curate.embedding_cache import vector_map
from bitbybit_assets.curate.pipeline import curate_days
from bitbybit_assets.curate.scoring import build_prototypes
from bitbybit_assets.curate.text import with_text
from bitbybit_assets.replay.run import replay_days
from bitbybit_assets.schemas import ARTICLE_EMBEDDINGS, SCORED_ARTICLES, conform
from bitbybit_base.settings import runtime_settings
from resources.embeddings import EmbeddingModel
from resources.lakehouse import Lakehouse
from tests.curate.conftest import article, frame

pytestmark = pytest.mark.slow  # loads the MiniLM model (prototypes)

DAY = date(2026, 8, 5)


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_replay_links_languages_with_the_stored_multilingual_vectors(tmp_path, monkeypatch):
    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path / "data"))  # the prototypes' vector cache
    settings = runtime_settings()
    cfg = curate_config(settings)
    ml_model = cfg.embeddings.multilingual_model
    assert ml_model, "the shipped settings cluster across languages"
    filtered = frame(
        [
            article("Zorblax launches Quillon 3, an open-weights AI coding model", day=DAY),
            article("佐布拉克斯发布全新开源编程大模型", day=DAY, feed="36kr", category="news"),
            article("Volcano observatory upgrades its seismic sensor network", day=DAY, feed="hn"),
        ]
    )
    hashes = with_text(filtered, cfg.embeddings.max_chars)["text_hash"].to_list()
    rng = np.random.default_rng(7)
    embeddings = EmbeddingModel(model_name=cfg.embeddings.model, device="cpu", backend="torch")
    minilm = {h: _unit(rng, 384) for h in hashes}  # unrelated in MiniLM: only the second encoder links
    story = _unit(rng, 512)
    multi = {hashes[0]: story, hashes[1]: story, hashes[2]: _unit(rng, 512)}
    title_model = cfg.embeddings.cjk_title_model  # the one Chinese title has a title vector too
    stored = conform(
        pl.DataFrame(
            {
                "partition_date": [DAY] * 7,
                "text_hash": hashes * 2 + [hashes[1]],
                "model": [embeddings.model_id] * 3 + [ml_model] * 3 + [title_model],
                "dim": [384] * 3 + [512] * 3 + [384],
                "embedding": pl.Series(
                    [minilm[h].tolist() for h in hashes]
                    + [multi[h].tolist() for h in hashes]
                    + [_unit(rng, 384).tolist()],
                    dtype=pl.List(pl.Float32),
                ),
            }
        ),
        ARTICLE_EMBEDDINGS,
    )
    protos = build_prototypes(cfg.topics, embeddings.encode)
    published_scored = conform(
        curate_days(
            filtered,
            vector_map(stored, embeddings.model_id),
            None,
            protos,
            cfg,
            ml_vectors=vector_map(stored, ml_model),
            title_vectors=vector_map(stored, title_model),
        ),
        SCORED_ARTICLES,
    )
    cluster = dict(published_scored.select("entry_key", "cluster_id").iter_rows())
    keys = filtered["entry_key"].to_list()
    assert cluster[keys[0]] == cluster[keys[1]] != cluster[keys[2]]

    published = Lakehouse(root=str(tmp_path / "lakehouse"))
    published.write_days("filtered_articles", filtered, DAY, DAY)
    published.write_days("article_embeddings", stored, DAY, DAY)
    published.write_days("scored_articles", published_scored, DAY, DAY)

    result = replay_days(published, "same", settings, DAY, DAY, embeddings=embeddings)
    assert result.encoded == 0  # every encoder's vectors came from the published table
    replayed = Lakehouse(root=result.root).read_days("scored_articles", DAY, DAY)
    assert dict(replayed.select("entry_key", "cluster_id").iter_rows()) == cluster
    assert result.summary["removed"].to_list() == [0] and result.summary["added"].to_list() == [0]
