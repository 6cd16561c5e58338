"""Scale: a synthetic day of N articles through the content filter and curation.

A synthetic day replicates real filtered_articles rows (the corpus' new items, not the day-one back
catalogue) with perturbed text (synonym swaps, a few adjacent-word swaps, a copy counter) and fresh
ids (entry_key, article_id, canonical_url), moved to one day. Each size runs in a fresh child
process (``python -m bench.scale``) so its RSS is its own.

Stages, each timed on its own (wall and CPU) with its peak RSS above the RSS at its start
(``VmHWM`` reset through ``/proc/self/clear_refs``):

* content filter and text building on all N rows;
* encoding with the pipeline's encoder on a sample of S texts only (best of 2; cost per 1k from the
  sample);
  the other rows re-use the sample's vectors by index, with small random noise (expected cosine to
  the source vector ≈ 0.7, below the clustering threshold) so copies are not identical;
* ``curate_days`` on all N rows (ads, scores, clustering, selection), with clustering and selection
  timed separately, and how many multi-row stories clustering found. Clustering holds an N×N
  similarity matrix only up to ``neighbours.EXACT_MAX_ROWS`` rows (embedding cells above); when even
  that does not fit the memory budget, clustering is replaced by "each row its own story" and
  reported as skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

SYNONYMS = {
    "new": "fresh", "launches": "unveils", "launch": "debut", "release": "rollout", "model": "system",
    "models": "systems", "big": "large", "fast": "quick", "using": "with", "update": "upgrade",
    "says": "states", "open": "public", "company": "firm", "users": "people", "data": "information",
    "help": "assist", "build": "create", "shows": "reveals", "first": "initial", "report": "study",
    "announced": "revealed", "improves": "boosts", "AI": "A.I.", "tool": "utility", "tools": "utilities",
}
LEAD_WORDS = 80
NOISE_COSINE = 0.7
FILTER_COLUMNS = ("passed_filter", "filter_reason", "duplicate_of")


class StageTimeout(Exception):
    pass


def perturb(text: str | None, rng: random.Random, copy: int, *, lead_words: int = LEAD_WORDS) -> str | None:
    """Synonym swaps and a few adjacent-word swaps in the lead, plus a copy counter (copy 0 unchanged)."""
    if text is None or copy == 0:
        return text
    words = text.split()
    lead, rest = words[:lead_words], words[lead_words:]
    lead = [SYNONYMS.get(w, w) if rng.random() < 0.5 else w for w in lead]
    for _ in range(max(1, len(lead) // 8)):
        if len(lead) > 2:
            j = rng.randrange(len(lead) - 1)
            lead[j], lead[j + 1] = lead[j + 1], lead[j]
    return " ".join([*lead, f"#{copy}", *rest])


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:32]


def synthetic_day(base: pl.DataFrame, n: int, day: date, seed: int = 0) -> pl.DataFrame:
    """``n`` feed_entries-like rows for ``day`` built from ``base`` (filter columns dropped)."""
    if base.is_empty():
        raise ValueError("no base rows to replicate")
    base = base.drop([c for c in FILTER_COLUMNS if c in base.columns])
    rng = random.Random(seed)
    # a fixed shuffle of the base: every size (and every encoding sample) gets the same mix of rows
    perm = list(range(base.height))
    random.Random(seed).shuffle(perm)
    idx = [perm[i % base.height] for i in range(n)]
    copies = [i // base.height for i in range(n)]
    rows = base[idx]
    titles = [perturb(t, rng, c) for t, c in zip(rows["title"].to_list(), copies, strict=True)]
    texts = [perturb(t, rng, c) for t, c in zip(rows["clean_text"].to_list(), copies, strict=True)]
    canon = [f"{u or 'https://synthetic.invalid/'}#synthetic-{day}-{i}" for i, u in enumerate(rows["canonical_url"].to_list())]
    shift = pl.duration(days=(pl.lit(day) - pl.col("partition_date")).dt.total_days())
    out = rows.with_columns(
        pl.Series("title", titles, dtype=pl.String),
        pl.Series("clean_text", texts, dtype=pl.String),
        pl.Series("canonical_url", canon, dtype=pl.String),
        pl.Series("url", canon, dtype=pl.String),
        pl.Series("article_id", [_sha(u) for u in canon], dtype=pl.String),
        pl.Series("entry_key", [_sha(f"synthetic|{day}|{i}") for i in range(n)], dtype=pl.String),
        pl.Series("entry_id", [f"synthetic-{i}" for i in range(n)], dtype=pl.String),
        pl.Series("position", list(range(n))).cast(rows.schema["position"]),
        (pl.col("published_at") + shift).alias("published_at"),
    ).with_columns(pl.lit(day).alias("partition_date"), pl.lit(day).alias("first_seen_date"))
    if "word_count" in out.columns:
        words = [len((t or "").split()) for t in texts]
        out = out.with_columns(pl.Series("word_count", words).cast(rows.schema["word_count"]))
    return out


def noisy_vectors(sample: np.ndarray, n: int, seed: int = 0, cosine: float = NOISE_COSINE) -> np.ndarray:
    """(n, dim): the sample's rows, then rows i >= len(sample) = sample[i % S] + noise, re-normalised."""
    s, dim = sample.shape
    out = sample[np.arange(n) % s].astype(np.float32, copy=True)
    if n > s:
        sigma = float(np.sqrt((1.0 / cosine**2 - 1.0) / dim))
        noise = np.random.default_rng(seed).standard_normal((n - s, dim)).astype(np.float32) * sigma
        out[s:] += noise
        out[s:] /= np.linalg.norm(out[s:], axis=1, keepdims=True)
    return out


