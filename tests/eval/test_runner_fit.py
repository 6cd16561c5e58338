"""evaluation.runner.fit: the text map is fitted with the ranker, on out-of-fold scores only."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from bitbybit_assets.curate.ranker import FEATURE_COLUMNS
from bitbybit_assets.curate.text_score import TEXT_FEATURE, out_of_fold
from evaluation import runner

MODEL = "use-multilingual-v3"


def training_rows(n: int = 240, dim: int = 12) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    target = np.digitize(x[:, 0] + rng.normal(scale=0.05, size=n), [-0.1, 0.0, 0.1])
    cols = {c: rng.normal(size=n).tolist() for c in FEATURE_COLUMNS}
    cols[TEXT_FEATURE] = [None] * n  # a run without a ranker leaves the column empty
    frame = pl.DataFrame(
        {
            **cols,
            "feed_category": ["news"] * n,
            "content_type": ["release" if i % 2 else "news" for i in range(n)],
            "target": target,
            "date": [date(2026, 8, 1) + timedelta(days=i % 4) for i in range(n)],
            "text_hash": [f"h{i}" for i in range(n)],
        }
    )
    vectors = {f"h{i}": x[i] for i in range(n - 10)}  # the last 10 rows have no vector
    return frame, vectors


def test_fit_learns_the_text_map_from_out_of_fold_scores():
    train, vectors = training_rows()
    model = runner.fit(train, ml_vectors=vectors, ml_model=MODEL, kind="logistic")
    assert model.text is not None and model.text.model == MODEL
    assert TEXT_FEATURE in model.features
    coef = dict(zip(model.features, model.relevant.coef, strict=True))
    assert coef[TEXT_FEATURE] > 0.5  # the only feature that carries the signal
    # the scaling is that of the out-of-fold scores (rows without a vector: their mean)
    has = np.array([h in vectors for h in train["text_hash"]])
    y = train["target"].to_numpy()
    v = np.stack([vectors[h] for h in train["text_hash"] if h in vectors])
    oof = out_of_fold(v, y[has], train["date"].to_numpy()[has], MODEL, runner.TEXT_L2)
    assert abs(model.text.fallback - oof.mean()) < 1e-9
    i = model.features.index(TEXT_FEATURE)
    full = np.concatenate([np.round(oof, 4), np.full(10, model.text.fallback)])
    assert abs(model.mean[i] - full.mean()) < 1e-3


def test_without_vectors_the_text_score_is_no_feature():
    train, _ = training_rows()
    model = runner.fit(train)
    assert model.text is None and TEXT_FEATURE not in model.features


def test_the_default_extra_trees_rank_by_the_text_score():
    train, vectors = training_rows()
    model = runner.fit(train, ml_vectors=vectors, ml_model=MODEL)
    assert model.text is not None and TEXT_FEATURE in model.features
    i = model.features.index(TEXT_FEATURE)
    x = np.zeros((2, len(model.features)))
    x[:, i] = [model.mean[i] - 2 * model.scale[i], model.mean[i] + 2 * model.scale[i]]
    low, high = model.score(x)
    assert high > low + 0.2
