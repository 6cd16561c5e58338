"""Score a scored_articles run against the labelled dev set (../shared/data/labels).

Pure functions over polars frames; ``scripts/evaluate.py`` runs the pipeline and prints these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import polars as pl


def _read_tsv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, separator="\t", quote_char=None, infer_schema=False)


def load_labels(labels_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """labels.tsv and ideal.tsv with typed columns."""
    labels = _read_tsv(labels_dir / "labels.tsv").with_columns(
        pl.col("date").str.to_date(), pl.col("ad").cast(pl.Int32), pl.col("relevance").cast(pl.Int32)
    )
    ideal = _read_tsv(labels_dir / "ideal.tsv").with_columns(
        pl.col("date").str.to_date(), pl.col("rank").cast(pl.Int32)
    )
    return labels, ideal


def join_labels(scored: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Labelled rows with the pipeline's columns (left join on the labels: misses keep nulls)."""
    s = scored.rename({"feed_name": "feed_slug"})
    keep = [
        c
        for c in (
            "partition_date",
            "feed_slug",
            "entry_id",
            "passed_filter",
            "filter_reason",
            "is_advertisement",
            "ad_score",
            "ad_reason",
            "tech_relevance_score",
            "quality_score",
            "final_score",
            "content_type",
            "cluster_id",
            "is_canonical",
            "previously_sent",
            "rank",
            "selected",
            "selection_reason",
        )
        if c in s.columns
    ]
    return labels.join(
        s.select(keep),
        left_on=["date", "feed_slug", "entry_id"],
        right_on=["partition_date", "feed_slug", "entry_id"],
        how="left",
    )


@dataclass
class AdReport:
    precision: float
    recall: float
    true_positives: int
    flagged: int
    positives: int
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)


def ad_report(j: pl.DataFrame) -> AdReport:
    flag = j["is_advertisement"].fill_null(False)
    truth = j["ad"] == 1
    tp = int((flag & truth).sum())
    fl = int(flag.sum())
    pos = int(truth.sum())
    missed = j.filter(truth & ~flag)
    fa = j.filter(flag & ~truth)

    def fmt(df: pl.DataFrame) -> list[str]:
        return [
            f"{r['date']} {r['feed_slug']}: {r['title']} ({r['ad_reason'] or 'score ' + str(r['ad_score'])})"
            for r in df.iter_rows(named=True)
        ]

    return AdReport(tp / fl if fl else 1.0, tp / pos if pos else 1.0, tp, fl, pos, fmt(missed), fmt(fa))


def pick_errors(j: pl.DataFrame) -> dict[str, list[str]]:
    """Ads, relevance-0 items and duplicate stories among the picks (same day or repeated later)."""
    picks = j.filter(pl.col("selected").fill_null(False)).sort("date", "rank")
    errs: dict[str, list[str]] = {
        "ads": [],
        "relevance_0": [],
        "duplicates_same_day": [],
        "repeated_across_days": [],
    }
    seen: dict[str, str] = {}
    for r in picks.iter_rows(named=True):
        label = f"{r['date']} #{r['rank']} {r['feed_slug']}: {r['title']}"
        if r["ad"] == 1:
            errs["ads"].append(label)
        if r["relevance"] == 0:
            errs["relevance_0"].append(label)
        prev = seen.get(r["story"])
        if prev == str(r["date"]):
            errs["duplicates_same_day"].append(f"{label} [{r['story']}]")
        elif prev is not None:
            errs["repeated_across_days"].append(f"{label} [{r['story']}, first sent {prev}]")
        seen.setdefault(r["story"], str(r["date"]))
    return errs


