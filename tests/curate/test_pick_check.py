"""The second same-story check among the picks: the loose pair test, "like a story already sent", and
selection skipping a row related to an earlier pick."""

from __future__ import annotations

from datetime import date

import numpy as np

from bitbybit_assets.curate.clustering import ClusterRows
from bitbybit_assets.curate.pick_check import RelatedStories, for_day, like_sent
from bitbybit_assets.curate.selection import Candidate, select
from bitbybit_base.settings import CurationSettings

FILLER = [f"Filler headline number {w} about nothing" for w in ("one", "two", "three", "four", "five", "six")]


def vectors(cosines: list[float]) -> np.ndarray:
    """Row 0 = e0; row k = cosines[k-1] * e0 + sqrt(1 - c²) * e_k (unit vectors, cosine c to row 0)."""
    n = len(cosines) + 1
    out = np.zeros((n, n), dtype=np.float32)
    out[0, 0] = 1.0
    for k, c in enumerate(cosines, start=1):
        out[k, 0], out[k, k] = c, np.sqrt(1 - c * c)
    return out


def pad(emb: np.ndarray, titles: list[str]) -> tuple[np.ndarray, list[str]]:
    """Filler rows (orthogonal, unrelated titles) so the shared words of the real rows are rare and
    the common word "model" is in more than ``cluster_rare_df`` titles."""
    extra = [f"{t} model" for t in FILLER]
    n, m = emb.shape[0], len(extra)
    big = np.zeros((n + m, emb.shape[1] + m), dtype=np.float32)
    big[:n, : emb.shape[1]] = emb
    big[n:, emb.shape[1] :] = np.eye(m, dtype=np.float32)
    return big, titles + extra


def test_a_shared_rare_name_and_a_moderate_cosine_make_two_rows_related():
    cfg = CurationSettings()  # pick_check_min_similarity 0.45
    titles = [
        "Meta Muse Glimmer: open weights local coding model",
        "Meta's new Glimmer AI model hints at a personal AI vision",  # shares the name "glimmer"
        "Glimmer of hope for the housing market",  # the name, but a weak cosine
        "A coding model ranks first",  # one rare word ("coding", no name) and a common one
    ]
    emb, titles = pad(vectors([0.5, 0.2, 0.7]), titles)
    test = RelatedStories(titles, emb, None, cfg)
    assert test.shared_evidence(0, 1) == ["glimmer", "meta"]
    assert test.related(0, 1) and test.related(1, 0)
    assert not test.related(0, 2)  # cosine 0.2 < 0.45
    assert test.shared_evidence(0, 3) == [] and not test.related(0, 3)  # cosine 0.7, no evidence
    assert not test.related(0, 0)
    off = RelatedStories(titles, emb, None, CurationSettings(pick_check_min_similarity=None))
    assert not off.related(0, 1)


def test_a_capitalised_word_written_in_lower_case_elsewhere_is_not_a_name():
    # "Improving" starts both titles, but the window also has "improving" mid-title: a word, not a name
    titles = [
        "Improving GPT-5.6 Sol in ChatGPT for free users",
        "Improving Fable 5's biology safeguards",
        "Notes on improving sleep with data",
    ]
    emb, titles = pad(vectors([0.5, 0.1]), titles)
    test = RelatedStories(titles, emb, None, CurationSettings())
    assert test.shared_evidence(0, 1) == [] and not test.related(0, 1)
    # without the lower-case use the shared first word still reads as a name
    alone = RelatedStories(titles[:2] + titles[3:], np.delete(emb, 2, axis=0), None, CurationSettings())
    assert alone.shared_evidence(0, 1) == ["improv"] and alone.related(0, 1)


def test_the_multilingual_cosine_counts_only_when_asked():
    titles = ["Glimmer ships to developers", "Glimmer review after one week"]
    emb, titles = pad(vectors([0.3]), titles)
    ml = np.zeros_like(emb)
    ml[0, 0] = ml[1, 0] = 1.0  # the second encoder: same story
    assert not RelatedStories(titles, emb, ml, CurationSettings()).related(0, 1)
    assert RelatedStories(titles, emb, ml, CurationSettings(pick_check_multilingual=True)).related(0, 1)


