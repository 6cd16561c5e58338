"""Pick the day's top N: eligibility rules, then MMR over embeddings with editorial caps.

Caps: at most ``max_source_share`` of ``top_n`` (and ``per_feed_cap``) per source and at most
``max_content_type_share`` per content type. With a learned ranker a row below its pick floor is
never picked, so a quiet day has fewer than ``top_n`` picks instead of weak filler. Every row gets a ``selection_reason``; eligible rows get a ``rank`` in MMR order (rows dropped by the
per-feed cap get none), and the first ``top_n`` ranks are selected.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bitbybit_base.settings import CurationSettings

MMR_EXACT_MAX = 1000  # eligible rows up to which every rank is exact MMR (real days: under 100)


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
    content_type: str = ""  # what the content-type cap counts
    below_floor: bool | None = None  # ranker: model_score under its pick floor (None: no ranker)
    like_sent: str | None = None  # "<ISO day> (<title>)": related to a row sent then (curate.pick_check)


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
    if c.like_sent:
        return f"not selected: like a story sent on {c.like_sent}"
    if c.first_seen_on:
        return f"not selected: old story (first seen on {c.first_seen_on})"
    if c.below_floor is not None:
        return "not selected: below the ranker's quality floor" if c.below_floor else None
    if c.relevance_score < cfg.min_relevance:
        return "not selected: below min_relevance"
    if c.quality_score < cfg.min_quality:
        return "not selected: below min_quality"
    return None


def caps(cfg: CurationSettings) -> tuple[int, int]:
    """(picks per source, picks per content type) allowed on one day."""
    source = min(cfg.per_feed_cap, max(1, int(cfg.max_source_share * cfg.top_n + 1e-9)))
    return source, max(1, int(cfg.max_content_type_share * cfg.top_n + 1e-9))


def select(
    candidates: Sequence[Candidate],
    emb: np.ndarray,
    cfg: CurationSettings,
    related: Callable[[int, int], bool] | None = None,
) -> Selection:
    """Greedy MMR: ``lambda * score - (1 - lambda) * max similarity to rows already ranked``.

    Scores are scaled to 0..1 (divided by the best eligible score) so lambda keeps its meaning.
    One row per story cluster: the canonical row competes; another eligible row of the cluster
    (in candidate order) only steps in when the canonical is stopped by the per-feed cap.
    ``related(i, j)`` (candidate indexes; see ``curate.pick_check``): a row related to a row already
    picked is not picked (a second check for one pick per story, looser than the clusters).
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
    picked: list[int] = []  # candidate indexes selected so far, in rank order
    max_sim = np.full(len(eligible), 0.0)
    per_feed: dict[str, int] = {}
    per_type: dict[str, int] = {}
    feed_cap, type_cap = caps(cfg)
    next_rank = 1
    lam = cfg.mmr_lambda
    # MMR values change only when a row is ranked: each "epoch" orders the remaining rows once and
    # walks down that order past capped rows until one is ranked (ties: the earlier-queued row, as
    # argmax over the queue would). Rows past top_n on a day with over MMR_EXACT_MAX eligible rows
    # keep the order of their MMR against the rows ranked up to top_n: O(top_n * N), not O(N^2).
    exact_tail = len(eligible) <= MMR_EXACT_MAX
    queued = np.full(len(eligible), -1)  # queue position (-1: not queued, or already taken out)
    queued[remaining] = np.arange(len(remaining))
    next_pos = len(remaining)
    while (queued >= 0).any():
        alive = np.flatnonzero(queued >= 0)
        alive = alive[np.argsort(queued[alive], kind="stable")]
        mmr = lam * scores[alive] - (1.0 - lam) * max_sim[alive]
        order = alive[np.argsort(-mmr, kind="stable")]
        value = dict(zip(alive.tolist(), mmr.tolist(), strict=True))
        spares: list[tuple[float, int, int]] = []  # (-mmr, queue position, row) queued in this epoch
        p = 0
        while p < len(order) or spares:
            if p < len(order) and queued[order[p]] < 0:
                p += 1
                continue
            if spares and (p >= len(order) or spares[0][:2] < (-value[int(order[p])], int(queued[order[p]]))):
                local = heapq.heappop(spares)[2]
            else:
                local = int(order[p])
                p += 1
            queued[local] = -1
            i = eligible[local]
            feed = candidates[i].cap_key or candidates[i].feed_name
            kind = candidates[i].content_type
            if next_rank <= cfg.top_n and per_feed.get(feed, 0) >= feed_cap:
                reason[i] = f"not selected: per-feed cap ({feed_cap} from {feed})"
                spare = reserve.get(candidates[i].cluster_id)
                if spare:
                    k = spare.pop(0)
                    queued[k] = next_pos
                    value[k] = lam * scores[k] - (1.0 - lam) * max_sim[k]
                    heapq.heappush(spares, (-value[k], next_pos, k))
                    next_pos += 1
                continue
            if next_rank <= cfg.top_n and kind and per_type.get(kind, 0) >= type_cap:
                reason[i] = f"not selected: content-type cap ({type_cap} of type {kind})"
                continue
            same = None
            if related is not None and next_rank <= cfg.top_n:
                same = next((p for p in picked if related(i, p)), None)
            if same is not None:
                reason[i] = f"not selected: same story as pick {rank[same]} ({candidates[same].title!r})"
                continue
            cid = candidates[i].cluster_id
            taken[cid] = i
            if not candidates[i].is_canonical:
                representative[cid] = i
            rank[i] = next_rank
            if next_rank <= cfg.top_n:
                selected[i] = True
                picked.append(i)
                reason[i] = f"selected: rank {next_rank}"
                per_feed[feed] = per_feed.get(feed, 0) + 1
                if kind:
                    per_type[kind] = per_type.get(kind, 0) + 1
            else:
                reason[i] = f"not selected: rank {next_rank} is below top_n ({cfg.top_n})"
            next_rank += 1
            if exact_tail or next_rank - 1 <= cfg.top_n:
                rest = np.flatnonzero(queued >= 0)
                if rest.size:
                    rest = rest[np.argsort(queued[rest], kind="stable")]  # queue order, as before
                    sims = vecs[rest] @ vecs[local]
                    max_sim[rest] = np.maximum(max_sim[rest], np.maximum(sims, 0.0))
                break  # MMR values changed: a new epoch
    for i, c in enumerate(candidates):
        if not reason[i]:
            rep = representative.get(c.cluster_id)
            story = candidates[rep].title if rep is not None else c.canonical_title
            reason[i] = f"not selected: duplicate of story {story!r}"
    return Selection(rank, selected, reason, representative)
