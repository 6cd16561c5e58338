"""The learned ranker: a small model over features curation already computes.

Pure numpy (no Dagster, no I/O except reading the JSON artefact). The features of a row are
columns of ``scored_articles`` (``FEATURE_COLUMNS`` plus one-hots of ``feed_category`` and
``content_type``), so a pick can be explained from that table alone: ``model_score`` is
``(P(relevance >= 2) + 2 * P(relevance = 3)) / 3``, each probability a head over the standardised
features: extra trees (``curate.forest``, the default ``kind``) or a logistic function (``Head``).
The artefact (``models/ranker.json``) holds the feature names, the scaling, both heads, the pick
floor, the text map of ``f_text_score`` (``TextProjection``, fitted by ``curate.text_score``), the
training days and the cross-validated metrics; ``python -m evaluation.train_ranker`` writes it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bitbybit_assets.curate.forest import ForestHead, fit_forest

DEFAULT_MODEL_PATH = Path(__file__).with_name("models") / "ranker.json"

# Numeric feature columns of scored_articles (all Float64), in the order the model reads them.
FEATURE_COLUMNS: tuple[str, ...] = (
    "f_topic_similarity",  # best cosine to any topic's prototypes (mean of the 2 best per topic)
    "f_offtopic_similarity",  # the same for the off-topic prototypes
    "f_keyword_points",  # keyword-group points (title; lead at a discount), capped
    "f_source_trust",  # feeds.yaml trust, 0..1
    "f_coverage_feeds",  # other feeds carrying the story over the window (distinct feeds - 1)
    "f_coverage_languages",  # other languages the story is told in (distinct languages - 1)
    "f_story_age_days",  # days since the story was first seen (0 = new today)
    "f_text_words",  # log1p(word count of the text)
    "f_title_only",  # 1 when the feed gives a title only
    "f_title_words",  # words in the title
    "f_cjk_share",  # share of CJK letters in the title
    "f_ad_score",  # the ad detector's 0..1 score
    "f_text_score",  # log-odds of relevance >= 2 from the multilingual vector (curate.text_score)
    "f_title_version",  # 1 when the title names a versioned thing ("Gemini 3.7 Flash", "DeepSeek V4")
)
# Categorical columns one-hot encoded as "<column>=<value>" features.
CATEGORICAL_COLUMNS: tuple[str, ...] = ("feed_category", "content_type")


def feature_names(categories: Mapping[str, Sequence[str]]) -> list[str]:
    """Numeric features, then one "<column>=<value>" feature per known category value."""
    names = list(FEATURE_COLUMNS)
    for col in CATEGORICAL_COLUMNS:
        names.extend(f"{col}={v}" for v in categories.get(col, ()))
    return names


def feature_matrix(rows: Mapping[str, Sequence], names: Sequence[str]) -> np.ndarray:
    """(n, len(names)) matrix from column lists (``rows[col]``); unknown categories are all-zero."""
    cols = [c for c in FEATURE_COLUMNS if c in names]
    n = len(rows[cols[0]]) if cols else len(next(iter(rows.values())))
    x = np.zeros((n, len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        if "=" in name:
            col, value = name.split("=", 1)
            vals = rows.get(col) or [None] * n
            x[:, j] = [1.0 if (v or "") == value else 0.0 for v in vals]
        else:
            vals = rows.get(name) or [0.0] * n
            x[:, j] = [0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in vals]
    return x


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass
class Head:
    """One logistic head: P(y = 1) = sigmoid(intercept + coef . standardised x)."""

    intercept: float
    coef: list[float]

    def probability(self, z: np.ndarray) -> np.ndarray:
        return _sigmoid(self.intercept + z @ np.asarray(self.coef))

    def contributions(self, z: np.ndarray) -> np.ndarray:
        """Per feature (of one row, or per row of a matrix), in log-odds."""
        return z * np.asarray(self.coef)

    def to_json(self) -> dict:
        return {"intercept": round(self.intercept, 6), "coef": _r(self.coef)}


RANKER_KINDS = ("extra_trees", "logistic")


def head_from_json(d: Mapping) -> Head | ForestHead:
    return ForestHead.from_json(d) if "trees" in d else Head(float(d["intercept"]), list(d["coef"]))


@dataclass
class TextProjection:
    """``f_text_score`` = intercept + coef . the row's ``model`` vector; ``fallback`` without one."""

    model: str  # the embedding model whose vectors it reads (embeddings.multilingual_model)
    coef: list[float]
    intercept: float
    fallback: float = 0.0  # mean score of the training rows

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.intercept + np.asarray(x, dtype=np.float64) @ np.asarray(self.coef)

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "intercept": round(self.intercept, 6),
            "fallback": round(self.fallback, 6),
            "coef": _r(self.coef),
        }

    @classmethod
    def from_json(cls, d: Mapping) -> TextProjection:
        return cls(
            str(d["model"]), [float(c) for c in d["coef"]], float(d["intercept"]), float(d["fallback"])
        )


