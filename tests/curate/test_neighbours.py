"""Sub-quadratic similarity: cell-blocked pair search, clustering and MMR selection on large days."""

from __future__ import annotations

import numpy as np
import pytest

from bitbybit_assets.curate import neighbours, selection
from bitbybit_assets.curate.clustering import ClusterRows, assign_clusters
from bitbybit_assets.curate.neighbours import Similarity, close_pairs
from bitbybit_assets.curate.selection import Candidate, select
from bitbybit_base.settings import CurationSettings

THRESHOLD = 0.86


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _near(base: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """Rows at an expected cosine ``cosine`` to ``base``."""
    sigma = np.sqrt((1.0 / cosine**2 - 1.0) / base.shape[-1])
    return _unit(base + rng.standard_normal(base.shape) * sigma)


def synthetic_day(n_stories: int = 900, dim: int = 96, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings shaped like a news day: topics, stories within topics, 1-6 copies of each story."""
    rng = np.random.default_rng(seed)
    topics = _unit(rng.standard_normal((24, dim)))
    stories = _near(topics[rng.integers(0, 24, n_stories)], 0.6, rng)
    story_of = np.repeat(np.arange(n_stories), rng.integers(1, 7, n_stories))
    return _near(stories[story_of], 0.95, rng), story_of


def _exact(emb: np.ndarray, query: np.ndarray) -> set[tuple[int, int]]:
    i, j = np.nonzero(emb[query] @ emb.T >= THRESHOLD)
    return {(int(query[a]), int(b)) for a, b in zip(i, j, strict=True) if query[a] != b}


def test_close_pairs_finds_the_exact_pairs_and_only_true_ones():
    emb, _ = synthetic_day()
    query = np.arange(300, emb.shape[0])  # the first 300 rows play earlier days: targets only
    truth = _exact(emb, query)
    i, j = close_pairs(emb, query, THRESHOLD)
    found = set(zip(i.tolist(), j.tolist(), strict=True))
    assert len(truth) > 1000
    assert len(found & truth) / len(truth) >= 0.99
    assert found <= truth  # every pair is checked against the real cosine
    assert len(found) == len(i) and list(zip(i, j, strict=True)) == sorted(zip(i, j, strict=True))
    again = close_pairs(emb, query, THRESHOLD)
    assert np.array_equal(i, again[0]) and np.array_equal(j, again[1])  # deterministic


def test_similarity_blocked_matches_the_full_matrix():
    emb, _ = synthetic_day(n_stories=200)
    query = np.arange(emb.shape[0])
    dense = Similarity(emb, query, THRESHOLD)
    blocked = Similarity(emb, query, THRESHOLD, exact_max=0)
    assert dense.matrix is not None and blocked.matrix is None
    hits = sum(set(blocked.near(i).tolist()) == set(dense.near(i).tolist()) - {i} for i in query)
    assert hits >= 0.99 * len(query)
    assert blocked.cosine(3, 5) == pytest.approx(dense.cosine(3, 5), abs=1e-6)
    a, b = [0, 4, 9], [2, 7]
    assert blocked.linkage(a, b) == pytest.approx(dense.linkage(a, b), abs=1e-6)
    a.extend([11, 12])  # groups grow by appending; the cached sum follows
    assert blocked.linkage(a, b) == pytest.approx(dense.linkage(a, b), abs=1e-6)


def _rows(emb: np.ndarray, story_of: np.ndarray, history: int) -> ClusterRows:
    n = emb.shape[0]
    # half the stories have a shared, rare, name-like title (token evidence), the rest unique
    # titles per row (embedding evidence alone)
    titles = [f"Vendor{s} ships Gadget{s} today" if s % 2 else f"Report number {i} on things" for i, s in enumerate(story_of)]
    keys = [f"k{i:06d}" for i in range(n)]
    return ClusterRows(
        keys=keys,
        titles=titles,
        emb=emb,
        history_cluster=[f"h{story_of[i]}" if i < history else None for i in range(n)],
        same_article=[None] * n,
        duplicate_of=[None] * n,
    )


def test_clustering_on_a_large_day_matches_the_exact_path(monkeypatch):
    emb, story_of = synthetic_day()
    rows = _rows(emb, story_of, history=300)
    cfg = CurationSettings()
    exact = assign_clusters(rows, cfg)
    monkeypatch.setattr(neighbours, "EXACT_MAX_ROWS", 0)  # force the cell search
    blocked = assign_clusters(rows, cfg)
    assert exact == blocked
    sizes = np.unique(exact, return_counts=True)[1]
    assert (sizes > 1).sum() > 300  # real stories, not every row its own


def _candidates(n: int, seed: int = 3) -> tuple[list[Candidate], np.ndarray]:
    rng = np.random.default_rng(seed)
    emb, story_of = synthetic_day(n_stories=n // 3, seed=seed)
    cands = [
        Candidate(key=f"k{i}", feed_name=f"feed{i % 9}", title=f"t{i}", final_score=float(rng.uniform(3, 9)),
                  quality_score=6.0, relevance_score=6.0, passed_filter=True, filter_reason=None,
                  is_advertisement=False, is_canonical=True, canonical_title=f"t{i}", previously_sent_on=None,
                  cluster_id=f"c{i}", content_type=("news", "analysis", "tutorial")[i % 3])
        for i in range(len(story_of))
    ]
    return cands, emb


def test_selection_on_a_large_day_keeps_the_picks_and_ranks_every_row(monkeypatch):
    cands, emb = _candidates(1200)
    cfg = CurationSettings()
    exact = select(cands, emb, cfg)
    monkeypatch.setattr(selection, "MMR_EXACT_MAX", 0)  # ranks past top_n from the frozen MMR order
    fast = select(cands, emb, cfg)
    assert fast.selected == exact.selected
    top = [r for r in exact.rank if r is not None and r <= cfg.top_n]
    assert len(top) == cfg.top_n
    assert [r if r is not None and r <= cfg.top_n else None for r in fast.rank] == \
        [r if r is not None and r <= cfg.top_n else None for r in exact.rank]
    ranked = sorted(r for r in fast.rank if r is not None)
    assert ranked == list(range(1, len(ranked) + 1))
    assert len(ranked) == sum(r is not None for r in exact.rank)  # the same rows get a rank
