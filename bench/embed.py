"""Embedding throughput: plain sentence-transformers fp32 against the pipeline's encoder.

Both models run in this process on the same texts (title + lead, built by the curation code's
``with_text``). Each is warmed up, then timed ``runs`` times; the best run counts. The two sets of
embeddings are compared row by row (cosine) and through curation itself: the same day is scored and
selected with each set (prototypes embedded by the same model) and the picks are compared.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from bitbybit_assets.curate.config import CurateConfig
from bitbybit_assets.curate.pipeline import curate_days
from bitbybit_assets.curate.scoring import build_prototypes
from bitbybit_assets.curate.text import text_hash, with_text

Encode = Callable[[Sequence[str]], np.ndarray]


def unique_texts(frame: pl.DataFrame, max_chars: int, limit: int | None = None) -> list[str]:
    """Distinct embed texts of ``frame`` (the exact strings the pipeline embeds), in row order."""
    if frame.is_empty():
        return []
    texts = with_text(frame, max_chars)["embed_text"].unique(maintain_order=True).to_list()
    return texts[:limit] if limit else texts


def reference_encoder(model_name: str, batch_size: int = 64) -> Encode:
    """Plain ``SentenceTransformer(path, device="cpu")`` fp32, as a user would run it."""
    from sentence_transformers import SentenceTransformer

    from resources.embeddings import resolve_model_path

    model = SentenceTransformer(str(resolve_model_path(model_name)), device="cpu")

    def encode(texts: Sequence[str]) -> np.ndarray:
        out = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    return encode


def pipeline_encoder(cfg: CurateConfig) -> tuple[Encode, dict[str, str]]:
    """The ``embeddings`` resource configured from production.yaml, as the pipeline builds it."""
    from resources.embeddings import EmbeddingModel

    emb = cfg.embeddings
    resource = EmbeddingModel(
        model_name=emb.model, batch_size=emb.batch_size, device=emb.device, backend=emb.backend
    )
    encoder = resource.encoder()
    return encoder.encode, encoder.info()


def best_of(encode: Encode, texts: Sequence[str], runs: int) -> tuple[float, np.ndarray]:
    """Fastest of ``runs`` timed passes (seconds) and the embeddings of the last pass."""
    best = float("inf")
    out = np.zeros((0, 0), dtype=np.float32)
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        out = encode(texts)
        best = min(best, time.perf_counter() - t0)
    return best, out


def picks(day_rows: pl.DataFrame, encode: Encode, known: dict[str, np.ndarray], cfg: CurateConfig) -> list[str]:
    """entry_keys curation selects for ``day_rows`` (in rank order) with embeddings from ``encode``."""
    rows = with_text(day_rows, cfg.embeddings.max_chars)
    vectors = dict(known)
    todo = [(h, t) for h, t in zip(rows["text_hash"], rows["embed_text"], strict=True) if h not in vectors]
    todo = list(dict(todo).items())
    if todo:
        for (h, _), v in zip(todo, encode([t for _, t in todo]), strict=True):
            vectors[h] = v
    protos = build_prototypes(cfg.topics, encode)
    scored = curate_days(day_rows, vectors, None, protos, cfg)
    return scored.filter(pl.col("selected")).sort("rank")["entry_key"].to_list()


def bench_embed(
    texts: Sequence[str],
    day_rows: pl.DataFrame,
    reference: Encode,
    fast: Encode,
    cfg: CurateConfig,
    *,
    runs: int = 3,
    warmup: int = 64,
) -> dict[str, Any]:
    """Throughput of both encoders on ``texts``, their agreement, and the picks of ``day_rows``."""
    texts = list(texts)
    reference(texts[:warmup])
    fast(texts[:warmup])
    t_ref, e_ref = best_of(reference, texts, runs)
    t_fast, e_fast = best_of(fast, texts, runs)
    cos = np.sum(e_ref * e_fast, axis=1) if len(texts) else np.zeros(0)
    max_chars = cfg.embeddings.max_chars
    hashes = [text_hash(t) for t in texts]
    known_ref = dict(zip(hashes, e_ref, strict=True))
    known_fast = dict(zip(hashes, e_fast, strict=True))
    p_ref = picks(day_rows, reference, known_ref, cfg) if not day_rows.is_empty() else []
    p_fast = picks(day_rows, fast, known_fast, cfg) if not day_rows.is_empty() else []
    n = len(texts)
    return {
        "texts": n,
        "mean_chars": float(np.mean([len(t) for t in texts])) if texts else 0.0,
        "max_chars": max_chars,
        "runs": runs,
        "reference_s": t_ref,
        "fast_s": t_fast,
        "reference_per_s": n / t_ref if t_ref > 0 else 0.0,
        "fast_per_s": n / t_fast if t_fast > 0 else 0.0,
        "speedup": t_ref / t_fast if t_fast > 0 else 0.0,
        "cosine_min": float(cos.min()) if cos.size else 1.0,
        "cosine_mean": float(cos.mean()) if cos.size else 1.0,
        "day_rows": day_rows.height,
        "picks_reference": len(p_ref),
        "picks_fast": len(p_fast),
        "picks_overlap": len(set(p_ref) & set(p_fast)),
        "picks_same_set": set(p_ref) == set(p_fast),
        "picks_same_order": p_ref == p_fast,
    }
