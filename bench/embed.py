"""Embedding throughput: plain sentence-transformers fp32 against the pipeline's encoder, per CPU class.

Both models run in one process on the same texts (title + lead, built by the curation code's
``with_text``). Each is warmed up, then the two are timed alternately ``runs`` times; the best run
counts. The two sets of embeddings are compared row by row (cosine) and through curation itself: the
same day is scored and selected with each set (prototypes embedded by the same model) and the picks
are compared.

Per CPU class, ``python -m bench.embed`` runs that comparison in a child process: the machine's own
class, and each smaller class emulated by capping the instruction set of oneDNN (torch and OpenVINO:
``ONEDNN_MAX_CPU_ISA``), MKL (``MKL_ENABLE_INSTRUCTIONS``) and torch's own kernels
(``ATEN_CPU_CAPABILITY``); the encoder detects the capped class and chooses its backend for it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
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


def best_of_pair(a: Encode, b: Encode, texts: Sequence[str], runs: int) -> tuple[float, np.ndarray, float, np.ndarray]:
    """``best_of`` for two encoders timed alternately (a, b, a, b, ...): load changes hit both alike."""
    t_a = t_b = float("inf")
    e_a = e_b = np.zeros((0, 0), dtype=np.float32)
    for _ in range(max(1, runs)):
        t, e_a = best_of(a, texts, 1)
        t_a = min(t_a, t)
        t, e_b = best_of(b, texts, 1)
        t_b = min(t_b, t)
    return t_a, e_a, t_b, e_b


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
    t_ref, e_ref, t_fast, e_fast = best_of_pair(reference, fast, texts, runs)
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


# ------------------------------------------------------------------ per CPU class
CLASS_ORDER = ("amx", "avx512_bf16", "avx512", "avx2", "generic")
# the environment that makes this machine behave like a smaller CPU class (read at library load)
EMULATE: dict[str, dict[str, str]] = {
    "avx512_bf16": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16", "MKL_ENABLE_INSTRUCTIONS": "AVX512",
                    "ATEN_CPU_CAPABILITY": "avx512"},
    "avx512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI", "MKL_ENABLE_INSTRUCTIONS": "AVX512",
               "ATEN_CPU_CAPABILITY": "avx512"},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}


def class_runs(native: str) -> list[tuple[str, dict[str, str]]]:
    """``(label, extra environment)``: the native class, then every smaller class this CPU can emulate."""
    out = [(native, {})]
    if native in CLASS_ORDER:
        out += [(c, EMULATE[c]) for c in CLASS_ORDER[CLASS_ORDER.index(native) + 1:] if c in EMULATE]
    return out


def run_class(texts: Sequence[str], day_rows: pl.DataFrame, cfg: CurateConfig, *, runs: int,
              warmup: int) -> dict[str, Any]:
    """``bench_embed`` in this process, with the encoder's choice, the CPU flags and the load."""
    from bench.machine import load_average
    from resources.embeddings import cpu_class, cpu_flags

    reference = reference_encoder(cfg.embeddings.model, cfg.embeddings.batch_size)
    fast, info = pipeline_encoder(cfg)
    load_before = load_average()
    out = bench_embed(texts, day_rows, reference, fast, cfg, runs=runs, warmup=warmup)
    out.update({
        "pipeline_encoder": info,
        "cpu_class": cpu_class(),
        "cpu_flags": " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma")))),
        "isa_env": {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
                                               "ATEN_CPU_CAPABILITY", "BITBYBIT_CPU_CLASS") if k in os.environ},
        "load_before": load_before,
        "load_after": load_average(),
    })
    return out


def bench_classes(texts: Sequence[str], day_rows: pl.DataFrame, *, runs: int, warmup: int,
                  timeout_s: float = 1800) -> list[dict[str, Any]]:
    """``run_class`` once per CPU class, each in its own child process (the ISA caps are read at start)."""
    import tempfile

    from resources.embeddings import cpu_class

    native = cpu_class()
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bitbybit-bench-embed-") as tmp:
        folder = Path(tmp)
        (folder / "texts.json").write_text(json.dumps(list(texts)))
        day_rows.write_parquet(folder / "day.parquet")
        for label, extra in class_runs(native):
            result = folder / f"{label}.json"
            cmd = [sys.executable, "-m", "bench.embed", "--dir", str(folder), "--out", str(result),
                   "--runs", str(runs), "--warmup", str(warmup)]
            proc = subprocess.run(cmd, env={**os.environ, **extra}, capture_output=True, text=True,
                                  timeout=timeout_s, check=False)
            row: dict[str, Any] = {"class": label, "emulated": bool(extra)}
            if proc.returncode == 0 and result.exists():
                row.update(json.loads(result.read_text()))
            else:
                row["error"] = (proc.stderr or proc.stdout)[-600:]
            out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    """Child of ``bench_classes``: one CPU class (the environment sets it), results as JSON."""
    ap = argparse.ArgumentParser(prog="python -m bench.embed")
    ap.add_argument("--dir", type=Path, required=True, help="folder with texts.json and day.parquet")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=64)
    args = ap.parse_args(argv)
    from bitbybit_assets.curate.config import curate_config

    texts = json.loads((args.dir / "texts.json").read_text())
    day_rows = pl.read_parquet(args.dir / "day.parquet")
    out = run_class(texts, day_rows, curate_config(), runs=args.runs, warmup=args.warmup)
    args.out.write_text(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sys.exit(main())
