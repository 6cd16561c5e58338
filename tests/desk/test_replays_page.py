"""``/replays``: a stored replay's diff per day and its changed picks, escaped."""

from datetime import date

import polars as pl

from bitbybit_assets.replay.diff import day_summary, pick_changes
from bitbybit_assets.replay.run import CHANGES_TABLE, SUMMARY_TABLE, replay_root
from resources.lakehouse import Lakehouse

D = date(2026, 8, 3)


def _scored(keys: list[str], ranks: list[int | None]) -> pl.DataFrame:
    return pl.DataFrame({
        "partition_date": [D] * len(keys), "entry_key": keys, "article_id": keys,
        "title": [f"<b>{k}</b>" for k in keys], "feed_name": ["feed"] * len(keys), "cluster_id": keys,
        "rank": [r or 99 for r in ranks], "selected": [r is not None for r in ranks],
    })


def test_replay_page_shows_the_diff(editor, desk_env):
    published, replayed = _scored(["a", "b", "c"], [1, 2, None]), _scored(["a", "b", "c"], [2, None, 1])
    changes = pick_changes(published, replayed)
    summary = day_summary(published, replayed, changes).with_columns(
        pl.lit(0.8).alias("published_ndcg"), pl.lit(0.9).alias("replay_ndcg"),
        pl.lit(3).alias("published_ideal_hits"), pl.lit(4).alias("replay_ideal_hits"),
        pl.lit(8).alias("published_ideal_size"))
    target = Lakehouse(root=replay_root(Lakehouse().root_uri(), "tighter"))
    target.write_days(SUMMARY_TABLE, summary, D, D)
    target.write_days(CHANGES_TABLE, changes, D, D)

    listing = editor.get("/replays")
    assert listing.status_code == 200 and 'href="/replays/tighter"' in listing.text
    page = editor.get("/replays/tighter")
    assert page.status_code == 200
    assert "2 → 2" in page.text and "0.800 → 0.900" in page.text and "3 → 4 of 8" in page.text
    assert "&lt;b&gt;c&lt;/b&gt;" in page.text and "<b>c</b>" not in page.text  # feed text escaped
    assert editor.get("/replays/nope").status_code == 404
    assert editor.get("/replays/..%2Fx").status_code == 404
