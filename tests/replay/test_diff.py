"""The replay diff on hand-made frames: added, removed, moved, stories lost."""

from datetime import date

import polars as pl

from bitbybit_assets.replay.diff import day_summary, pick_changes
from bitbybit_assets.replay.settings import deep_merge

D = date(2026, 8, 3)


def _scored(rows: list[tuple[str, str, int | None]]) -> pl.DataFrame:
    """(entry_key, cluster_id, rank if selected)"""
    return pl.DataFrame({
        "partition_date": [D] * len(rows),
        "entry_key": [r[0] for r in rows],
        "article_id": [r[0] for r in rows],
        "title": [f"title {r[0]}" for r in rows],
        "feed_name": ["feed"] * len(rows),
        "cluster_id": [r[1] for r in rows],
        "rank": [r[2] if r[2] is not None else 99 for r in rows],
        "selected": [r[2] is not None for r in rows],
    })


def test_changes_and_summary():
    published = _scored([("a", "s1", 1), ("b", "s2", 2), ("c", "s3", 3), ("c2", "s3", None), ("d", "s4", None)])
    replayed = _scored([("a", "s1", 2), ("b", "s2", None), ("c", "s3", None), ("c2", "s3", 3), ("d", "s4", 1)])
    changes = pick_changes(published, replayed)
    by_key = {r["entry_key"]: r for r in changes.iter_rows(named=True)}
    assert by_key["a"]["change"] == "moved" and by_key["a"]["rank_change"] == -1
    assert by_key["b"]["change"] == "removed" and by_key["d"]["change"] == "added"
    assert by_key["c"]["change"] == "removed" and by_key["c2"]["change"] == "added"
    (row,) = day_summary(published, replayed, changes).iter_rows(named=True)
    assert row == {"partition_date": D, "published_picks": 3, "replay_picks": 3, "added": 2, "removed": 2,
                   "kept": 1, "rank_changed": 1, "stories_lost": 1, "stories_gained": 1}  # s2 lost (s3 kept via c2)


def test_deep_merge_keeps_siblings():
    base = {"curation": {"top_n": 20, "weights": {"relevance": 0.6, "quality": 0.25}}, "pipeline": {"x": 1}}
    out = deep_merge(base, {"curation": {"weights": {"relevance": 0.9}}})
    assert out == {"curation": {"top_n": 20, "weights": {"relevance": 0.9, "quality": 0.25}}, "pipeline": {"x": 1}}