@dataclass
class Ranker:
    """A trained ranker (see the module docstring); ``from_json`` / ``to_json`` round-trip it."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    relevant: Head | ForestHead  # P(relevance >= 2)
    top: Head | ForestHead  # P(relevance == 3)
    pick_floor: float = 0.0  # model_score below which a row is never picked (quiet days stay short)
    version: str = ""
    meta: dict = field(default_factory=dict)  # training days, metrics, command
    text: TextProjection | None = None  # the map of f_text_score (when it is a feature)

    def _z(self, x: np.ndarray) -> np.ndarray:
        return (x - np.asarray(self.mean)) / np.asarray(self.scale)

    def probabilities(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = self._z(x)
        p2 = self.relevant.probability(z)
        return p2, np.minimum(self.top.probability(z), p2)

    def score(self, x: np.ndarray) -> np.ndarray:
        """model_score in 0..1."""
        p2, p3 = self.probabilities(x)
        return (p2 + 2.0 * p3) / 3.0

    def explain(self, x_row: np.ndarray, k: int = 3) -> str:
        """The ``k`` largest contributions to the relevance head, e.g. "f_keyword_points +0.12"
        (probability for extra trees, log-odds for the logistic head)."""
        return self.explain_rows(x_row[None, :], k)[0]

    def explain_rows(self, x: np.ndarray, k: int = 3) -> list[str]:
        """``explain`` of every row of ``x`` (one pass over the trees)."""
        contrib = np.atleast_2d(self.relevant.contributions(self._z(x)))
        out = []
        for row in contrib:
            order = np.argsort(-np.abs(row))[:k]
            out.append(", ".join(f"{self.features[i]} {row[i]:+.2f}" for i in order if abs(row[i]) >= 0.01))
        return out

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "features": self.features,
            "mean": [round(v, 6) for v in self.mean],
            "scale": [round(v, 6) for v in self.scale],
            "relevant": self.relevant.to_json(),
            "top": self.top.to_json(),
            "pick_floor": round(self.pick_floor, 4),
            **({"text": self.text.to_json()} if self.text is not None else {}),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, d: Mapping) -> Ranker:
        return cls(
            features=list(d["features"]),
            mean=list(d["mean"]),
            scale=list(d["scale"]),
            relevant=head_from_json(d["relevant"]),
            top=head_from_json(d["top"]),
            pick_floor=float(d.get("pick_floor", 0.0)),
            version=str(d.get("version", "")),
            meta=dict(d.get("meta", {})),
            text=TextProjection.from_json(d["text"]) if d.get("text") else None,
        )


def _r(v: Sequence[float]) -> list[float]:
    return [round(float(c), 6) for c in v]


def load_ranker(path: str | Path | None) -> Ranker | None:
    """The ranker at ``path`` ("default": the packaged artefact; None/"" : no ranker)."""
    if not path:
        return None
    p = DEFAULT_MODEL_PATH if str(path) == "default" else Path(path)
    return Ranker.from_json(json.loads(p.read_text(encoding="utf-8")))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> Head:
    """L2-regularised logistic regression by Newton's method (x already standardised)."""
    n, d = x.shape
    xa = np.hstack([np.ones((n, 1)), x])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[0] = 0.0  # no penalty on the intercept
    for _ in range(iters):
        p = _sigmoid(xa @ w)
        grad = xa.T @ (p - y) + reg * w
        h = (xa * (p * (1 - p))[:, None]).T @ xa + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(h, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return Head(float(w[0]), [float(c) for c in w[1:]])


def fit_ranker(
    x: np.ndarray,
    relevance: np.ndarray,
    features: list[str],
    l2: float = 1.0,
    pick_floor: float = 0.0,
    kind: str = "extra_trees",
) -> Ranker:
    """Both heads on rows ``x`` with labels ``relevance`` (0..3; ads already set to 0).

    ``kind``: ``extra_trees`` (``curate.forest``; ``l2`` unused) or ``logistic`` (L2 ``l2``).
    """
    if kind not in RANKER_KINDS:
        raise ValueError(f"unknown ranker kind {kind!r}; known: {', '.join(RANKER_KINDS)}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    heads: list[Head | ForestHead] = []
    for y in ((relevance >= 2), (relevance >= 3)):
        heads.append(fit_forest(z, y) if kind == "extra_trees" else fit_logistic(z, y.astype(np.float64), l2))
    return Ranker(features, mean.tolist(), scale.tolist(), heads[0], heads[1], pick_floor)
