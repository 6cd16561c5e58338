"""The real embedding model (offline, packaged), the backend chosen per CPU class, and the fast CPU
paths' equivalence to plain fp32."""

from __future__ import annotations

import os

import numpy as np
import pytest

from resources.embeddings import (
    CPU_CLASS_ENV,
    EmbeddingModel,
    Encoder,
    choose_backend,
    classify_cpu,
    cpu_class,
    cpu_has_bf16,
    openvino_available,
    physical_cores,
    resolve_model_path,
)

TEXTS = [
    "OpenAI releases a new reasoning model for developers",
    "A startup raises $20M to build warehouse robots",
    "Researchers find a vulnerability in a popular VPN client that leaks IP addresses",
    "",
    "长鑫拒绝苹果压价",
    "word " * 400,
]


def test_model_is_packaged_and_offline():
    path = resolve_model_path("all-MiniLM-L6-v2")
    assert (path / "config.json").exists() and (path / "model.safetensors").exists()
    with pytest.raises(ValueError, match="offline"):
        resolve_model_path("sentence-transformers/some-hub-only-model")


def test_encode_normalised_float32(encoder):
    out = encoder.encode(TEXTS)
    assert out.shape == (len(TEXTS), 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    again = encoder.encode(TEXTS[:2])
    np.testing.assert_allclose(again, out[:2], atol=1e-5)
    sims = out[:3] @ out[:3].T
    assert sims[0, 1] < 0.6 and sims[0, 2] < 0.6
    assert encoder.encode([]).shape == (0, 384)


def test_counters(encoder):
    calls, n = encoder.calls, encoder.texts_encoded
    encoder.encode(["a", "b"])
    assert (encoder.calls, encoder.texts_encoded) == (calls + 1, n + 2)


BASE = {"fpu", "sse4_2", "avx", "fma", "avx2"}
AVX512 = BASE | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}
# flags of real machines: AMX Xeon, this AMD EPYC (avx512_bf16, no AMX), Skylake-SP, AVX2-only EPYC, old
FLAGS = {
    "amx": AVX512 | {"avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"},
    "avx512_bf16": AVX512 | {"avx512_bf16"},
    "avx512": AVX512,
    "avx2": BASE,
    "generic": {"fpu", "sse4_2", "avx"},
}


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        ("amx", ("openvino", "bf16")),
        ("avx512_bf16", ("openvino", "bf16")),
        ("avx512", ("openvino", "fp32")),
        ("avx2", ("openvino", "fp32")),
        ("generic", ("torch", "fp32")),
    ],
)
def test_backend_per_cpu_class(cls, expected, monkeypatch):
    monkeypatch.delenv(CPU_CLASS_ENV, raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert classify_cpu(FLAGS[cls]) == cls
    assert cpu_class("auto", FLAGS[cls]) == cls
    assert choose_backend(cls, openvino=True) == expected
    assert choose_backend(cls, openvino=False) == ("torch", "fp32")
    assert choose_backend(cls, openvino=True, backend="torch") == ("torch", "fp32")
    assert choose_backend(cls, openvino=True, backend="openvino")[0] == "openvino"


def test_cpu_class_override_and_isa_cap(monkeypatch):
    monkeypatch.delenv(CPU_CLASS_ENV, raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # oneDNN limited to AVX2: plan for an AVX2 machine
    assert cpu_class("auto", FLAGS["amx"]) == "avx2"
    assert cpu_class("auto", FLAGS["generic"]) == "generic"  # a cap never raises the class
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    assert cpu_class("auto", FLAGS["avx512_bf16"]) == "avx512"
    monkeypatch.setenv(CPU_CLASS_ENV, "avx2")
    assert cpu_class("auto", FLAGS["amx"]) == "avx2"
    assert cpu_class("avx512", FLAGS["amx"]) == "avx512"  # an explicit argument wins over the env
    monkeypatch.setenv(CPU_CLASS_ENV, "sse9")
    with pytest.raises(ValueError, match="cpu class"):
        cpu_class()
    with pytest.raises(ValueError, match="cpu class"):
        Encoder(cpu_class="sse9")
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)


def test_auto_device_is_cpu_without_cuda(monkeypatch):
    import resources.embeddings as emb

    monkeypatch.setattr(emb, "cuda_available", lambda: False)
    backend, device, precision = Encoder(backend="auto")._choose()
    assert device == "cpu"
    assert (backend, precision) == choose_backend(cpu_class(), openvino=openvino_available())


@pytest.mark.skipif(not openvino_available(), reason="OpenVINO not installed")
def test_openvino_fp32_equivalent_to_torch_fp32(encoder):
    """The AVX2 / AVX-512-without-bf16 path (forced here by the class) against plain torch fp32."""
    fast = Encoder(device="cpu", backend="auto", batch_size=4, cpu_class="avx2")
    info = fast.info()
    assert (info["backend"], info["precision"], info["cpu_class"]) == ("openvino", "fp32", "avx2")
    assert int(info["threads"]) == physical_cores()
    a = encoder.encode(TEXTS)
    b = fast.encode(TEXTS)
    assert b.shape == a.shape and b.dtype == np.float32
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.9999, cos
    # dynamic padding: a text's vector does not depend on the batch it was padded in
    np.testing.assert_allclose(fast.encode(TEXTS[:1])[0], fast.encode([TEXTS[0], TEXTS[-1]])[0], atol=1e-5)


@pytest.mark.skipif(not (openvino_available() and cpu_has_bf16()), reason="CPU without bf16 or no OpenVINO")
def test_openvino_bf16_equivalent_to_fp32(encoder):
    fast = Encoder(device="cpu", backend="openvino", batch_size=4, precision="bf16")
    assert fast.info()["precision"] == "bf16"
    a = encoder.encode(TEXTS)
    b = fast.encode(TEXTS)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.9999, cos


def test_resource_wraps_the_shared_encoder(encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path))  # encode() memoises under <data dir>
    res = EmbeddingModel(model_name="all-MiniLM-L6-v2", device="cpu", backend="torch", batch_size=16)
    assert res.encoder() is encoder
    assert res.model_id == "all-MiniLM-L6-v2"
    assert res.encode(["hello"]).shape == (1, 384)


