"""Selection constraints: top_n, per-feed cap, no ads, one per cluster, previously sent, thresholds."""

from __future__ import annotations

import numpy as np

from bitbybit_assets.curate.selection import Candidate, select
from bitbybit_base.settings import CurationSettings


def cand(i: int, **kw) -> Candidate:
    base = dict(
        key=f"k{i}",
        feed_name=f"feed{i}",
        title=f"Story {i}",
        final_score=10.0 - i * 0.1,
        quality_score=7.0,
        relevance_score=7.0,
        passed_filter=True,
        filter_reason=None,
        is_advertisement=False,
        is_canonical=True,
        canonical_title=f"Story {i}",
        previously_sent_on=None,
        cluster_id=f"c{i}",
    )
    base.update(kw)
    return Candidate(**base)


def orthogonal(n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)


def test_top_n_and_ranks():
    cfg = CurationSettings(top_n=3, per_feed_cap=10)
    cands = [cand(i) for i in range(5)]
    sel = select(cands, orthogonal(5), cfg)
    assert sel.selected == [True, True, True, False, False]
    assert sel.rank == [1, 2, 3, 4, 5]
    assert sel.reason[0] == "selected: rank 1"
    assert "below top_n" in sel.reason[4]


def test_fewer_than_top_n_when_thresholds_fail():
    cfg = CurationSettings(top_n=5, min_relevance=4.0, min_quality=3.0)
    cands = [cand(0), cand(1, relevance_score=3.9), cand(2, quality_score=2.0), cand(3)]
    sel = select(cands, orthogonal(4), cfg)
    assert sum(sel.selected) == 2
    assert sel.reason[1] == "not selected: below min_relevance" and sel.rank[1] is None
    assert sel.reason[2] == "not selected: below min_quality" and sel.rank[2] is None


def test_ads_filtered_previously_sent_and_old_stories_are_never_picked():
    cfg = CurationSettings(top_n=10)
    cands = [
        cand(0, is_advertisement=True),
        cand(1, passed_filter=False, filter_reason="language"),
        cand(2, previously_sent_on="2026-08-05"),
        cand(3, first_seen_on="2026-08-01"),
        cand(4),
    ]
    sel = select(cands, orthogonal(5), cfg)
    assert sel.selected == [False, False, False, False, True]
    assert sel.reason[0] == "not selected: advertisement"
    assert sel.reason[1] == "not selected: filtered (language)"
    assert sel.reason[2] == "not selected: already sent on 2026-08-05"
    assert sel.reason[3] == "not selected: old story (first seen on 2026-08-01)"
    assert all(r is None for r in sel.rank[:4])


def test_one_pick_per_cluster():
    cfg = CurationSettings(top_n=10)
    cands = [
        cand(0, cluster_id="s"),
        cand(1, cluster_id="s", is_canonical=False, canonical_title="Story 0"),
        cand(2),
    ]
    sel = select(cands, orthogonal(3), cfg)
    assert sel.selected == [True, False, True]
    assert sel.reason[1] == "not selected: duplicate of story 'Story 0'"


def test_per_feed_cap_and_a_capped_story_falls_back_to_another_source():
    cfg = CurationSettings(top_n=10, per_feed_cap=2)
    cands = [
        cand(0, feed_name="tc"),
        cand(1, feed_name="tc"),
        cand(2, feed_name="tc", cluster_id="s"),  # canonical of story s, but tc is full
        cand(3, feed_name="hn", cluster_id="s", is_canonical=False, canonical_title="Story 2"),
        cand(4, feed_name="tc"),
    ]
    sel = select(cands, orthogonal(5), cfg)
    assert sel.selected == [True, True, False, True, False]
    assert sel.reason[2].startswith("not selected: per-feed cap (2 from tc)")
    assert sel.reason[4].startswith("not selected: per-feed cap")
    assert sel.representative == {"s": 3}


def test_mmr_prefers_diversity():
    cfg = CurationSettings(top_n=2, mmr_lambda=0.5)
    emb = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)  # rows 0 and 1 say the same thing
    cands = [cand(0, final_score=9.0), cand(1, final_score=8.9), cand(2, final_score=8.0)]
    sel = select(cands, emb, cfg)
    assert sel.selected == [True, False, True]


def test_source_share_and_content_type_share_caps():
    cfg = CurationSettings(top_n=10, per_feed_cap=10, max_source_share=0.2, max_content_type_share=0.3)
    cands = [
        cand(i, feed_name="tc" if i < 4 else f"f{i}", content_type="funding" if i >= 4 else "news")
        for i in range(10)
    ]
    sel = select(cands, orthogonal(10), cfg)
    # 2 of 10 per source (tc), 3 of 10 per content type (funding)
    assert [i for i in range(10) if sel.selected[i]] == [0, 1, 4, 5, 6]
    assert sel.reason[2] == "not selected: per-feed cap (2 from tc)"
    assert sel.reason[7] == "not selected: content-type cap (3 of type funding)"


def test_rows_below_the_ranker_floor_are_never_picked_so_a_quiet_day_stays_short():
    cfg = CurationSettings(top_n=5)
    cands = [cand(0, below_floor=False), cand(1, below_floor=False), cand(2, below_floor=True)]
    sel = select(cands, orthogonal(3), cfg)
    assert sel.selected == [True, True, False]
    assert sel.reason[2] == "not selected: below the ranker's quality floor"
