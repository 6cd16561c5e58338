"""The learned text score ``f_text_score``: one linear map of a row's multilingual sentence vector.

Pure numpy. ``f_text_score`` is the log-odds that a row is relevance >= 2, read from its
``embeddings.multilingual_model`` vector (USE multilingual v3, 512 floats, already stored in
``article_embeddings``) by an L2-regularised logistic regression over the raw vector, fitted on the
ranker's training rows. The ranker takes it as one more feature, so a pick stays explainable from
``scored_articles`` columns; the map (``ranker.TextProjection``) is saved in the ranker's artefact.

A ranker trained on scores the map has already seen would overrate them, so it is trained on
out-of-fold scores (``out_of_fold``: each training day scored by a map fitted on the other training
days); the map applied when scoring is fitted on every training row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from bitbybit_assets.curate.ranker import Ranker, TextProjection, fit_logistic

log = logging.getLogger(__name__)

TEXT_FEATURE = "f_text_score"
# L2 of the map on the raw (unit-length) vectors: chosen on a score-only leave-days-out test; 0.03 to 1
# give the same figures within 0.005 nDCG (EVALUATION.md, "Text score")
TEXT_L2 = 0.1


def fit_text_projection(
    x: np.ndarray, relevance: np.ndarray, model: str, l2: float = TEXT_L2
) -> TextProjection:
    """The map fitted on vectors ``x`` (n, dim) with labels ``relevance`` (0..3; ads already 0)."""
    y = (np.asarray(relevance) >= 2).astype(np.float64)
    head = fit_logistic(np.asarray(x, dtype=np.float64), y, l2)
    proj = TextProjection(model, head.coef, head.intercept)
    proj.fallback = float(proj.score(x).mean()) if len(y) else 0.0
    return proj


def out_of_fold(
    x: np.ndarray, relevance: np.ndarray, groups: Sequence, model: str, l2: float = TEXT_L2
) -> np.ndarray:
    """Each row scored by a map fitted without its group (its day): the ranker's training values."""
    keys = np.asarray([str(g) for g in groups])
    if len(np.unique(keys)) < 2:  # nothing to hold out against
        return fit_text_projection(x, relevance, model, l2).score(x)
    out = np.zeros(len(keys))
    for g in np.unique(keys):
        held = keys == g
        out[held] = fit_text_projection(x[~held], relevance[~held], model, l2).score(x[held])
    return out


def row_scores(
    ranker: Ranker | None,
    hashes: Sequence[str | None],
    vectors: Mapping[str, np.ndarray] | None,
    model: str | None,
) -> list[float | None]:
    """``f_text_score`` of rows by text hash: None without a text map, its fallback where no vector fits.

    ``vectors`` are ``model``'s (``embeddings.multilingual_model``); another model's are not read.
    """
    projection = ranker.text if ranker is not None else None
    if projection is None:
        return [None] * len(hashes)
    out = [projection.fallback] * len(hashes)
    if model != projection.model:
        log.warning("text score: the map reads %s vectors, this run has %s", projection.model, model)
        vectors = None
    idx = [i for i, h in enumerate(hashes) if vectors and h and h in vectors]
    if idx and vectors:
        x = np.stack([np.asarray(vectors[str(hashes[i])], dtype=np.float64) for i in idx])
        if x.shape[1] == len(projection.coef):
            for i, s in zip(idx, projection.score(x), strict=True):
                out[i] = float(s)
        else:
            log.warning("text score: %d-d vectors, the map has %d weights", x.shape[1], len(projection.coef))
    return [round(v, 4) for v in out]
