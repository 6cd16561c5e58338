"""Materialisation metadata for scored_articles: the picks as a table, and decision counts."""

from __future__ import annotations

import polars as pl

PICK_COLUMNS = [
    "partition_date",
    "rank",
    "title",
    "feed_name",
    "final_score",
    "tech_relevance_score",
    "quality_score",
    "content_type",
    "cluster_size",
]


def picks(scored: pl.DataFrame) -> pl.DataFrame:
    """The selected rows, in day and rank order, with the columns shown to people."""
    if scored.is_empty():
        return pl.DataFrame(schema={c: pl.String for c in PICK_COLUMNS})
    return scored.filter(pl.col("selected")).sort("partition_date", "rank").select(PICK_COLUMNS)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def picks_markdown(scored: pl.DataFrame, max_title: int = 90) -> str:
    """Markdown table of the picks (rank, title, feed, scores, content type, cluster size)."""
    p = picks(scored)
    lines = [
        "| day | rank | title | feed | final | relevance | quality | type | cluster |",
        "|---|---:|---|---|---:|---:|---:|---|---:|",
    ]
    for r in p.iter_rows(named=True):
        title = (r["title"] or "")[:max_title]
        lines.append(
            f"| {r['partition_date']} | {r['rank']} | {_cell(title)} | {_cell(r['feed_name'])} | "
            f"{r['final_score']:.2f} | {r['tech_relevance_score']:.2f} | {r['quality_score']:.2f} | "
            f"{r['content_type']} | {r['cluster_size']} |"
        )
    return "\n".join(lines) if p.height else "_no article selected_"


def decision_counts(scored: pl.DataFrame) -> dict[str, int]:
    """How many rows were filtered, ads, duplicates, already sent, eligible and selected."""
    if scored.is_empty():
        return {"articles": 0}
    passed = pl.col("passed_filter").fill_null(False)
    reason = pl.col("selection_reason")
    return {
        "articles": scored.height,
        "filtered_out": scored.filter(~passed).height,
        "advertisements": scored.filter(pl.col("is_advertisement")).height,
        "duplicates": scored.filter(passed & reason.str.contains("duplicate of story|same story as pick")).height,
        "previously_sent": scored.filter(passed & pl.col("previously_sent")).height,
        "below_thresholds": scored.filter(reason.str.contains("below min_")).height,
        "eligible": scored.filter(pl.col("rank").is_not_null()).height,
        "selected": scored.filter(pl.col("selected")).height,
        "clusters": scored["cluster_id"].n_unique(),
    }


def selected_per_day(scored: pl.DataFrame) -> dict[str, int]:
    if scored.is_empty():
        return {}
    counts = scored.group_by("partition_date").agg(pl.col("selected").sum().alias("n")).sort("partition_date")
    return {str(r["partition_date"]): int(r["n"]) for r in counts.iter_rows(named=True)}