def test_like_sent_names_the_most_similar_related_row_sent_earlier():
    cfg = CurationSettings(pick_check_min_similarity_sent=0.45, pick_check_min_rare_tokens_sent=1)
    titles = [
        "Zuckerberg attacks closed AI rivals",  # today's row (index 0)
        "Zuckerberg manifesto explained",  # sent on 08-10, cosine 0.5
        "Zuckerberg on closed AI rivals",  # sent on 08-09, cosine 0.8: the closer one wins
        "Quarterly rainfall statistics",  # sent, unrelated
    ]
    emb, titles = pad(vectors([0.5, 0.8, 0.9]), titles)
    test = RelatedStories(titles, emb, None, cfg)
    days = [date(2026, 8, 10), date(2026, 8, 9), date(2026, 8, 8)]
    out = like_sent(test, [0, 4], [1, 2, 3], days, titles[1:4])
    assert out == ["2026-08-09 ('Zuckerberg on closed AI rivals')", None]
    assert like_sent(test, [0], [], [], []) == [None]
    # against what was sent, two shared rare tokens can be required ("zuckerberg" alone is one)
    strict = RelatedStories(titles, emb, None, cfg.model_copy(update={"pick_check_min_rare_tokens_sent": 2}))
    assert like_sent(strict, [0], [1], days[:1], titles[1:2]) == [None]
    assert like_sent(strict, [0], [2], days[1:2], titles[2:3]) == [
        "2026-08-09 ('Zuckerberg on closed AI rivals')"
    ]
    assert strict.related(0, 1)  # the same-day test keeps its own (looser) evidence


def test_for_day_reads_the_window_first_and_only_rows_that_were_sent():
    cfg = CurationSettings(pick_check_min_similarity_sent=0.6)
    titles = ["Glimmer launch recap", "Glimmer launch keynote", "Glimmer launch in numbers"]
    emb = vectors([0.9, 0.9])
    rows = ClusterRows(
        keys=["w0", "w1", "d0"],
        titles=titles,
        emb=emb,
        history_cluster=["c0", "c1", None],
        same_article=[None] * 3,
        duplicate_of=[None] * 3,
    )
    related, like = for_day(rows, [False, True], [date(2026, 8, 9), date(2026, 8, 10)], cfg)
    assert like == ["2026-08-10 ('Glimmer launch keynote')"]  # w0 was not sent
    assert not related(0, 0)
    assert for_day(rows, [False, True], [date(2026, 8, 9), date(2026, 8, 10)], CurationSettings())[1] == [
        None
    ]


def cand(i: int, title: str) -> Candidate:
    return Candidate(
        key=f"k{i}",
        feed_name=f"feed{i}",
        title=title,
        final_score=10.0 - i,
        quality_score=7.0,
        relevance_score=7.0,
        passed_filter=True,
        filter_reason=None,
        is_advertisement=False,
        is_canonical=True,
        canonical_title=title,
        previously_sent_on=None,
        cluster_id=f"c{i}",
    )


def test_selection_skips_a_row_related_to_an_earlier_pick_and_fills_the_place():
    cfg = CurationSettings(top_n=2, per_feed_cap=10)
    cands = [cand(0, "A"), cand(1, "B"), cand(2, "C")]
    sel = select(cands, np.eye(3, dtype=np.float32), cfg, related=lambda a, b: {a, b} == {0, 1})
    assert sel.selected == [True, False, True]
    assert sel.reason[1] == "not selected: same story as pick 1 ('A')" and sel.rank[1] is None
    assert sel.rank[2] == 2
    # past top_n nothing is skipped: the check is about the picks only
    sel = select(cands, np.eye(3, dtype=np.float32), CurationSettings(top_n=1), related=lambda a, b: True)
    assert sel.selected == [True, False, False] and sel.rank == [1, 2, 3]


def test_a_row_like_a_story_sent_earlier_is_not_eligible():
    c = cand(0, "A")
    c.like_sent = "2026-08-10 ('Meta Muse Glimmer')"
    sel = select([c, cand(1, "B")], np.eye(2, dtype=np.float32), CurationSettings(top_n=2))
    assert sel.reason[0] == "not selected: like a story sent on 2026-08-10 ('Meta Muse Glimmer')"
    assert sel.selected == [False, True]
