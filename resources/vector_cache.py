"""Text → vector memo on local disk for the embedding models (``resources.embeddings``)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class VectorCache:
    """Text → vector memo on local disk (``<data dir>/embedding_cache/<model>/``), append-only.

    Each ``put`` writes one new shard file (atomic rename), so concurrent processes never clobber
    each other; every shard is read once per process. It spares a re-run the model load when every
    text it needs (topic prototypes, summary sentences) was embedded before.
    """

    _loaded: dict[Path, dict[str, np.ndarray]] = {}
    _lock = threading.Lock()
    COMPACT_AT = 32  # shards read at once above which a process merges them into one (each shard costs ~1 ms)

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def _memo(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self.folder not in self._loaded:
                memo: dict[str, np.ndarray] = {}
                read: list[Path] = []
                for shard in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
                    try:
                        with np.load(shard) as data:
                            memo.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
                        read.append(shard)
                    except (OSError, ValueError, KeyError):
                        log.warning("ignoring unreadable embedding cache shard %s", shard)
                if len(read) > self.COMPACT_AT:
                    self._compact(memo, read)
                self._loaded[self.folder] = memo
            return self._loaded[self.folder]

    def _compact(self, memo: dict[str, np.ndarray], shards: list[Path]) -> None:
        """Many shards (two per daily run) into one: the merged shard is renamed into place first, then
        the shards it holds are removed, so a concurrent reader finds every vector in one or the other
        (a shard removed under it is skipped with a warning, its vectors re-encoded if needed)."""
        self._write(list(memo), np.stack(list(memo.values())) if memo else np.zeros((0, 0), np.float32))
        for shard in shards:
            shard.unlink(missing_ok=True)

    def _write(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz.tmp", dir=self.folder)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, keys=np.array(list(keys)), vectors=np.asarray(vectors, dtype=np.float32))
        os.replace(tmp, self.folder / f"{uuid.uuid4().hex}.npz")

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        memo = self._memo()
        return {k: memo[k] for k in keys if k in memo}

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        self._write(keys, vectors)
        with self._lock:
            self._loaded.setdefault(self.folder, {}).update(zip(keys, vectors, strict=True))
