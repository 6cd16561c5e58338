"""Which day an entry belongs to.

Rule: an entry belongs to the first day its id (guid / Atom id, else link) appears in that feed's
snapshots, looking back ``history_days`` days through ``raw_feeds``. Snapshots repeat a feed's back
catalogue every day; only entries never seen before in the same feed are new. The rule reads only
``raw_feeds`` rows, so the result is the same in whatever order days are materialised, as long as
the earlier days' ``raw_feeds`` exist (missing history is an error unless explicitly allowed).
A feed with no entry in the history while others have some (its first snapshot, or its first after a
long gap) keeps only entries published since the day before (``silver.new_entries``).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from bitbybit_base.days import days_between


class MissingHistoryError(RuntimeError):
    """Earlier raw_feeds partitions needed for day assignment are not in the lakehouse."""


def history_window(day: date, history_days: int, start_date: date) -> tuple[date, date] | None:
    """The earlier days (inclusive range) whose sightings decide what is new on ``day``."""
    first = max(start_date, day - timedelta(days=history_days))
    last = day - timedelta(days=1)
    return (first, last) if first <= last else None


def missing_history_days(day: date, present: set[date], history_days: int, start_date: date) -> list[date]:
    window = history_window(day, history_days, start_date)
    if window is None:
        return []
    first, last = window
    return [d for d in days_between(first, last) if d not in present]


def seen_ids(raw_history: pl.DataFrame) -> dict[str, set[str]]:
    """feed_name → every entry id seen in that feed's earlier snapshots."""
    if raw_history.is_empty() or "entry_ids" not in raw_history.columns:
        return {}
    exploded = (
        raw_history.select("feed_name", "entry_ids")
        .explode("entry_ids")
        .drop_nulls("entry_ids")
        .unique()
        .group_by("feed_name")
        .agg(pl.col("entry_ids"))
    )
    return {row["feed_name"]: set(row["entry_ids"]) for row in exploded.iter_rows(named=True)}
