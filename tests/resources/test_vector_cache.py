"""EmbeddingModel.encode memoises vectors on local disk: a re-run needs no model load."""

import numpy as np

from resources.embeddings import EmbeddingModel
from resources.vector_cache import VectorCache


class FakeEncoder:
    def __init__(self):
        self.seen: list[list[str]] = []

    def encode(self, texts):
        self.seen.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_encode_hits_the_disk_cache_across_processes(isolated_env, monkeypatch):
    fake = FakeEncoder()
    monkeypatch.setattr(EmbeddingModel, "encoder", lambda self: fake)
    model = EmbeddingModel()
    first = model.encode(["alpha", "beta", "alpha"])
    assert fake.seen == [["alpha", "beta"]]  # each new text once
    assert first.shape == (3, 2) and (first[0] == first[2]).all()

    VectorCache._loaded.clear()  # a new process: only the shards on disk remain
    again = model.encode(["beta", "alpha", "gamma"])
    assert fake.seen[1:] == [["gamma"]]
    assert np.array_equal(again[:2], first[[1, 0]])
    shards = list((isolated_env / "data" / "embedding_cache" / model.model_id).glob("*.npz"))
    assert len(shards) == 2


def test_cache_can_be_switched_off(isolated_env, monkeypatch):
    fake = FakeEncoder()
    monkeypatch.setattr(EmbeddingModel, "encoder", lambda self: fake)
    model = EmbeddingModel(disk_cache=False)
    model.encode(["alpha"])
    model.encode(["alpha"])
    assert fake.seen == [["alpha"], ["alpha"]]


def test_many_shards_are_merged_into_one(tmp_path, monkeypatch):
    """Two shards per daily run would pile up: a process that reads more than COMPACT_AT merges them."""
    monkeypatch.setattr(VectorCache, "COMPACT_AT", 3)
    folder = tmp_path / "cache"
    cache = VectorCache(folder)
    for i in range(5):
        cache.put([f"k{i}"], np.full((1, 2), i, dtype=np.float32))
    assert len(list(folder.glob("*.npz"))) == 5
    VectorCache._loaded.clear()  # a new process
    got = VectorCache(folder).get([f"k{i}" for i in range(5)])
    assert {k: float(v[0]) for k, v in got.items()} == {f"k{i}": float(i) for i in range(5)}
    assert len(list(folder.glob("*.npz"))) == 1
    VectorCache._loaded.clear()  # and the merged shard holds them all
    assert len(VectorCache(folder).get([f"k{i}" for i in range(5)])) == 5
