"""The evaluation's figures on small hand-made label sets (exact values), and label loading."""

from __future__ import annotations

import math
from datetime import date

import polars as pl

from evaluation import metrics
from evaluation.dataset import load_labelled_days

D1, D2 = date(2026, 8, 1), date(2026, 8, 2)


def joined(rows: list[tuple]) -> pl.DataFrame:
    """(date, story, relevance, ad, lang, passed, selected, rank, final_score, cluster_id)."""
    cols = [
        "date",
        "story",
        "relevance",
        "ad",
        "lang",
        "passed_filter",
        "selected",
        "rank",
        "final_score",
        "cluster_id",
    ]
    df = pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])
    return df.with_columns(
        pl.lit("set").alias("label_set"),
        pl.lit("feed").alias("feed_slug"),
        pl.col("story").alias("title"),
        pl.col("rank").cast(pl.Int32),
        (pl.col("ad") == 1).alias("is_advertisement"),
    )


def test_ndcg_gives_one_gain_per_story_and_none_to_ads_and_repeats():
    j = joined(
        [
            (D1, "a", 3, 0, "en", True, True, 1, 9.0, "c1"),
            (D1, "a", 3, 0, "en", True, False, None, 8.0, "c1"),  # second row of story a: no gain
            (D1, "b", 2, 0, "en", True, False, None, 7.0, "c2"),
            (D1, "ad", 1, 1, "en", True, False, None, 6.0, "c3"),
            (D2, "a", 3, 0, "en", True, False, None, 9.0, "c1"),  # repeat of day 1: gain 0
            (D2, "c", 1, 0, "en", True, False, None, 1.0, "c4"),
        ]
    )
    nd = metrics.ndcg_by_day(j)
    ideal = 7 + 3 / math.log2(3)
    got = 7 + 0 / math.log2(3) + 3 / math.log2(4)
    assert math.isclose(nd["2026-08-01"], got / ideal)
    # day 2: the repeat ranked first earns nothing and pushes story c to the second place
    assert math.isclose(nd["2026-08-02"], (1 / math.log2(3)) / 1.0)


def test_pairwise_clusters_and_cross_language_pairs():
    j = joined(
        [
            (D1, "s", 2, 0, "en", True, False, None, 1.0, "c1"),
            (D1, "s", 2, 0, "zh", True, False, None, 1.0, "c2"),  # missed cross-language pair
            (D1, "t", 1, 0, "en", True, False, None, 1.0, "c1"),  # wrongly merged with s
        ]
    )
    allp = metrics.clusters(j)
    assert (allp.tp, allp.fp, allp.fn) == (0, 1, 1)
    cross = metrics.clusters(j, cross_language=True)
    assert (cross.tp, cross.fn) == (0, 1) and cross.recall == 0.0


def test_relevance3_recall_counts_a_story_on_its_first_day():
    j = joined(
        [
            (D1, "big", 3, 0, "en", True, False, None, 1.0, "c1"),
            (D2, "big", 3, 0, "en", True, True, 1, 1.0, "c1"),  # picked a day late: a miss
            (D2, "new", 3, 0, "en", True, True, 2, 1.0, "c2"),
        ]
    )
    r3 = metrics.relevance3(j)
    assert dict(zip(r3["story"], r3["found"], strict=True)) == {"big": False, "new": True}


def test_label_folders_merge_per_day_and_parts_count_only_finished_days(tmp_path):
    head = "date\tfeed_slug\tentry_id\tlink\ttitle\tad\trelevance\tstory\tlang\tnote\n"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "labels.tsv").write_text(head + "2026-08-05\tf\te1\tl\tt\t0\t2\ts1\ten\t\n")
    (shared / "ideal.tsv").write_text(
        "date\trank\tstory\tfeed_slug\tentry_id\ttitle\n2026-08-05\t1\ts1\tf\te1\tt\n"
    )
    own = tmp_path / "own" / "parts"
    own.mkdir(parents=True)
    items = "date\tfeed_slug\tentry_id\tlink\ttitle\tpublished\texcerpt\n"
    (own / "A_items.tsv").write_text(
        items
        + "2026-08-01\tf\te2\tl\tt\tp\tx\n2026-08-02\tf\te3\tl\tt\tp\tx\n2026-08-02\tf\te4\tl\tt\tp\tx\n"
    )
    # 08-02 is half labelled: left out until it is finished
    (own / "A_labels.tsv").write_text(
        head + "2026-08-01\tf\te2\tl\tt\t0\t1\ts2\ten\t\n2026-08-02\tf\te3\tl\tt\t0\t1\ts3\ten\t\n"
    )
    got = load_labelled_days([shared, tmp_path / "own"])
    assert [str(d) for d in got.days] == ["2026-08-01", "2026-08-05"]
    assert got.sources == {"2026-08-05": "merged", "2026-08-01": "own/parts/A"}
    assert got.ideal.height == 1
