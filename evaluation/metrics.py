"""Score a scored_articles run against labelled days (pure functions over polars frames).

Definitions (EVALUATION.md repeats them):

* **nDCG@20**: per day, the day's ranking is the picks in rank order, then every other row that
  passed the content filter by ``final_score``. A story's gain is ``2^relevance - 1`` (its best item
  that day; ads count 0) and is earned once, at the first row of the story in the ranking. Stories
  already labelled on an earlier day of the same label set are repeats (gain 0). The ideal ranking
  uses the stories that have a row passing the filter.
* **Relevance-3 recall**: stories with a relevance-3 item on the first day they are labelled, found
  when picked that day or before.
* **Picks**: ads, relevance-0 items and duplicate stories (two picks of one story that day, or a story
  picked again on a later day) among ``selected`` rows.
* **Ads**: precision / recall of ``is_advertisement`` against ``ad`` over every labelled item.
* **Clusters**: pairwise precision / recall / F1 of ``cluster_id`` against ``story`` over pairs of
  items of one label set (story keys are only global inside a set); per day over that day's pairs.
  Cross-language: the same over pairs whose two items have different ``lang``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

PIPELINE_COLUMNS = (
    "partition_date",
    "feed_slug",
    "entry_id",
    "feed_category",
    "passed_filter",
    "filter_reason",
    "is_advertisement",
    "ad_score",
    "ad_reason",
    "tech_relevance_score",
    "quality_score",
    "final_score",
    "model_score",
    "content_type",
    "cluster_id",
    "is_canonical",
    "previously_sent",
    "rank",
    "selected",
    "selection_reason",
    "text_hash",
)


def join_labels(scored: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Labelled rows with the pipeline's columns, features included (misses keep nulls)."""
    s = scored.rename({"feed_name": "feed_slug"})
    keep = [c for c in s.columns if c in PIPELINE_COLUMNS or c.startswith("f_")]
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

    def fmt(df: pl.DataFrame) -> list[str]:
        return [
            f"{r['date']} {r['feed_slug']}: {r['title']} ({r['ad_reason'] or 'score ' + str(r['ad_score'])})"
            for r in df.iter_rows(named=True)
        ]

    return AdReport(
        tp / fl if fl else 1.0,
        tp / pos if pos else 1.0,
        tp,
        fl,
        pos,
        fmt(j.filter(truth & ~flag)),
        fmt(j.filter(flag & ~truth)),
    )


def pick_errors(j: pl.DataFrame) -> dict[str, list[str]]:
    """Ads, relevance-0 items and duplicate stories among the picks (same day or repeated later)."""
    picks = j.filter(pl.col("selected").fill_null(False)).sort("date", "rank")
    errs: dict[str, list[str]] = {"ads": [], "relevance_0": [], "duplicates_same_day": [], "repeated": []}
    seen: dict[tuple[str, str], str] = {}
    for r in picks.iter_rows(named=True):
        label = f"{r['date']} #{r['rank']} {r['feed_slug']}: {r['title']}"
        if r["ad"] == 1:
            errs["ads"].append(label)
        if r["relevance"] == 0:
            errs["relevance_0"].append(label)
        key = (r["label_set"], r["story"])
        prev = seen.get(key)
        if prev == str(r["date"]):
            errs["duplicates_same_day"].append(f"{label} [{r['story']}]")
        elif prev is not None:
            errs["repeated"].append(f"{label} [{r['story']}, first sent {prev}]")
        seen.setdefault(key, str(r["date"]))
    return errs


def _first_day(j: pl.DataFrame) -> pl.DataFrame:
    return j.group_by("label_set", "story").agg(pl.col("date").min().alias("first"))


def relevance3(j: pl.DataFrame) -> pl.DataFrame:
    """One row per new relevance-3 story: date, story, found (picked on its first day or before)."""
    r3 = (
        j.filter(pl.col("relevance") == 3)
        .join(_first_day(j), on=["label_set", "story"])
        .filter(pl.col("date") == pl.col("first"))
        .select("label_set", "date", "story")
        .unique()
    )
    picked = (
        j.filter(pl.col("selected").fill_null(False))
        .group_by("label_set", "story")
        .agg(pl.col("date").min().alias("picked"))
    )
    return (
        r3.join(picked, on=["label_set", "story"], how="left")
        .with_columns((pl.col("picked").is_not_null() & (pl.col("picked") <= pl.col("date"))).alias("found"))
        .sort("date", "story")
    )


def dcg(gains: list[float], k: int = 20) -> float:
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains[:k]))


