"""The learned text score (f_text_score): fitting, out-of-fold scores, row scores, the artefact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bitbybit_assets.curate.ranker import (
    FEATURE_COLUMNS,
    Ranker,
    TextProjection,
    feature_matrix,
    feature_names,
    fit_ranker,
    load_ranker,
)
from bitbybit_assets.curate.text_score import TEXT_FEATURE, fit_text_projection, out_of_fold, row_scores

MODEL = "use-multilingual-v3"


def unit_vectors(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors whose first coordinate decides relevance (0..3), like sentence embeddings."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    relevance = np.digitize(x[:, 0] + rng.normal(scale=0.05, size=n), [-0.1, 0.0, 0.1])
    return x, relevance


def test_the_map_reads_relevance_from_the_vector():
    x, rel = unit_vectors(800, 16)
    proj = fit_text_projection(x, rel, MODEL, l2=0.1)
    assert proj.model == MODEL and len(proj.coef) == 16
    assert int(np.argmax(np.abs(proj.coef))) == 0 and proj.coef[0] > 0
    test_x, test_rel = unit_vectors(400, 16, seed=1)
    s = proj.score(test_x)
    assert s[test_rel >= 2].mean() > s[test_rel < 2].mean() + 1.0
    assert proj.fallback == pytest.approx(float(proj.score(x).mean()))


def test_out_of_fold_scores_come_from_maps_that_never_saw_the_day():
    x, rel = unit_vectors(300, 8)
    days = np.array(["d1", "d2", "d3"])[np.arange(300) % 3]
    oof = out_of_fold(x, rel, days, MODEL, l2=0.1)
    for d in ("d1", "d2", "d3"):
        held = days == d
        alone = fit_text_projection(x[~held], rel[~held], MODEL, l2=0.1).score(x[held])
        assert np.allclose(oof[held], alone)
    # one day only: nothing to hold out against, so the in-sample map scores it
    one = out_of_fold(x[:50], rel[:50], ["d1"] * 50, MODEL, l2=0.1)
    assert np.allclose(one, fit_text_projection(x[:50], rel[:50], MODEL, l2=0.1).score(x[:50]))


def ranker_with(text: TextProjection | None) -> Ranker:
    names = feature_names({})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(names)))
    model = fit_ranker(x, (x[:, 0] > 0).astype(int) * 2, names)
    model.text = text
    return model


def test_row_scores_fall_back_where_no_vector_fits():
    proj = TextProjection(MODEL, [1.0, -2.0], 0.5, fallback=-0.25)
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "wide": np.array([1.0, 0.0, 0.0])}
    model = ranker_with(proj)
    assert row_scores(model, ["a", "b", "nope", None], vectors, MODEL) == [1.5, -1.5, -0.25, -0.25]
    # another model's vectors, or vectors of another size, are not read
    assert row_scores(model, ["a", "b"], vectors, "other-model") == [-0.25, -0.25]
    assert row_scores(model, ["wide"], vectors, MODEL) == [-0.25]
    # no ranker, or a ranker without a text map: no text score
    assert row_scores(None, ["a"], vectors, MODEL) == [None]
    assert row_scores(ranker_with(None), ["a"], vectors, MODEL) == [None]


def test_the_text_map_round_trips_with_the_ranker():
    assert TEXT_FEATURE in FEATURE_COLUMNS
    proj = TextProjection(MODEL, [0.123456789, -1.0, 2.0], -0.5, fallback=0.1)
    model = ranker_with(proj)
    data = json.loads(json.dumps(model.to_json()))
    assert data["text"]["model"] == MODEL and len(data["text"]["coef"]) == 3
    again = Ranker.from_json(data)
    assert again.text == TextProjection(MODEL, [0.123457, -1.0, 2.0], -0.5, 0.1)
    # an artefact from before the text score has no map
    data.pop("text")
    assert Ranker.from_json(data).text is None


def test_the_ranker_scores_the_column_like_any_other_feature():
    names = feature_names({})
    rows = {c: [0.0, 0.0] for c in FEATURE_COLUMNS}
    rows[TEXT_FEATURE] = [2.0, None]
    x = feature_matrix(rows, names)
    assert x[:, names.index(TEXT_FEATURE)].tolist() == [2.0, 0.0]


def test_the_packaged_artefact_carries_a_map_of_the_multilingual_vectors():
    model = load_ranker("default")
    assert model is not None and model.text is not None
    assert model.text.model == MODEL and len(model.text.coef) == 512
    assert TEXT_FEATURE in model.features and model.meta["text_score_model"] == MODEL
