"""The learned ranker: fitting, the JSON artefact round trip, and the packaged artefact itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bitbybit_assets.curate.forest import ForestHead
from bitbybit_assets.curate.ranker import (
    DEFAULT_MODEL_PATH,
    FEATURE_COLUMNS,
    Ranker,
    feature_matrix,
    feature_names,
    fit_ranker,
    load_ranker,
)


def signal_rows(n: int = 600) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    names = feature_names({"content_type": ["news", "funding"]})
    rows = {c: list(rng.normal(size=n)) for c in FEATURE_COLUMNS}
    rows["content_type"] = ["news" if i % 2 else "funding" for i in range(n)]
    signal = np.array(rows["f_topic_similarity"]) + 0.5 * np.array(rows["f_coverage_feeds"])
    noise = np.random.default_rng(1).normal(scale=0.3, size=n)  # its own draws: same with more features
    relevance = np.digitize(signal + noise, [-0.5, 0.5, 1.5])
    return names, feature_matrix(rows, names), relevance, signal


def test_extra_trees_learn_the_signal_explain_it_and_round_trip_through_json():
    names, x, relevance, signal = signal_rows()
    model = fit_ranker(x, relevance, names)  # the default kind
    assert isinstance(model.relevant, ForestHead) and isinstance(model.top, ForestHead)
    scores = model.score(x)
    assert np.corrcoef(scores, signal)[0, 1] > 0.8 and ((scores >= 0) & (scores <= 1)).all()
    again = Ranker.from_json(json.loads(json.dumps(model.to_json())))
    assert isinstance(again.relevant, ForestHead)
    assert np.allclose(again.score(x), scores, atol=1e-4)
    best = int(np.argmax(signal))
    assert model.explain(x[best]).split(" ")[0] in ("f_topic_similarity", "f_coverage_feeds")


def test_an_unknown_kind_is_refused():
    names, x, relevance, _ = signal_rows(60)
    with pytest.raises(ValueError, match="unknown ranker kind"):
        fit_ranker(x, relevance, names, kind="boosted")


def test_logistic_fit_learns_the_signal_and_round_trips_through_json():
    names, x, relevance, signal = signal_rows()
    model = fit_ranker(x, relevance, names, kind="logistic")
    coef = dict(zip(names, model.relevant.coef, strict=True))
    assert coef["f_topic_similarity"] > 1.0 and coef["f_coverage_feeds"] > 0.5
    assert abs(coef["f_title_words"]) < 0.3  # noise stays small
    scores = model.score(x)
    assert np.corrcoef(scores, signal)[0, 1] > 0.8 and ((scores >= 0) & (scores <= 1)).all()
    again = Ranker.from_json(json.loads(json.dumps(model.to_json())))
    assert np.allclose(again.score(x), scores, atol=1e-4)
    assert model.explain(x[0]).split(" ")[0] in names


def test_unknown_categories_and_missing_values_are_zero():
    names = feature_names({"feed_category": ["news"]})
    x = feature_matrix({"f_topic_similarity": [None, 0.5], "feed_category": ["blog", "news"]}, names)
    assert x[0, names.index("f_topic_similarity")] == 0.0 and x[1, names.index("f_topic_similarity")] == 0.5
    assert x[:, names.index("feed_category=news")].tolist() == [0.0, 1.0]


def test_the_packaged_artefact_loads_and_records_how_it_was_trained():
    model = load_ranker("default")
    data = json.loads(DEFAULT_MODEL_PATH.read_text())
    assert model is not None and model.version.startswith("ranker-")
    assert set(FEATURE_COLUMNS) <= set(model.features)
    assert len(model.features) == len(model.mean) == len(model.scale)
    assert data["meta"]["kind"] == "extra_trees" and isinstance(model.relevant, ForestHead)
    assert all(int(f) < len(model.features) for t in model.relevant.trees for f in t.feature)
    assert (
        len(data["meta"]["trained_on"]) >= 3
        and data["meta"]["command"] == "python -m evaluation.train_ranker"
    )
    assert "leave_days_out" in data["meta"]
    assert load_ranker(None) is None