# ------------------------------------------------------------------ measuring
def _status_kib(field: str) -> int:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def _time_limit(seconds: float):
    def _raise(signum, frame):
        raise StageTimeout()

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def measure(name: str, rows: int, fn: Callable[[], Any], limit_s: float) -> tuple[dict[str, Any], Any]:
    """Run ``fn`` once: wall, CPU, peak RSS above the start (MiB), per-1k figures; result or None."""
    rss0 = _status_kib("VmRSS")
    exact = _reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    result, status = None, "ok"
    try:
        with _time_limit(limit_s):
            result = fn()
    except StageTimeout:
        status = f"timeout after {limit_s:.0f} s"
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = max(0, _status_kib("VmHWM") - rss0) / 1024
    per_k = 1000 / rows if rows else 0.0
    return {
        "stage": name,
        "rows": rows,
        "status": status,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_mib": peak,
        "peak_exact": exact,
        "ms_per_1k": wall * 1000 * per_k,
        "mib_per_1k": peak * per_k,
    }, result


def cluster_matrix_gib(n: int) -> float:
    """Memory of the float32 similarity matrix clustering builds (N×N up to EXACT_MAX_ROWS, else none)."""
    from bitbybit_assets.curate.neighbours import EXACT_MAX_ROWS

    return 4 * n * n / 2**30 if n <= EXACT_MAX_ROWS else 0.0


def cluster_stats(cluster_ids: Sequence[str]) -> dict[str, int]:
    """Stories with more than one row, the rows in them, and the largest story."""
    sizes = [c for c in Counter(cluster_ids).values() if c > 1]
    return {"stories": len(sizes), "rows": sum(sizes), "largest": max(sizes, default=1)}


def _solo_clusters(rows: Any, cfg: Any) -> list[str]:
    """Stand-in for clustering when its matrix does not fit: every row its own story."""
    return ["c" + hashlib.sha256(str(k).encode()).hexdigest()[:15] for k in rows.keys]