@pytest.mark.skipif(not openvino_available(), reason="OpenVINO not installed")
def test_prepare_converts_once_then_processes_load_without_torch(tmp_path, monkeypatch):
    """``python -m resources.embeddings prepare`` (make setup, the e2e bench) converts the configured
    model into the model cache once (anything else is a usage error); a process then loads the cached
    IR without importing torch and gives bit-identical vectors; ``release`` frees and reloads. (One
    conversion for the whole test: it costs ~20 s CPU.)"""
    import subprocess
    import sys

    env = {**os.environ, "BITBYBIT_MODEL_CACHE": str(tmp_path), CPU_CLASS_ENV: "avx2"}
    cmd = [sys.executable, "-m", "resources.embeddings"]
    out = subprocess.run([*cmd, "prepare"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert {"backend=openvino", "precision=fp32", "cpu_class=avx2"} <= set(out.stdout.split())
    # MiniLM and the CJK-title encoder (multilingual-e5-small) are both converted
    assert "cjk_title_backend=openvino_fp32" in out.stdout.split()
    assert len(list((tmp_path / "openvino").glob("*/model.xml"))) == 2
    bad = subprocess.run([*cmd, "convert"], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "usage: python -m resources.embeddings prepare" in bad.stderr

    monkeypatch.setenv("BITBYBIT_MODEL_CACHE", str(tmp_path))
    first = Encoder(device="cpu", backend="openvino", batch_size=4, cpu_class="avx2")
    a = first.encode(TEXTS)
    assert len(list((tmp_path / "openvino").glob("*/model.xml"))) == 2  # loaded, not converted again
    script = (
        "import sys, numpy as np\n"
        "from resources.embeddings import Encoder\n"
        "e = Encoder(device='cpu', backend='openvino', batch_size=4, cpu_class='avx2')\n"
        f"np.save(sys.argv[1], e.encode({TEXTS!r}))\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules, e.info()['backend'])\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "b.npy")], capture_output=True, text=True,
                         check=True, env={**os.environ, "BITBYBIT_MODEL_CACHE": str(tmp_path)})
    assert out.stdout.split() == ["False", "False", "openvino"], out.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), a)
    assert first.release() and not first.release()
    np.testing.assert_array_equal(first.encode(TEXTS), a)


def test_tokenizers_match_the_transformers_tokenizer(monkeypatch):
    """The OpenVINO path tokenizes with the ``tokenizers`` library exactly as the transformers fast
    tokenizer does (special tokens, truncation at max_seq_length, no padding), in chunks, in order."""
    from sentence_transformers import SentenceTransformer

    from resources import openvino_encoder
    from resources.openvino_encoder import _Tokens

    monkeypatch.setattr(openvino_encoder, "TOKENIZE_CHUNK", 3)  # several chunks, the last one short

    path = resolve_model_path("all-MiniLM-L6-v2")
    st = SentenceTransformer(str(path), device="cpu")
    texts = [t or " " for t in TEXTS] + ["Ünïcödé — “quotes” & C++/Node.js 😀", "x" * 5000]
    ref = st.tokenizer(texts, truncation=True, max_length=st.max_seq_length)
    mine = _Tokens(path / "tokenizer.json", st.max_seq_length)(texts)
    assert len(texts) % 3 and len(texts) > 3
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert [ids.tolist() for ids in mine[name]] == ref[name], name
        assert all(ids.dtype == np.int32 for ids in mine[name]), name
    assert max(len(ids) for ids in mine["input_ids"]) == st.max_seq_length


def test_batches_split_by_size_and_width():
    """OpenVINO batches: at most batch_size texts, and a short text is not padded to over twice its length."""
    from resources.openvino_encoder import _batches

    lengths = np.array([256, 200, 129, 128, 64, 10, 9, 8, 7, 6])
    spans = [(s.start, s.stop) for s in _batches(lengths, 3)]
    assert spans == [(0, 3), (3, 5), (5, 8), (8, 10)]
    assert [(s.start, s.stop) for s in _batches(np.array([300, 5, 5, 5]), 64)] == [(0, 1), (1, 4)]
    assert _batches(np.array([], dtype=int), 64) == []
    # the token budget: 256-token texts come 16 to a batch under 4,096 tokens, short ones 64
    long_then_short = np.array([256] * 40 + [20] * 100)
    sizes = [s.stop - s.start for s in _batches(long_then_short, 64, token_budget=4096)]
    assert sizes == [16, 16, 8, 64, 36]


def test_padded_width_bounds_the_shapes():
    """Batch widths come in 16-token steps (OpenVINO keeps kernels per input shape), 4 and 8 for short
    batches, capped at the model's max length unless a text is longer."""
    from resources.openvino_encoder import padded_width

    assert [padded_width(w, 256) for w in (1, 5, 16, 17, 25, 33, 250, 256)] == [4, 8, 16, 24, 32, 48, 256, 256]
    assert padded_width(300, 256) == 300
    assert padded_width(3, 2) == 3  # never shorter than the text
    widths = sorted({padded_width(w, 256) for w in range(1, 257)})
    assert widths[:6] == [4, 8, 12, 16, 24, 32] and len(widths) == 20
