"""The extra-trees heads of the ranker: numpy evaluation equals scikit-learn's, explanations add up."""

from __future__ import annotations

import json

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier

from bitbybit_assets.curate.forest import MIN_LEAF, N_TREES, ForestHead, fit_forest


def data(n: int = 500, d: int = 8, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = (x[:, 0] + 0.5 * x[:, 1] * (x[:, 2] > 0) + rng.normal(scale=0.4, size=n)) > 0.5
    return x, y


def test_numpy_probabilities_equal_scikit_learns():
    x, y = data()
    head = fit_forest(x, y, seed=3)
    reference = ExtraTreesClassifier(
        n_estimators=N_TREES, min_samples_leaf=MIN_LEAF, max_features=0.5, random_state=3, n_jobs=1
    ).fit(x, y)
    fresh = np.random.default_rng(9).normal(size=(200, x.shape[1]))
    assert np.allclose(head.probability(fresh), reference.predict_proba(fresh)[:, 1], atol=1e-9)
    assert len(head.trees) == N_TREES


def test_the_signal_is_learned_and_noise_contributes_little():
    x, y = data(n=800)
    head = fit_forest(x, y)
    p = head.probability(x)
    assert ((p >= 0) & (p <= 1)).all()
    assert p[y].mean() > p[~y].mean() + 0.3
    contrib = np.abs(np.stack([head.contributions(r) for r in x[:100]])).mean(axis=0)
    assert contrib[0] == contrib.max() and contrib[0] > 3 * contrib[5:].max()


def test_contributions_add_up_to_the_probability():
    x, y = data()
    head = fit_forest(x, y)
    for row in x[:20]:
        total = head.base() + head.contributions(row).sum()
        assert abs(total - head.probability(row[None, :])[0]) < 1e-9
    matrix = head.contributions(x)  # all rows at once: the same figures
    assert np.allclose(matrix[:20], np.stack([head.contributions(r) for r in x[:20]]))
    assert np.allclose(head.base() + matrix.sum(axis=1), head.probability(x))


def test_json_round_trip_keeps_scores_within_rounding():
    x, y = data()
    head = fit_forest(x, y)
    again = ForestHead.from_json(json.loads(json.dumps(head.to_json())))
    assert np.allclose(again.probability(x), head.probability(x), atol=1e-4)


def test_one_class_gives_a_constant_head():
    x, _ = data(n=50)
    head = fit_forest(x, np.zeros(50, dtype=bool))
    assert np.allclose(head.probability(x), 0.0)
    assert ForestHead.from_json(head.to_json()).probability(x[:3]).tolist() == [0.0, 0.0, 0.0]


def test_a_logistic_head_is_not_read_as_a_forest():
    import pytest

    with pytest.raises(ValueError, match="extra_trees"):
        ForestHead.from_json({"intercept": 0.0, "coef": [1.0]})
