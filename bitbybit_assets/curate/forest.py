"""Tree-ensemble heads of the learned ranker: extra trees, fitted by scikit-learn, read in numpy.

A ``ForestHead`` is P(y = 1) as the mean over its trees of the class-1 share of the training rows in
the leaf a row falls into. Fitting (``fit_forest``) uses scikit-learn's ``ExtraTreesClassifier``
(imported only there: training is ``make train-ranker`` and ``make evaluate``); the pipeline evaluates
the trees from the JSON artefact with numpy alone. ``contributions`` splits a row's probability into
one share per feature along its decision paths (the change of the node's share at each split on that
feature, averaged over the trees), so ``base + contributions.sum() == probability``: the explanation
the ``score_explanation`` column shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

KIND = "extra_trees"
# Chosen on a score-only leave-one-day-out test (EVALUATION.md, "Extra-trees ranker"): leaves of at
# least 20 rows and half the features per split; 15 and 30-70 rows per leaf were worse.
N_TREES = 100
MIN_LEAF = 20
MAX_FEATURES = 0.5


@dataclass
class Tree:
    """One fitted tree as flat arrays (node 0 is the root; ``left == -1`` marks a leaf)."""

    left: np.ndarray  # int32 child index for ``x[feature] <= threshold``
    right: np.ndarray  # int32
    feature: np.ndarray  # int32 column of the (standardised) feature matrix
    threshold: np.ndarray  # float64
    value: np.ndarray  # float64: class-1 share of the training rows reaching the node

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """The leaf node of each row of ``x``."""
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        while True:
            inner = self.left[node] >= 0
            if not inner.any():
                return node
            r, n = rows[inner], node[inner]
            go_left = x[r, self.feature[n]] <= self.threshold[n]
            node[r] = np.where(go_left, self.left[n], self.right[n])

    def add_contributions(self, x: np.ndarray, out: np.ndarray) -> None:
        """Add to ``out[row, feature]`` the change of the class-1 share at each split on that feature
        along each row's path (all rows at once, one step per tree level)."""
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        while True:
            inner = self.left[node] >= 0
            if not inner.any():
                return
            r, n = rows[inner], node[inner]
            f = self.feature[n]
            child = np.where(x[r, f] <= self.threshold[n], self.left[n], self.right[n])
            np.add.at(out, (r, f), self.value[child] - self.value[n])
            node[r] = child

    def to_json(self) -> dict:
        return {
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "feature": self.feature.tolist(),
            "threshold": [round(float(t), 6) for t in self.threshold],
            "value": [round(float(v), 5) for v in self.value],
        }

    @classmethod
    def from_json(cls, d: Mapping) -> Tree:
        return cls(
            np.asarray(d["left"], dtype=np.int32),
            np.asarray(d["right"], dtype=np.int32),
            np.asarray(d["feature"], dtype=np.int32),
            np.asarray(d["threshold"], dtype=np.float64),
            np.asarray(d["value"], dtype=np.float64),
        )


@dataclass
class ForestHead:
    """P(y = 1) = mean over ``trees`` of the leaf's class-1 share."""

    trees: list[Tree]

    def probability(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        total = np.zeros(len(x))
        for tree in self.trees:
            total += tree.value[tree.leaves(x)]
        return total / max(len(self.trees), 1)

    def base(self) -> float:
        """The mean root share: the probability before any split (``probability = base + contributions``)."""
        return float(np.mean([t.value[0] for t in self.trees])) if self.trees else 0.0

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per row and feature (``x`` is (n, d), or one row (d,))."""
        x = np.asarray(x, dtype=np.float64)
        rows = np.atleast_2d(x)
        out = np.zeros(rows.shape)
        for tree in self.trees:
            tree.add_contributions(rows, out)
        out /= max(len(self.trees), 1)
        return out[0] if x.ndim == 1 else out

    def to_json(self) -> dict:
        return {"kind": KIND, "trees": [t.to_json() for t in self.trees]}

    @classmethod
    def from_json(cls, d: Mapping) -> ForestHead:
        if d.get("kind") != KIND:
            raise ValueError(f"not a {KIND} head: kind={d.get('kind')!r}")
        return cls([Tree.from_json(t) for t in d["trees"]])


def fit_forest(
    x: np.ndarray,
    y: np.ndarray,
    n_trees: int = N_TREES,
    min_leaf: int = MIN_LEAF,
    max_features: float = MAX_FEATURES,
    seed: int = 0,
) -> ForestHead:
    """Extra trees on rows ``x`` with binary labels ``y`` (scikit-learn; deterministic for a seed)."""
    from sklearn.ensemble import ExtraTreesClassifier  # training only (make train-ranker / evaluate)

    y = np.asarray(y).astype(bool)
    if y.all() or not y.any():  # one class: a constant head
        share = float(y.mean()) if len(y) else 0.0
        leaf = np.array([-1], dtype=np.int32)
        const = Tree(leaf, leaf.copy(), np.zeros(1, np.int32), np.zeros(1), np.array([share]))
        return ForestHead([const])
    model = ExtraTreesClassifier(
        n_estimators=n_trees, min_samples_leaf=min_leaf, max_features=max_features, random_state=seed, n_jobs=1
    ).fit(np.asarray(x, dtype=np.float64), y)
    positive = list(model.classes_).index(True)
    trees = []
    for est in model.estimators_:
        t = est.tree_
        counts = t.value[:, 0, :]
        share = counts[:, positive] / np.maximum(counts.sum(axis=1), 1e-12)
        trees.append(
            Tree(
                t.children_left.astype(np.int32),
                t.children_right.astype(np.int32),
                np.maximum(t.feature, 0).astype(np.int32),  # leaves carry -2; never read
                t.threshold.astype(np.float64),
                share.astype(np.float64),
            )
        )
    return ForestHead(trees)
