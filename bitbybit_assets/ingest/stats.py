"""Per-feed counts for materialisation metadata. No Dagster here."""

from __future__ import annotations

import polars as pl


def per_feed_filter_counts(filtered: pl.DataFrame) -> pl.DataFrame:
    """One row per feed: new entries, passed, and a column per drop reason."""
    if filtered.is_empty():
        return pl.DataFrame(schema={"feed_name": pl.String, "new_entries": pl.UInt32, "passed": pl.UInt32})
    base = filtered.group_by("feed_name").agg(
        pl.len().alias("new_entries"), pl.col("passed_filter").sum().cast(pl.UInt32).alias("passed")
    )
    reasons = filtered.filter(pl.col("filter_reason").is_not_null())
    if not reasons.is_empty():
        wide = reasons.pivot(on="filter_reason", index="feed_name", values="entry_key", aggregate_function="len")
        base = base.join(wide, on="feed_name", how="left")
    return base.fill_null(0).sort("feed_name")


def markdown_table(df: pl.DataFrame, max_rows: int = 60) -> str:
    """A small markdown table (for Dagster metadata)."""
    if df.is_empty():
        return "_no rows_"
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.head(max_rows).iter_rows():
        cells = [str(v).replace("|", "\\|").replace("\n", " ") if v is not None else "" for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    if df.height > max_rows:
        lines.append(f"\n_{df.height - max_rows} more rows_")
    return "\n".join(lines)