def relevance3_recall(j: pl.DataFrame) -> tuple[float, list[str]]:
    """Share of new relevance-3 stories (first labelled on that day) picked on that day or before."""
    first_day = j.group_by("story").agg(pl.col("date").min().alias("first"))
    r3 = (
        j.filter(pl.col("relevance") == 3)
        .join(first_day, on="story")
        .filter(pl.col("date") == pl.col("first"))
        .select("date", "story")
        .unique()
    )
    picked = (
        j.filter(pl.col("selected").fill_null(False))
        .group_by("story")
        .agg(pl.col("date").min().alias("picked"))
    )
    hits = r3.join(picked, on="story", how="left")
    ok = hits.filter(pl.col("picked").is_not_null() & (pl.col("picked") <= pl.col("date")))
    missed = hits.filter(~pl.col("story").is_in(ok["story"].to_list()))
    total = hits.height
    return (ok.height / total if total else 1.0), [
        f"{r['date']} {r['story']}" for r in missed.iter_rows(named=True)
    ]


def ndcg_at(gains_in_order: list[float], k: int = 20) -> float:
    def dcg(gs: list[float]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gs[:k]))

    ideal = dcg(sorted(gains_in_order, reverse=True))
    return dcg(gains_in_order) / ideal if ideal > 0 else 1.0


def ndcg_by_day(j: pl.DataFrame, k: int = 20, passed_only: bool = True) -> dict[str, float]:
    """Item-level nDCG@k per day, ranking by final_score; ads count as relevance 0."""
    out = {}
    for day in sorted(j["date"].unique().to_list()):
        d = j.filter(pl.col("date") == day)
        if passed_only:
            d = d.filter(pl.col("passed_filter").fill_null(False))
        d = d.with_columns(pl.when(pl.col("ad") == 1).then(0).otherwise(pl.col("relevance")).alias("gain"))
        d = d.sort("final_score", descending=True, nulls_last=True)
        out[str(day)] = ndcg_at([float(g) for g in d["gain"].to_list()], k)
    return out


def pairwise(j: pl.DataFrame, exclude_feeds: tuple[str, ...] = ()) -> tuple[float, float, float]:
    """Pairwise precision / recall / F1 of cluster_id against story over all labelled items."""
    d = j.filter(~pl.col("feed_slug").is_in(list(exclude_feeds)) & pl.col("cluster_id").is_not_null())
    clusters = d["cluster_id"].to_list()
    stories = d["story"].to_list()
    tp = fp = fn = 0
    for a, b in combinations(range(d.height), 2):
        same_c = clusters[a] == clusters[b]
        same_s = stories[a] == stories[b]
        tp += same_c and same_s
        fp += same_c and not same_s
        fn += same_s and not same_c
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def cluster_errors(j: pl.DataFrame, exclude_feeds: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Stories split over several clusters, and clusters mixing several stories."""
    d = j.filter(~pl.col("feed_slug").is_in(list(exclude_feeds)) & pl.col("cluster_id").is_not_null())
    split = (
        d.group_by("story")
        .agg(pl.col("cluster_id").n_unique().alias("n"), pl.col("title"))
        .filter(pl.col("n") > 1)
    )
    mixed = (
        d.group_by("cluster_id")
        .agg(pl.col("story").n_unique().alias("n"), pl.col("title"))
        .filter(pl.col("n") > 1)
    )
    return (
        [f"{r['story']}: {r['title']}" for r in split.iter_rows(named=True)],
        [f"{r['title']}" for r in mixed.iter_rows(named=True)],
    )


def newsletter_report(j: pl.DataFrame, ideal: pl.DataFrame, top_n: int = 20) -> dict[str, dict[str, float]]:
    """Per day: picks, hits (picked stories in that day's ideal), precision (hits/top_n), recall."""
    out = {}
    for day in sorted(ideal["date"].unique().to_list()):
        want = set(ideal.filter(pl.col("date") == day)["story"].to_list())
        picks = j.filter((pl.col("date") == day) & pl.col("selected").fill_null(False))
        got = set(picks["story"].to_list())
        hits = len(want & got)
        out[str(day)] = {
            "picks": picks.height,
            "ideal": len(want),
            "hits": hits,
            "precision": hits / top_n,
            "precision_of_picks": hits / picks.height if picks.height else 0.0,
            "recall": hits / len(want) if want else 1.0,
        }
    return out
