"""EmbeddingModel.encode memoises vectors on local disk: a re-run needs no model load."""

import numpy as np

from resources.embeddings import EmbeddingModel, VectorCache


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
