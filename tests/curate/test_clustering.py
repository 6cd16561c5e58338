"""Same-story clustering: crafted near-duplicates vs distinct stories, history ids, forced links."""

from __future__ import annotations

import numpy as np

from bitbybit_assets.curate.clustering import (
    ClusterRows,
    assign_clusters,
    different_versions,
    name_followers,
    title_tokens,
    written_lower,
)
from bitbybit_base.settings import CurationSettings

CFG = CurationSettings()

FILLER = [
    "City council approves new bike lanes downtown",
    "Local bakery wins national bread award",
    "Storm season expected to be mild this year",
    "Museum opens exhibition of medieval maps",
    "Football club signs young striker from rival",
    "New study links sleep and memory in older adults",
    "Train operator announces timetable changes for winter",
    "Art auction sets record for contemporary painting",
]


def cluster(titles, encoder, history=None, same_article=None, dup=None):
    history = history or [None] * len(titles)
    rows = ClusterRows(
        keys=[f"k{i}" for i in range(len(titles))],
        titles=titles,
        emb=encoder.encode(titles),
        history_cluster=history,
        same_article=same_article or [None] * len(titles),
        duplicate_of=dup or [None] * len(titles),
    )
    return assign_clusters(rows, CFG)


def test_near_duplicates_join_and_distinct_stories_stay_apart(encoder):
    titles = [
        "Zorblax launches Quillon 3, an open-weights coding model",
        "Zorblax's Quillon 3 coding model is now open-weights",
        "Vantor raises $80M to build warehouse robots",
        "Warehouse robotics startup Vantor raises $80 million",
        "Zorblax cuts 200 jobs in its hardware division",
        *FILLER,
    ]
    ids = cluster(titles, encoder)
    assert ids[0] == ids[1]
    assert ids[2] == ids[3]
    assert len({ids[0], ids[2], ids[4]}) == 3  # same company, different story
    assert len(set(ids[5:])) == len(FILLER)


def test_same_topic_different_events_stay_apart(encoder):
    titles = [
        "Court fines Meridian $200M over child privacy",
        "Meridian launches a new VR headset for gamers",
        "Regulators open probe into Meridian ad tracking",
        *FILLER,
    ]
    ids = cluster(titles, encoder)
    assert len(set(ids[:3])) == 3


def test_new_rows_join_history_clusters_and_history_ids_never_change(encoder):
    titles = [
        "Zorblax launches Quillon 3, an open-weights coding model",  # earlier day, cluster H1
        "Vantor raises $80M to build warehouse robots",  # earlier day, cluster H2
        "Zorblax's Quillon 3 coding model is now open-weights",  # new
        "Something else entirely: a new ferry route opens",  # new
        *FILLER,
    ]
    history = ["H1", "H2", None, None] + [None] * len(FILLER)
    ids = cluster(titles, encoder, history=history)
    assert ids[:2] == ["H1", "H2"]
    assert ids[2] == "H1"
    assert ids[3] not in {"H1", "H2"}


def test_two_history_clusters_are_never_merged():
    emb = np.eye(3, dtype=np.float32)
    emb[2] = (emb[0] + emb[1]) / np.sqrt(2)
    rows = ClusterRows(
        keys=["a", "b", "c"],
        titles=["Quillon ships", "Quillon ships", "Quillon ships"],
        emb=np.vstack([emb[0], emb[0], emb[0]]),
        history_cluster=["H1", "H2", None],
        same_article=[None, None, None],
        duplicate_of=[None, None, None],
    )
    ids = assign_clusters(rows, CFG)
    assert ids[0] == "H1" and ids[1] == "H2" and ids[2] in {"H1", "H2"}


def test_same_article_and_url_duplicates_are_forced_together():
    emb = np.eye(4, dtype=np.float32)  # embeddings say: all different
    rows = ClusterRows(
        keys=["a", "b", "c", "d"],
        titles=["One", "Two", "Three", "Four"],
        emb=emb,
        history_cluster=[None] * 4,
        same_article=["art1", "art1", None, None],
        duplicate_of=[None, None, None, "c"],
    )
    ids = assign_clusters(rows, CFG)
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]


def test_cjk_titles_match_on_shared_bigrams_not_embeddings():
    titles = ["长鑫拒绝苹果压价采购内存芯片", "苹果压价采购被长鑫拒绝 内存芯片涨价", "北京今天下雨 气温下降"]
    emb = np.ones((3, 4), dtype=np.float32) / 2.0  # the English model sees all CJK as alike
    rows = ClusterRows(
        keys=["a", "b", "c"],
        titles=titles,
        emb=emb,
        history_cluster=[None] * 3,
        same_article=[None] * 3,
        duplicate_of=[None] * 3,
    )
    ids = assign_clusters(rows, CFG)
    assert ids[0] == ids[1] != ids[2]


def test_title_tokens():
    toks = title_tokens("OpenAI’s GPT-5 launches today")
    assert toks["openai"] is True and toks["gpt-5"] is True and "today" in toks and toks["launche"] is False
    assert "the" not in title_tokens("The model")
    assert "长鑫" in title_tokens("长鑫拒绝")