def ndcg_day(d: pl.DataFrame, repeats: set[str], k: int = 20, reachable_only: bool = True) -> float:
    """nDCG@k of one day's labelled rows (see the module docstring)."""
    d = d.with_columns(
        pl.when((pl.col("ad") == 1) | pl.col("story").is_in(list(repeats)))
        .then(0)
        .otherwise(pl.col("relevance"))
        .alias("gain")
    )
    story_gain = d.group_by("story").agg(pl.col("gain").max())
    passed = d.filter(pl.col("passed_filter").fill_null(False))
    pool = passed if reachable_only else d
    best = story_gain.filter(pl.col("story").is_in(pool["story"].unique().to_list()))
    ideal = dcg(sorted((float(g) for g in best["gain"].to_list()), reverse=True), k)
    picks = passed.filter(pl.col("selected").fill_null(False)).sort("rank")
    rest = passed.filter(~pl.col("selected").fill_null(False)).sort(
        "final_score", descending=True, nulls_last=True
    )
    gains_by_story = dict(zip(story_gain["story"].to_list(), story_gain["gain"].to_list(), strict=True))
    seen: set[str] = set()
    ranked = []
    for s in picks["story"].to_list() + rest["story"].to_list():
        ranked.append(0.0 if s in seen else float(gains_by_story[s]))
        seen.add(s)
    return dcg(ranked, k) / ideal if ideal > 0 else 1.0


def ndcg_by_day(j: pl.DataFrame, k: int = 20, reachable_only: bool = True) -> dict[str, float]:
    first = _first_day(j)
    out = {}
    for day in sorted(j["date"].unique().to_list()):
        d = j.filter(pl.col("date") == day)
        sets = d["label_set"].unique().to_list()
        repeats = set(
            first.filter(pl.col("label_set").is_in(sets) & (pl.col("first") < day))["story"].to_list()
        )
        out[str(day)] = ndcg_day(d, repeats, k, reachable_only)
    return out


@dataclass
class PairCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: PairCounts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _codes(values: list) -> np.ndarray:
    index: dict = {}
    return np.array([index.setdefault(v, len(index)) for v in values], dtype=np.int64)


def pair_counts(d: pl.DataFrame, cross_language: bool = False) -> PairCounts:
    """Pairwise counts over the rows of ``d`` (one label set), optionally cross-language pairs only."""
    d = d.filter(pl.col("cluster_id").is_not_null())
    if d.height < 2:
        return PairCounts()
    c = _codes(d["cluster_id"].to_list())
    s = _codes(d["story"].to_list())
    same_c = c[:, None] == c[None, :]
    same_s = s[:, None] == s[None, :]
    mask = np.triu(np.ones((d.height, d.height), dtype=bool), 1)
    if cross_language:
        lang = _codes(d["lang"].to_list())
        mask &= lang[:, None] != lang[None, :]
    return PairCounts(
        int((same_c & same_s & mask).sum()),
        int((same_c & ~same_s & mask).sum()),
        int((~same_c & same_s & mask).sum()),
    )


def clusters(
    j: pl.DataFrame, exclude_feeds: tuple[str, ...] = (), cross_language: bool = False
) -> PairCounts:
    """Pairwise counts over all pairs of each label set (cross-day pairs included)."""
    total = PairCounts()
    d = j.filter(~pl.col("feed_slug").is_in(list(exclude_feeds)))
    for label_set in d["label_set"].unique().to_list():
        total.add(pair_counts(d.filter(pl.col("label_set") == label_set), cross_language))
    return total


