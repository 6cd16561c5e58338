from datetime import date

import polars as pl

from bitbybit_assets.ingest.day_assignment import history_window, missing_history_days, seen_ids
from evaluation.local_run import filtered_articles_for_days

START = date(2026, 7, 18)


def test_history_window_clipped_at_start():
    assert history_window(date(2026, 7, 18), 30, START) is None
    assert history_window(date(2026, 7, 20), 30, START) == (START, date(2026, 7, 19))
    assert history_window(date(2026, 9, 1), 3, START) == (date(2026, 8, 29), date(2026, 8, 31))


def test_missing_history_days():
    present = {date(2026, 8, 1), date(2026, 8, 3)}
    assert missing_history_days(date(2026, 8, 4), present, 3, START) == [date(2026, 8, 2)]


def test_seen_ids_per_feed():
    raw = pl.DataFrame({"feed_name": ["a", "a", "b"], "entry_ids": [["1", "2"], ["2", "3"], None]})
    assert seen_ids(raw) == {"a": {"1", "2", "3"}}


def test_new_items_match_the_corpus_manifest(full_corpus):
    """First-seen day assignment reproduces MANIFEST.tsv's new_items for a labelled day."""
    manifest = pl.read_csv(full_corpus / "MANIFEST.tsv", separator="\t", quote_char=None)
    expected = {
        r["feed_slug"]: r["new_items"] for r in manifest.filter(pl.col("date") == "2026-08-06").iter_rows(named=True)
    }
    df = filtered_articles_for_days(full_corpus, [date(2026, 8, 6)])
    got = dict(df.group_by("feed_name").len().iter_rows())
    assert {k: v for k, v in expected.items() if v} == got


def test_day_assignment_is_order_independent(sample_archive):
    days = [date(2026, 8, 5), date(2026, 8, 6), date(2026, 8, 7)]
    together = filtered_articles_for_days(sample_archive, days)
    separately = pl.concat([filtered_articles_for_days(sample_archive, [d]) for d in reversed(days)])
    key = ["partition_date", "entry_key"]
    assert together.sort(key).equals(separately.sort(key))