def test_different_versions_of_one_name_are_different_stories():
    assert name_followers("Introducing Grok 4.6") == {
        "introduc": ("grok", "4.6"), "grok": ("4.6", "4.6"), "introduc grok": ("4.6", "4.6")
    }
    fast = [name_followers(t) for t in ("Grok Voice Think Fast 1.0", "Introducing Grok Voice Think Fast 2.0")]
    assert fast[0]["grok voice think fast"] == ("1.0", "1.0") and fast[1]["grok voice think fast"] == ("2.0", "2.0")
    assert different_versions(*fast, {"fast", "think", "voice"})  # a run with one name in it is a name
    assert not different_versions(*fast, {"fast", "think", "voice", "grok"})
    assert set(name_followers("How Big Tech Won")) == {"how", "big", "how big", "tech", "big tech", "how big tech"}
    robotics = [name_followers(t) for t in ("Gemini Robotics 2 brings whole body intelligence",
                                           "Gemini Robotics ER 2: powering robotics with video understanding")]
    assert not different_versions(*robotics, set())  # companion posts: the same version "2" after the name
    bot, v46, copilot = (
        name_followers(t) for t in ("Introducing Grok Bot", "Grok 4.6", "Grok 4.6 in GitHub Copilot")
    )
    assert different_versions(bot, v46, set()) and not different_versions(v46, copilot, set())
    quake = [
        name_followers(t)
        for t in ("Magnitude 7.4 Earthquake in Colombia", "Magnitude 7.7 Earthquake in Indonesia")
    ]
    assert different_versions(*quake, set())
    assert not different_versions(*quake, {"magnitude"})  # a word written in lower case elsewhere is no name
    pay = [name_followers(t) for t in ("Meta Ordered to Pay $942M", "Court orders Meta to pay $567M")]
    assert not different_versions(*pay, set())  # "Pay" is capitalised in one title only
    assert written_lower([title_tokens("Improving X"), title_tokens("Notes on improving sleep")]) == {
        "improv",
        "sleep",
    }  # "Notes" starts its title


def test_a_version_conflict_keeps_even_identical_vectors_apart():
    titles = ["Introducing Grok 4.6", "Introducing Grok Bot", "Grok 4.6 scores 61 on a benchmark"]
    rows = ClusterRows(
        keys=["a", "b", "c"],
        titles=titles,
        emb=np.ones((3, 4), dtype=np.float32) / 2.0,  # cosine 1.0 between every pair
        history_cluster=[None] * 3,
        same_article=[None] * 3,
        duplicate_of=[None] * 3,
    )
    ids = assign_clusters(rows, CFG)
    assert ids[0] == ids[2] != ids[1]
    off = CFG.model_copy(update={"cluster_version_veto": False})
    assert len(set(assign_clusters(rows, off))) == 1


def _cjk_rows(emb_ml: np.ndarray | None) -> ClusterRows:
    titles = ["长鑫拒绝苹果压价采购内存芯片", "苹果压价采购被长鑫拒绝 内存芯片涨价", "北京今天下雨 气温下降"]
    return ClusterRows(
        keys=["a", "b", "c"],
        titles=titles,
        emb=np.ones((3, 4), dtype=np.float32) / 2.0,
        history_cluster=[None] * 3,
        same_article=[None] * 3,
        duplicate_of=[None] * 3,
        emb_ml=emb_ml,
    )


def test_the_multilingual_cosine_vetoes_a_cjk_token_match():
    far = np.eye(3, dtype=np.float32)  # the multilingual encoder: three different stories
    assert CFG.cluster_min_similarity_cjk is not None
    ids = assign_clusters(_cjk_rows(far), CFG)
    assert len(set(ids)) == 3
    off = CFG.model_copy(update={"cluster_min_similarity_cjk": None})
    ids = assign_clusters(_cjk_rows(far), off)
    assert ids[0] == ids[1] != ids[2]
    close = np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1]], dtype=np.float32)  # cosine 0.8
    ids = assign_clusters(_cjk_rows(close), CFG)
    assert ids[0] == ids[1] != ids[2]
    missing = close.copy()
    missing[1] = 0.0  # no multilingual vector for that row: tokens alone decide
    ids = assign_clusters(_cjk_rows(missing), CFG)
    assert ids[0] == ids[1] != ids[2]


def test_two_cjk_titles_link_on_the_multilingual_cosine_with_two_shared_rare_tokens():
    titles = ["蔡崇信宣布离婚 资产安排曝光", "蔡崇信夫妇分手 外界震惊", "北京今天下雨 气温下降"]
    close = np.array([[1, 0, 0], [0.7, np.sqrt(1 - 0.49), 0], [0, 0, 1]], dtype=np.float32)
    rows = ClusterRows(
        keys=["a", "b", "c"],
        titles=titles,
        emb=np.ones((3, 4), dtype=np.float32) / 2.0,
        history_cluster=[None] * 3,
        same_article=[None] * 3,
        duplicate_of=[None] * 3,
        emb_ml=close,
    )
    assert len(set(assign_clusters(rows, CFG))) == 3  # off by default; too few shared bigrams for tokens
    on = CFG.model_copy(update={"cluster_threshold_cjk": 0.6})
    ids = assign_clusters(rows, on)
    assert ids[0] == ids[1] != ids[2]  # "蔡崇", "崇信" shared, cosine 0.7
    assert len(set(assign_clusters(rows, CFG.model_copy(update={"cluster_threshold_cjk": 0.75})))) == 3
