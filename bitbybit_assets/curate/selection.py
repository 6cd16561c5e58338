"""Pick the day's top N: eligibility rules, then MMR over embeddings with a per-feed cap.

Every row gets a ``selection_reason``; eligible rows get a ``rank`` in MMR order (rows dropped by the
per-feed cap get none), and the first ``top_n`` ranks are selected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bitbybit_assets.curate.config import CurationSettings


@dataclass
class Candidate:
    """What selection needs to know about one row of the day."""

    key: str
    feed_name: str
    title: str | None
    final_score: float
    quality_score: float
    relevance_score: float
    passed_filter: bool
    filter_reason: str | None
    is_advertisement: bool
    is_canonical: bool
    canonical_title: str | None
    previously_sent_on: str | None  # ISO date when the story already went out
    cap_key: str = ""  # what the per-feed cap counts (feed, or linked domain for aggregators)
    cluster_id: str = ""  # story cluster (one pick per cluster)
    preference: int = 0  # order in which rows of one cluster stand in for a capped canonical
    first_seen_on: str | None = None  # ISO date the story first appeared, when older than allowed


@dataclass
class Selection:
    rank: list[int | None]
    selected: list[bool]
    reason: list[str]
    representative: dict[str, int]  # cluster_id -> index of the row picked for it (when not the canonical)


def ineligibility(c: Candidate, cfg: CurationSettings) -> str | None:
    """Why ``c`` cannot be picked (checked in this order), or None when it is eligible."""
    if not c.passed_filter:
        return f"not selected: filtered ({c.filter_reason or 'unknown'})"
    if c.is_advertisement:
        return "not selected: advertisement"
    if c.previously_sent_on:
        return f"not selected: already sent on {c.previously_sent_on}"
    if c.first_seen_on:
        return f"not selected: old story (first seen on {c.first_seen_on})"
    if c.relevance_score < cfg.min_relevance:
        return "not selected: below min_relevance"
    if c.quality_score < cfg.min_quality:
        return "not selected: below min_quality"
    return None


def select(candidates: Sequence[Candidate], emb: np.ndarray, cfg: CurationSettings) -> Selection:
    """Greedy MMR: ``lambda * score - (1 - lambda) * max similarity to rows already ranked``.

    Scores are scaled to 0..1 (divided by the best eligible score) so lambda keeps its meaning.
    One row per story cluster: the canonical row competes; another eligible row of the cluster
    (in candidate order) only steps in when the canonical is stopped by the per-feed cap.
    """
    n = len(candidates)
    rank: list[int | None] = [None] * n
    selected = [False] * n
    reason = [""] * n
    eligible = []
    for i, c in enumerate(candidates):
        why = ineligibility(c, cfg)
        if why is None:
            eligible.append(i)
        else:
            reason[i] = why
    representative: dict[str, int] = {}
    if not eligible:
        for i, c in enumerate(candidates):
            if not reason[i]:
                reason[i] = f"not selected: duplicate of story {c.canonical_title!r}"
        return Selection(rank, selected, reason, representative)
    scores = np.array([candidates[i].final_score for i in eligible], dtype=np.float64)
    scores = scores / max(float(scores.max()), 1e-9)
    vecs = emb[eligible] if emb.shape[0] == n else np.zeros((len(eligible), 1), dtype=np.float32)
    remaining = [k for k, i in enumerate(eligible) if candidates[i].is_canonical]
    reserve: dict[str, list[int]] = {}
    for k, i in enumerate(eligible):
        if not candidates[i].is_canonical:
            reserve.setdefault(candidates[i].cluster_id, []).append(k)
    for ks in reserve.values():
        ks.sort(key=lambda k: candidates[eligible[k]].preference)
    taken: dict[str, int] = {}
    max_sim = np.full(len(eligible), 0.0)
    per_feed: dict[str, int] = {}
    next_rank = 1
    lam = cfg.mmr_lambda
    while remaining:
        mmr = lam * scores[remaining] - (1.0 - lam) * max_sim[remaining]
        pos = int(np.argmax(mmr))
        local = remaining.pop(pos)
        i = eligible[local]
        feed = candidates[i].cap_key or candidates[i].feed_name
        if next_rank <= cfg.top_n and per_feed.get(feed, 0) >= cfg.per_feed_cap:
            reason[i] = f"not selected: per-feed cap ({cfg.per_feed_cap} from {feed})"
            spare = reserve.get(candidates[i].cluster_id)
            if spare:
                remaining.append(spare.pop(0))
            continue
        cid = candidates[i].cluster_id
        taken[cid] = i
        if not candidates[i].is_canonical:
            representative[cid] = i
        rank[i] = next_rank
        if next_rank <= cfg.top_n:
            selected[i] = True
            reason[i] = f"selected: rank {next_rank}"
            per_feed[feed] = per_feed.get(feed, 0) + 1
        else:
            reason[i] = f"not selected: rank {next_rank} is below top_n ({cfg.top_n})"
        next_rank += 1
        if remaining:
            sims = vecs[remaining] @ vecs[local]
            max_sim[remaining] = np.maximum(max_sim[remaining], np.maximum(sims, 0.0))
    for i, c in enumerate(candidates):
        if not reason[i]:
            rep = representative.get(c.cluster_id)
            story = candidates[rep].title if rep is not None else c.canonical_title
            reason[i] = f"not selected: duplicate of story {story!r}"
    return Selection(rank, selected, reason, representative)
