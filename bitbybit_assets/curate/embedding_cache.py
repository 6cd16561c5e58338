"""article_embeddings rows for a set of texts, re-using stored vectors (encode only unknown texts)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from bitbybit_assets.curate.clustering import is_cjk_title
from bitbybit_assets.schemas import ARTICLE_EMBEDDINGS, conform

log = logging.getLogger(__name__)

Encode = Callable[[Sequence[str]], np.ndarray]


def embedding_rows(
    texts: pl.DataFrame, known: pl.DataFrame | None, encode: Encode, model: str
) -> tuple[pl.DataFrame, int]:
    """ARTICLE_EMBEDDINGS rows, one per (partition_date, text_hash) of ``texts``.

    ``texts`` has ``partition_date``, ``text_hash`` and ``embed_text``; ``known`` holds stored
    rows (any days, any models). Returns the rows and how many texts were actually encoded.
    """
    uniq = texts.select("partition_date", "text_hash", "embed_text").unique(
        subset=["partition_date", "text_hash"], maintain_order=True
    )
    cache: dict[str, list[float]] = {}
    if known is not None and not known.is_empty():
        k = known.filter(pl.col("model") == model).unique(subset=["text_hash"], keep="last")
        cache = dict(zip(k["text_hash"].to_list(), k["embedding"].to_list(), strict=True))
    todo = (
        uniq.filter(~pl.col("text_hash").is_in(list(cache.keys())))
        .sort("partition_date", "text_hash")
        .unique(subset=["text_hash"], keep="first", maintain_order=True)
    )
    # One encode call per day, in day order, over that day's new texts sorted by hash: a run over a
    # range of days feeds the encoder exactly the batches day-by-day runs would, so a single-run
    # backfill gives bit-identical vectors (batch composition changes low-order bits otherwise).
    for day_texts in todo.partition_by("partition_date", maintain_order=True):
        vecs = encode(day_texts["embed_text"].to_list())
        for h, v in zip(day_texts["text_hash"].to_list(), vecs, strict=True):
            cache[h] = np.asarray(v, dtype=np.float32).tolist()
    log.info(
        "embeddings: %d texts, %d re-used, %d encoded", uniq.height, uniq.height - todo.height, todo.height
    )
    embs = [cache[h] for h in uniq["text_hash"].to_list()]
    out = pl.DataFrame(
        {
            "partition_date": uniq["partition_date"],
            "text_hash": uniq["text_hash"],
            "model": [model] * uniq.height,
            "dim": [len(e) for e in embs],
            "embedding": pl.Series("embedding", embs, dtype=pl.List(pl.Float32)),
        }
    )
    return conform(out, ARTICLE_EMBEDDINGS), todo.height


def vector_map(rows: pl.DataFrame, model: str | None = None) -> dict[str, np.ndarray]:
    """text_hash -> float32 vector from article_embeddings rows (optionally one model only)."""
    if rows is None or rows.is_empty():
        return {}
    if model is not None:
        rows = rows.filter(pl.col("model") == model)
    return {
        h: np.asarray(e, dtype=np.float32)
        for h, e in zip(rows["text_hash"].to_list(), rows["embedding"].to_list(), strict=True)
    }


def cjk_title_texts(texts: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``texts`` (``with_text`` output) whose title is CJK, with the title as ``embed_text``:
    what ``embeddings.cjk_title_model`` embeds (keyed by the row's ``text_hash`` like every model)."""
    if texts.is_empty() or "title" not in texts.columns:
        return texts.select("partition_date", "text_hash", "embed_text").clear()
    keep = [is_cjk_title(t) for t in texts["title"].to_list()]
    return texts.filter(pl.Series(keep, dtype=pl.Boolean)).select(
        "partition_date", "text_hash", pl.col("title").fill_null("").alias("embed_text")
    )


def extra_encoder_texts(embeddings: Any, texts: pl.DataFrame) -> list[tuple[str, str, pl.DataFrame]]:
    """``(name, model, texts it embeds)`` of each configured encoder beside the main one, given the
    ``embeddings`` settings and ``with_text`` rows: ``multilingual`` (``multilingual_model``) embeds
    every text, ``cjk_title`` (``cjk_title_model``) the titles of CJK-titled rows."""
    out = []
    if embeddings.multilingual_model:
        out.append(("multilingual", embeddings.multilingual_model, texts))
    if embeddings.cjk_title_model:
        out.append(("cjk_title", embeddings.cjk_title_model, cjk_title_texts(texts)))
    return out


def optional_matrix(hashes: list[str], vectors: Mapping[str, np.ndarray] | None) -> np.ndarray | None:
    """The vectors of ``hashes`` as one matrix (zeros where missing: such a row is linked without them);
    None without vectors."""
    if not vectors or not hashes:
        return None
    dim = int(np.asarray(next(iter(vectors.values()))).shape[-1])
    out = np.zeros((len(hashes), dim), dtype=np.float32)
    for k, h in enumerate(hashes):
        v = vectors.get(h)
        if v is not None:
            out[k] = v
    return out
