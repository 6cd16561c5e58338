"""Relevance, quality and content type from embeddings, source trust and text richness.

Topic definitions, their weights and the content-type prototypes come from the ``topics:`` section of
production.yaml; this module only turns similarities into 0..10 scores.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bitbybit_base.settings import CurationSettings, TopicSettings

CONTENT_TYPES = ("news", "research", "tutorial", "opinion", "release", "funding", "other")

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass
class Prototypes:
    """Embedded prototype sentences (rows L2-normalised)."""

    topic_names: list[str]
    topic_weights: np.ndarray  # (T,)
    topic_vectors: list[np.ndarray]  # T arrays of (k_t, dim)
    offtopic: np.ndarray  # (k, dim)
    content_type_names: list[str]
    content_type_vectors: list[np.ndarray]
    ad: np.ndarray
    editorial: np.ndarray
    ad_sentences: list[str]


def build_prototypes(topics: TopicSettings, encode: Encode) -> Prototypes:
    """Embed every prototype sentence of ``topics`` with one encoder call."""
    groups: list[list[str]] = [t.prototypes for t in topics.topics]
    groups.append(topics.offtopic)
    ct_names = [c for c in topics.content_types if c in CONTENT_TYPES]
    groups.extend(topics.content_types[c] for c in ct_names)
    groups.append(topics.ad_prototypes)
    groups.append(topics.editorial_prototypes)
    flat = [s for g in groups for s in g]
    vecs = encode(flat) if flat else np.zeros((0, 1), dtype=np.float32)
    out: list[np.ndarray] = []
    i = 0
    for g in groups:
        out.append(vecs[i : i + len(g)])
        i += len(g)
    nt = len(topics.topics)
    return Prototypes(
        topic_names=[t.name for t in topics.topics],
        topic_weights=np.array([t.weight for t in topics.topics], dtype=np.float64),
        topic_vectors=out[:nt],
        offtopic=out[nt],
        content_type_names=ct_names,
        content_type_vectors=out[nt + 1 : nt + 1 + len(ct_names)],
        ad=out[-2],
        editorial=out[-1],
        ad_sentences=list(topics.ad_prototypes),
    )


def _top_mean(sim: np.ndarray, k: int = 2) -> np.ndarray:
    """Mean of the ``k`` best prototype similarities per row (less noisy than the max)."""
    if sim.shape[1] == 0:
        return np.zeros(sim.shape[0])
    k = min(k, sim.shape[1])
    return np.sort(sim, axis=1)[:, -k:].mean(axis=1)


def topic_similarities(emb: np.ndarray, protos: Prototypes) -> np.ndarray:
    """(n, T) cosine of each article to each topic."""
    if not protos.topic_vectors:
        return np.zeros((emb.shape[0], 0))
    return np.stack([_top_mean(emb @ v.T) for v in protos.topic_vectors], axis=1)


def offtopic_similarity(emb: np.ndarray, protos: Prototypes) -> np.ndarray:
    """(n,) cosine of each article to the off-topic prototypes (mean of the 2 best)."""
    if not protos.offtopic.size:
        return np.zeros(emb.shape[0])
    return _top_mean(emb @ protos.offtopic.T)


def relevance_scores(
    emb: np.ndarray, protos: Prototypes, cfg: CurationSettings
) -> tuple[np.ndarray, np.ndarray]:
    """``tech_relevance_score`` (0..10, unrounded) and the (n, T) topic similarities."""
    sims = topic_similarities(emb, protos)
    n = emb.shape[0]
    if sims.shape[1] == 0:
        return np.zeros(n), sims
    topical = (sims * protos.topic_weights[None, :]).max(axis=1)
    off = offtopic_similarity(emb, protos)
    raw = topical - cfg.offtopic_penalty * np.maximum(0.0, off - topical)
    span = max(cfg.relevance_ceiling - cfg.relevance_floor, 1e-6)
    return np.clip((raw - cfg.relevance_floor) / span, 0.0, 1.0) * 10.0, sims


class KeywordScorer:
    """Relevance points from the configured keyword groups (title, and the lead at a discount)."""

    def __init__(self, topics: TopicSettings):
        self.topics = topics
        self.groups: list[tuple[str, float, re.Pattern[str]]] = []
        for g in topics.keyword_groups:
            if not g.terms:
                continue
            alts = "|".join(
                re.escape(t).replace(r"\ ", r"[\s-]+") for t in sorted(g.terms, key=len, reverse=True)
            )
            flags = 0 if g.case_sensitive else re.IGNORECASE
            self.groups.append((g.name, g.points, re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", flags)))

    def points(self, title: str | None, lead: str | None = None) -> float:
        title = title or ""
        lead = (lead or "")[:300]
        total = 0.0
        for _, pts, rx in self.groups:
            if rx.search(title):
                total += pts
            elif lead and rx.search(lead):
                total += pts * self.topics.lead_keyword_factor
        return min(total, self.topics.keyword_max_points)


def topic_labels(sims: np.ndarray, names: list[str], cfg: CurationSettings) -> list[list[str]]:
    out = []
    for row in sims:
        order = np.argsort(-row)[: cfg.max_topics]
        out.append([names[i] for i in order if row[i] >= cfg.topic_min_similarity])
    return out


_CLICKBAIT = re.compile(r"(you won'?t believe|shocking|!{2,}|\?{2,}|this one trick|what happened next)", re.I)


def quality_score(
    title: str | None, word_count: int | None, trust: float | None, cfg: CurationSettings
) -> float:
    """0..10 from text richness, source trust and title shape (before ads are considered)."""
    title = (title or "").strip()
    words = int(word_count or 0)
    trust = 0.5 if trust is None or math.isnan(trust) else float(trust)
    score = 4.0
    if words == 0:
        score -= cfg.title_only_penalty
    else:
        score += min(2.5, 2.5 * math.log1p(words) / math.log1p(400))
    score += (trust - 0.5) * 5.0
    n_title = len(title.split())
    if n_title < 3:
        score -= 1.0
    elif 5 <= n_title <= 20:
        score += 0.5
    if _CLICKBAIT.search(title) or (title.isupper() and len(title) > 10):
        score -= 1.5
    return float(min(10.0, max(0.0, score)))


# Content-type rules on the title (checked in order); prototypes decide otherwise.
_TYPE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "funding",
        re.compile(
            r"\b(raises?|raised|raising) \$|\b(series [a-f]|seed round|pre-seed|funding round|valuation|"
            r"acquires?|acquired|acquisition|to acquire|ipo|goes public|sec form d)\b",
            re.I,
        ),
    ),
    (
        "research",
        re.compile(r"\b(paper|arxiv|preprint|study finds|researchers (find|show)|position:)\b", re.I),
    ),
    (
        "tutorial",
        re.compile(
            r"^(how to|a guide to|guide:|tutorial)|\b(step[- ]by[- ]step|tutorial|walkthrough)\b", re.I
        ),
    ),
    (
        "release",
        re.compile(
            r"^(introducing|announcing|show hn)\b|\b(launch(es|ed)?|releases?d?|now available|generally available|"
            r"is now the default|open[- ]sources?d?|v\d+(\.\d+)+|beta)\b",
            re.I,
        ),
    ),
)


def content_types(titles: Sequence[str | None], emb: np.ndarray, protos: Prototypes) -> list[str]:
    """One of CONTENT_TYPES per row: title rules first, else the nearest content-type prototype."""
    n = len(titles)
    if protos.content_type_vectors and emb.shape[0] == n and n:
        sims = np.stack([_top_mean(emb @ v.T) for v in protos.content_type_vectors], axis=1)
        nearest = [protos.content_type_names[i] for i in sims.argmax(axis=1)]
        best = sims.max(axis=1)
    else:
        nearest, best = ["news"] * n, np.ones(n)
    out = []
    for i, title in enumerate(titles):
        kind = next((k for k, rx in _TYPE_RULES if rx.search(title or "")), None)
        if kind is None:
            kind = nearest[i] if best[i] >= 0.2 else "other"
        out.append(kind)
    return out


# a letters-then-number word (not after "$") or a dotted number, not followed by "%" or more digits
_VERSION = re.compile(
    r"(?<![$\w.])(?:[A-Za-z][A-Za-z-]*\d+(?:\.\d+)*[A-Za-z]?|\d+\.\d+(?:\.\d+)*)(?![\w%]|\.\d)"
)


def has_version(title: str | None) -> bool:
    """The title names a versioned thing: a word with letters then a number ("GPT-5.6", "V4", "K3") or
    a dotted number ("Gemini 3.7"); not money ("$13.3B"), shares ("3.5%") or plain counts ("Top 10")."""
    return _VERSION.search(title or "") is not None


def coverage_score(distinct_feeds: int) -> float:
    """0..10: a story covered by more independent feeds matters more (saturates at 4 feeds)."""
    return float(min(10.0, max(0, distinct_feeds - 1) * 10.0 / 3.0))


def final_score(
    relevance: float,
    quality: float,
    coverage: float,
    content_type: str,
    ad_score: float,
    stale_days: int,
    cfg: CurationSettings,
) -> float:
    """The ranking score (0..10-ish): weighted parts, content-type bonus, staleness and ad penalties."""
    w = cfg.weights
    score = w.relevance * relevance + w.quality * quality + w.coverage * coverage
    score += w.content_type.get(content_type, 0.0)
    score -= w.stale_penalty_per_day * max(0, stale_days)
    score *= 1.0 - min(max(ad_score, 0.0), 1.0)
    return float(max(0.0, score))
