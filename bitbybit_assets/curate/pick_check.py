"""One pick per story, checked again among the picks with a looser same-story test than clustering.

Clustering must be precise over hundreds of rows a day, so it splits same-story rows whose wording
differs (a launch post and a reaction piece). Among the ~20 picks, and against the rows already
sent on the earlier days of the cluster window, a looser test is cheap: two rows are
*related* when their titles share a rare token (in at most ``cluster_rare_df`` distinct titles of
the window) that looks like a name in both, or two rare tokens, and their cosine is at least
``pick_check_min_similarity`` (the larger of the MiniLM and the multilingual cosine when
``pick_check_multilingual``). A row related to a pick ranked before it is not picked, nor one
related to a row sent on an earlier day with a cosine of at least ``pick_check_min_similarity_sent``
and ``pick_check_min_rare_tokens_sent`` shared rare tokens (follow-ups of an earlier story are often
news of their own: separate, stricter floors); its
``selection_reason`` names the row it repeats. Figures and the thresholds tried: EVALUATION.md,
*One pick per story* (the check against sent rows is off by default: it blocked new stories).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date

import numpy as np

from bitbybit_assets.curate.clustering import ClusterRows, title_tokens, written_lower
from bitbybit_base.settings import CurationSettings


class RelatedStories:
    """The loose pair test over one day's rows and its window (indexes as in ``ClusterRows``)."""

    def __init__(
        self,
        titles: Sequence[str | None],
        emb: np.ndarray,
        emb_ml: np.ndarray | None,
        cfg: CurationSettings,
    ):
        self.tokens = [title_tokens(t) for t in titles]
        self.df: Counter[str] = Counter()
        for toks in {frozenset(t) for t in self.tokens}:  # distinct titles: syndicated copies count once
            self.df.update(toks)
        self.common = written_lower(self.tokens)
        self.emb = emb
        self.emb_ml = emb_ml if emb_ml is not None and cfg.pick_check_multilingual else None
        self.rare_df = cfg.cluster_rare_df
        self.min_rare_sent = cfg.pick_check_min_rare_tokens_sent
        self.min_similarity = cfg.pick_check_min_similarity
        self.min_similarity_sent = cfg.pick_check_min_similarity_sent

    def shared_evidence(self, i: int, j: int, min_rare: int = 1) -> list[str]:
        """The rare title tokens ``i`` and ``j`` share, when they are enough (a name, or two tokens;
        ``min_rare`` at least). A name is capitalised or has a digit in both titles and is never
        written in lower case in the window."""
        a, b = self.tokens[i], self.tokens[j]
        rare = sorted(t for t in a.keys() & b.keys() if self.df[t] <= self.rare_df)
        named = [t for t in rare if a[t] and b[t] and t not in self.common]
        return rare if (named or len(rare) >= 2) and len(rare) >= min_rare else []

    def cosine(self, i: int, j: int) -> float:
        s = float(self.emb[i] @ self.emb[j]) if self.emb.shape[0] > max(i, j) else 0.0
        if self.emb_ml is not None:
            s = max(s, float(self.emb_ml[i] @ self.emb_ml[j]))
        return s

    def related(self, i: int, j: int) -> bool:
        if self.min_similarity is None or i == j:
            return False
        return bool(self.shared_evidence(i, j)) and self.cosine(i, j) >= self.min_similarity


def like_sent(
    test: RelatedStories,
    day_index: Sequence[int],
    sent_index: Sequence[int],
    sent_days: Sequence[date],
    sent_titles: Sequence[str | None],
) -> list[str | None]:
    """Per day row, ``"<ISO day> (<title>)"`` of the most similar earlier sent row it is related to."""
    out: list[str | None] = [None] * len(day_index)
    floor = test.min_similarity_sent
    if floor is None or not len(day_index) or not len(sent_index):
        return out
    best = np.zeros(len(day_index))
    d, s = np.asarray(day_index), np.asarray(sent_index)
    sims = test.emb[d] @ test.emb[s].T
    if test.emb_ml is not None:
        sims = np.maximum(sims, test.emb_ml[d] @ test.emb_ml[s].T)
    for a, b in zip(*np.nonzero(sims >= floor), strict=True):  # row-major: a ascending
        if (out[a] is None or sims[a, b] > best[a]) and test.shared_evidence(int(d[a]), int(s[b]), test.min_rare_sent):
            out[a] = f"{sent_days[b].isoformat()} ({sent_titles[b]!r})"
            best[a] = sims[a, b]
    return out


def for_day(
    rows: ClusterRows, sent: Sequence[bool], sent_days: Sequence[date], cfg: CurationSettings
) -> tuple[Callable[[int, int], bool], list[str | None]]:
    """(``related`` over the day's row indexes, ``like_sent`` per day row) for one day's clustering
    rows: the window's rows first (``sent``/``sent_days`` per window row), then the day's."""
    test = RelatedStories(rows.titles, rows.emb, rows.emb_ml, cfg)
    w = len(sent)
    day_index = list(range(w, len(rows.titles)))
    sent_index = [j for j in range(w) if sent[j]]
    like = like_sent(
        test, day_index, sent_index, [sent_days[j] for j in sent_index], [rows.titles[j] for j in sent_index]
    )
    return (lambda a, b: test.related(w + a, w + b)), like