def run_size(
    n: int,
    base: pl.DataFrame,
    day: date,
    encode: Callable[[Sequence[str]], np.ndarray],
    *,
    sample: int,
    limit_s: float,
    mem_budget_gib: float,
    seed: int = 0,
) -> dict[str, Any]:
    """All stages for one synthetic day of ``n`` rows (in this process)."""
    from bitbybit_assets.curate import pipeline
    from bitbybit_assets.curate.config import curate_config
    from bitbybit_assets.curate.scoring import build_prototypes
    from bitbybit_assets.curate.text import with_text
    from bitbybit_assets.ingest.content_filter import apply_content_filter
    from bitbybit_base.settings import runtime_settings

    cfg = curate_config()
    filter_cfg = runtime_settings().content_filter
    protos = build_prototypes(cfg.topics, encode)
    entries = synthetic_day(base, n, day, seed)
    stages: list[dict[str, Any]] = []
    notes: list[str] = []

    st, filtered = measure("content filter", n, lambda: apply_content_filter(entries, day, filter_cfg), limit_s)
    stages.append(st)
    if filtered is None:
        return {"size": n, "stages": stages, "notes": notes}
    passed = int(filtered["passed_filter"].sum())
    st, texts = measure("text + hash", n, lambda: with_text(filtered, cfg.embeddings.max_chars), limit_s)
    stages.append(st)
    s = min(sample, n)
    # the filter re-sorts rows by feed; back to day order so the sample is the same mix at every size
    if "position" in texts.columns:
        texts = texts.sort("position")
    sample_texts = texts["embed_text"].to_list()[:s]
    encode(sample_texts[:32])  # warm-up on real texts (OpenVINO settles its shapes/kernels), untimed
    st, emb_sample = measure(f"encode (sample of {s})", s, lambda: encode(sample_texts), limit_s)
    again, _ = measure(f"encode (sample of {s})", s, lambda: encode(sample_texts), limit_s)
    if again["status"] == "ok" and again["wall_s"] < st["wall_s"]:  # best of 2: other work shares the cores
        st = again | {"peak_mib": max(st["peak_mib"], again["peak_mib"]),
                      "mib_per_1k": max(st["mib_per_1k"], again["mib_per_1k"])}
    stages.append(st)
    if emb_sample is None:
        return {"size": n, "passed": passed, "stages": stages, "notes": notes}
    if s < n:
        notes.append(f"rows beyond the first {s} re-use the sample's vectors by index plus noise")
    vecs = noisy_vectors(np.asarray(emb_sample, dtype=np.float32), n, seed)
    vectors = dict(zip(texts["text_hash"].to_list(), vecs, strict=True))

    need = cluster_matrix_gib(n)
    real_clusters = need * 1.5 <= mem_budget_gib
    timers = {"clustering": 0.0, "selection": 0.0}

    def timed(name: str, fn: Callable) -> Callable:
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers[name] += time.perf_counter() - t0

        return wrapper

    orig_cluster, orig_select = pipeline.assign_clusters, pipeline.select
    pipeline.assign_clusters = timed("clustering", orig_cluster if real_clusters else _solo_clusters)
    pipeline.select = timed("selection", orig_select)
    try:
        st, scored = measure("curate_days", n, lambda: pipeline.curate_days(filtered, vectors, None, protos, cfg), limit_s)
    finally:
        pipeline.assign_clusters, pipeline.select = orig_cluster, orig_select
    if not real_clusters:
        st["stage"] = "curate_days (clustering stubbed)"
        notes.append(
            f"clustering skipped: its N×N float32 similarity matrix needs {need:.1f} GiB "
            f"(budget {mem_budget_gib:.1f} GiB); curate_days ran with every row its own story"
        )
    stages.append(st)
    per_k = 1000 / n
    for name, secs in timers.items():
        if name == "clustering" and not real_clusters:
            stages.append({"stage": "  clustering", "rows": n, "status": f"skipped (needs {need:.1f} GiB)",
                           "wall_s": None, "cpu_s": None, "peak_mib": None, "ms_per_1k": None, "mib_per_1k": None})
            continue
        stages.append({"stage": f"  {name}", "rows": n, "status": st["status"], "wall_s": secs, "cpu_s": None,
                       "peak_mib": None, "ms_per_1k": secs * 1000 * per_k, "mib_per_1k": None})
    rest = st["wall_s"] - sum(timers.values())
    stages.append({"stage": "  ads, scores, frames", "rows": n, "status": st["status"], "wall_s": rest, "cpu_s": None,
                   "peak_mib": None, "ms_per_1k": rest * 1000 * per_k, "mib_per_1k": None})
    selected = int(scored["selected"].sum()) if scored is not None else None
    stories = cluster_stats(scored["cluster_id"].to_list()) if scored is not None and real_clusters else None
    return {"size": n, "passed": passed, "selected": selected, "sample": s, "cluster_matrix_gib": need,
            "real_clusters": real_clusters, "stories": stories, "stages": stages, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="one synthetic-day size (run by python -m bench)")
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--base", type=Path, required=True, help="parquet of real filtered_articles rows")
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 8, 7))
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--limit-s", type=float, default=300)
    ap.add_argument("--mem-budget-gib", type=float, default=4.0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from bench.embed import pipeline_encoder
    from bitbybit_assets.curate.config import curate_config

    encode, info = pipeline_encoder(curate_config())
    encode(["warm up the encoder", "a second text"])
    rss_model = _status_kib("VmRSS") / 1024
    base = pl.read_parquet(args.base)
    result = run_size(args.size, base, args.day, encode, sample=args.sample, limit_s=args.limit_s,
                      mem_budget_gib=args.mem_budget_gib)
    result["encoder"] = info
    result["rss_after_model_mib"] = rss_model
    args.out.write_text(json.dumps(result, default=str))
    return 0


def base_rows(filtered: pl.DataFrame, first_day: date | None) -> pl.DataFrame:
    """Rows to replicate: days after the archive's first day (real new items, no back catalogue)."""
    if first_day is None or filtered.is_empty():
        return filtered
    later = filtered.filter(pl.col("partition_date") > first_day)
    return later if not later.is_empty() else filtered


if __name__ == "__main__":
    sys.exit(main())
