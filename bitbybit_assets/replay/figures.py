"""Evaluation figures of a day's picks on the labelled days (``evaluation``'s functions), for the
published and the replayed side alike (pure)."""

from __future__ import annotations

import polars as pl

from evaluation.dataset import LabelledDays
from evaluation.metrics import day_table, join_labels

FIGURES = ["ndcg", "ideal_hits", "ideal_size", "r3_found", "r3_total", "ads_in_picks"]


def evaluation_figures(scored: pl.DataFrame, labelled: LabelledDays | None, k: int = 20) -> pl.DataFrame:
    """Per labelled day of ``scored``: nDCG@k, hits on the ideal list, relevance-3 stories found, ads picked."""
    schema = {"partition_date": pl.Date, **{f: pl.Float64 if f == "ndcg" else pl.Int64 for f in FIGURES}}
    if labelled is None or scored.is_empty():
        return pl.DataFrame(schema=schema)
    days = scored["partition_date"].unique().to_list()
    labels = labelled.labels.filter(pl.col("date").is_in(days))
    if labels.is_empty():
        return pl.DataFrame(schema=schema)
    ideal = labelled.ideal.filter(pl.col("date").is_in(days))
    rows = []
    for r in day_table(join_labels(scored, labels), ideal, k):
        hits = r.ideal_hits
        rows.append({"partition_date": pl.Series([r.day]).str.to_date()[0], "ndcg": round(r.ndcg, 4),
                     "ideal_hits": hits[0] if hits else None, "ideal_size": hits[1] if hits else None,
                     "r3_found": r.r3_found, "r3_total": r.r3_total, "ads_in_picks": r.ads_in_picks})
    return pl.DataFrame(rows, schema=schema)


def side_by_side(published: pl.DataFrame, replayed: pl.DataFrame) -> pl.DataFrame:
    """The two sides' figures in one frame (``published_ndcg``, ``replay_ndcg``, ...)."""
    a = published.rename({f: f"published_{f}" for f in FIGURES})
    b = replayed.rename({f: f"replay_{f}" for f in FIGURES})
    return a.join(b, on="partition_date", how="full", coalesce=True)
