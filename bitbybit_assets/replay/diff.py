"""A replay's picks against the published picks, per day (pure: polars frames in, frames out).

Both sides are ``scored_articles`` rows (all candidates of the day). A *pick* is a selected row; a
*story* is the published side's ``cluster_id`` (the replay's own cluster ids are not compared, so a
story is lost when none of the replay's picks belongs to the published story of a published pick).
"""

from __future__ import annotations

import polars as pl

PICK_COLUMNS = ["partition_date", "entry_key", "article_id", "title", "feed_name", "rank", "cluster_id"]
SUMMARY_SCHEMA = {
    "partition_date": pl.Date,
    "published_picks": pl.Int64,
    "replay_picks": pl.Int64,
    "added": pl.Int64,
    "removed": pl.Int64,
    "kept": pl.Int64,
    "rank_changed": pl.Int64,
    "stories_lost": pl.Int64,
    "stories_gained": pl.Int64,
}


def picks(scored: pl.DataFrame) -> pl.DataFrame:
    """The selected rows (``PICK_COLUMNS``), by day and rank."""
    if scored.is_empty() or "selected" not in scored.columns:
        return pl.DataFrame(schema={c: scored.schema.get(c, pl.String) for c in PICK_COLUMNS})
    return scored.filter(pl.col("selected").fill_null(False)).select(PICK_COLUMNS).sort("partition_date", "rank")


def pick_changes(published: pl.DataFrame, replayed: pl.DataFrame) -> pl.DataFrame:
    """One row per article picked on either side: ``change`` added | removed | moved | same, with
    both ranks (null on the side that did not pick it) and ``rank_change`` (published − replay)."""
    a = picks(published).rename({"rank": "published_rank"})
    b = picks(replayed).select("partition_date", "entry_key", "title", "feed_name", pl.col("rank").alias("replay_rank"))
    both = a.select("partition_date", "entry_key", "title", "feed_name", "published_rank").join(
        b, on=["partition_date", "entry_key"], how="full", coalesce=True, suffix="_replay"
    )
    both = both.with_columns(
        pl.coalesce("title", "title_replay").alias("title"),
        pl.coalesce("feed_name", "feed_name_replay").alias("feed_name"),
    ).drop("title_replay", "feed_name_replay")
    change = (
        pl.when(pl.col("published_rank").is_null()).then(pl.lit("added"))
        .when(pl.col("replay_rank").is_null()).then(pl.lit("removed"))
        .when(pl.col("published_rank") != pl.col("replay_rank")).then(pl.lit("moved"))
        .otherwise(pl.lit("same"))
    )
    return (
        both.with_columns(change.alias("change"),
                          (pl.col("published_rank") - pl.col("replay_rank")).alias("rank_change"))
        .select("partition_date", "change", "published_rank", "replay_rank", "rank_change", "title", "feed_name",
                "entry_key")
        .sort("partition_date", pl.coalesce("replay_rank", "published_rank"), "change")
    )


def day_summary(published: pl.DataFrame, replayed: pl.DataFrame, changes: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per day: picks on each side, added, removed, kept, rank_changed, stories lost and gained."""
    changes = pick_changes(published, replayed) if changes is None else changes
    story_of = published.select("partition_date", "entry_key", "cluster_id") if published.height else None
    days = sorted(set(published["partition_date"].to_list() if published.height else [])
                  | set(replayed["partition_date"].to_list() if replayed.height else []))
    rows = []
    for day in days:
        c = changes.filter(pl.col("partition_date") == day)
        counts = {k: int((c["change"] == k).sum()) for k in ("added", "removed", "moved", "same")}
        pub_picks = picks(published).filter(pl.col("partition_date") == day)
        rep_keys = picks(replayed).filter(pl.col("partition_date") == day)["entry_key"].to_list()
        pub_stories = set(pub_picks["cluster_id"].to_list())
        rep_stories: set = set()
        if story_of is not None:
            rep_stories = set(story_of.filter((pl.col("partition_date") == day)
                                              & pl.col("entry_key").is_in(rep_keys))["cluster_id"].to_list())
        rows.append({
            "partition_date": day,
            "published_picks": pub_picks.height,
            "replay_picks": len(rep_keys),
            "added": counts["added"],
            "removed": counts["removed"],
            "kept": counts["moved"] + counts["same"],
            "rank_changed": counts["moved"],
            "stories_lost": len(pub_stories - rep_stories),
            "stories_gained": len(rep_stories - pub_stories),
        })
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA)