def cluster_errors(j: pl.DataFrame, exclude_feeds: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Stories split over several clusters, and clusters mixing several stories."""
    d = j.filter(~pl.col("feed_slug").is_in(list(exclude_feeds)) & pl.col("cluster_id").is_not_null())
    split = (
        d.group_by("label_set", "story")
        .agg(pl.col("cluster_id").n_unique().alias("n"), pl.col("title"))
        .filter(pl.col("n") > 1)
        .sort("story")
    )
    mixed = (
        d.group_by("label_set", "cluster_id")
        .agg(pl.col("story").n_unique().alias("n"), pl.col("title"))
        .filter(pl.col("n") > 1)
        .sort("cluster_id")
    )
    return (
        [f"{r['story']}: {r['title']}" for r in split.iter_rows(named=True)],
        [f"{r['title']}" for r in mixed.iter_rows(named=True)],
    )


def newsletter_hits(j: pl.DataFrame, ideal: pl.DataFrame) -> dict[str, tuple[int, int, int]]:
    """Per day with an ideal list: (picks, ideal stories, hits)."""
    out = {}
    for day in sorted(ideal["date"].unique().to_list()):
        want = set(ideal.filter(pl.col("date") == day)["story"].to_list())
        picks = j.filter((pl.col("date") == day) & pl.col("selected").fill_null(False))
        out[str(day)] = (picks.height, len(want), len(want & set(picks["story"].to_list())))
    return out


@dataclass
class DayRow:
    day: str
    ndcg: float
    r3_found: int
    r3_total: int
    ads_in_picks: int
    dup_in_picks: int
    ad_tp: int
    ad_flagged: int
    ad_pos: int
    cluster: PairCounts
    picks: int
    ideal_hits: tuple[int, int] | None


def day_table(j: pl.DataFrame, ideal: pl.DataFrame, k: int = 20) -> list[DayRow]:
    """One row of figures per labelled day."""
    nd = ndcg_by_day(j, k)
    r3 = relevance3(j)
    errs = pick_errors(j)
    hits = newsletter_hits(j, ideal)
    rows = []
    for day in sorted(j["date"].unique().to_list()):
        key = str(day)
        d = j.filter(pl.col("date") == day)
        flag = d["is_advertisement"].fill_null(False)
        truth = d["ad"] == 1
        r3d = r3.filter(pl.col("date") == day)
        h = hits.get(key)
        rows.append(
            DayRow(
                day=key,
                ndcg=nd[key],
                r3_found=int(r3d["found"].sum()),
                r3_total=r3d.height,
                ads_in_picks=sum(e.startswith(key) for e in errs["ads"]),
                dup_in_picks=sum(e.startswith(key) for e in errs["duplicates_same_day"] + errs["repeated"]),
                ad_tp=int((flag & truth).sum()),
                ad_flagged=int(flag.sum()),
                ad_pos=int(truth.sum()),
                cluster=pair_counts(d),
                picks=int(d["selected"].fill_null(False).sum()),
                ideal_hits=(h[2], h[1]) if h else None,
            )
        )
    return rows


def summary(rows: list[DayRow], j: pl.DataFrame) -> dict[str, float]:
    """Means over days (nDCG) and pooled counts (recall, ads, clusters) for the whole set."""
    r3_total = sum(r.r3_total for r in rows)
    ad_tp, ad_fl, ad_pos = (sum(getattr(r, a) for r in rows) for a in ("ad_tp", "ad_flagged", "ad_pos"))
    allp = clusters(j)
    cross = clusters(j, cross_language=True)
    return {
        "ndcg": sum(r.ndcg for r in rows) / len(rows) if rows else 0.0,
        "r3_recall": sum(r.r3_found for r in rows) / r3_total if r3_total else 1.0,
        "ads_in_picks": sum(r.ads_in_picks for r in rows),
        "dup_in_picks": sum(r.dup_in_picks for r in rows),
        "ad_precision": ad_tp / ad_fl if ad_fl else 1.0,
        "ad_recall": ad_tp / ad_pos if ad_pos else 1.0,
        "cluster_f1": allp.f1,
        "cluster_p": allp.precision,
        "cluster_r": allp.recall,
        "cross_lang_f1": cross.f1,
        "cross_lang_r": cross.recall,
        "cross_lang_pairs": cross.tp + cross.fn,
    }


def format_table(title: str, rows: list[DayRow], summ: dict[str, float]) -> str:
    """A markdown table: one line per day, then the mean / pooled line."""
    head = (
        f"### {title}\n\n| day | nDCG@20 | rel-3 recall | ads in picks | dup stories in picks | ad P | ad R "
        "| cluster F1 (day) | picks | ideal hits |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        ap = f"{r.ad_tp / r.ad_flagged:.2f}" if r.ad_flagged else "–"
        ar = f"{r.ad_tp / r.ad_pos:.2f}" if r.ad_pos else "–"
        ih = f"{r.ideal_hits[0]}/{r.ideal_hits[1]}" if r.ideal_hits else "–"
        lines.append(
            f"| {r.day} | {r.ndcg:.3f} | {r.r3_found}/{r.r3_total} | {r.ads_in_picks} | {r.dup_in_picks} "
            f"| {ap} | {ar} | {r.cluster.f1:.3f} | {r.picks} | {ih} |"
        )
    lines.append(
        f"| **mean / all** | **{summ['ndcg']:.3f}** | **{summ['r3_recall']:.3f}** | **{summ['ads_in_picks']}** "
        f"| **{summ['dup_in_picks']}** | **{summ['ad_precision']:.3f}** | **{summ['ad_recall']:.3f}** "
        f"| **{summ['cluster_f1']:.3f}** | | |"
    )
    lines.append(
        f"\ncluster pairwise over all pairs of each label set: P {summ['cluster_p']:.3f} R {summ['cluster_r']:.3f} "
        f"F1 {summ['cluster_f1']:.3f}; cross-language pairs ({summ['cross_lang_pairs']} labelled same-story): "
        f"recall {summ['cross_lang_r']:.3f} F1 {summ['cross_lang_f1']:.3f}"
    )
    return "\n".join(lines)
