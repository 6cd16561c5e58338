"""The real embedding model (offline, packaged) and the fast CPU path's equivalence to fp32."""

from __future__ import annotations

import numpy as np
import pytest

from resources.embeddings import EmbeddingModel, Encoder, cpu_has_bf16, openvino_available, resolve_model_path

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


def test_auto_device_is_cpu_without_cuda(monkeypatch):
    import resources.embeddings as emb

    monkeypatch.setattr(emb, "cuda_available", lambda: False)
    backend, device, precision = Encoder(backend="auto")._choose()
    assert device == "cpu"
    if openvino_available() and cpu_has_bf16():
        assert (backend, precision) == ("openvino", "bf16")
    else:
        assert (backend, precision) == ("torch", "fp32")


@pytest.mark.skipif(not (openvino_available() and cpu_has_bf16()), reason="CPU without bf16 or no OpenVINO")
def test_openvino_bf16_equivalent_to_fp32(encoder):
    fast = Encoder(device="cpu", backend="openvino", batch_size=4)
    assert fast.info()["precision"] == "bf16"
    a = encoder.encode(TEXTS)
    b = fast.encode(TEXTS)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.9999, cos


def test_resource_wraps_the_shared_encoder(encoder):
    res = EmbeddingModel(model_name="all-MiniLM-L6-v2", device="cpu", backend="torch", batch_size=16)
    assert res.encoder() is encoder
    assert res.model_id == "all-MiniLM-L6-v2"
    assert res.encode(["hello"]).shape == (1, 384)
