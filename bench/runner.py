"""The benchmark sections: each returns a JSON-able dict (``skipped`` holds the reason when not run)."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from bench.corpus import archive_days, filtered_rows
from bench.e2e import bench_backfill, bench_day, run_child

log = logging.getLogger(__name__)

DAY = date(2026, 8, 7)
BACKFILL = (date(2026, 7, 18), date(2026, 8, 16))
SCALE_SIZES = (1000, 10_000, 50_000)
QUICK_SCALE_SIZES = (200, 1000)


def bench_day_of(corpus: Path) -> date:
    """2026-08-07 when the archive has it, else its last day."""
    days = archive_days(corpus)
    if not days:
        raise SystemExit(f"no YYYY-MM-DD folders in {corpus}")
    return DAY if DAY in days else days[-1]


def corpus_frame(corpus: Path, day: date, quick: bool):
    """Real filtered_articles rows shared by the embedding and scale sections.

    Full: every archive day after the first (real new items) up to ``day``; quick: ``day`` only.
    """
    days = archive_days(corpus)
    chosen = [day] if quick else ([d for d in days if days[0] < d <= day] or [day])
    return filtered_rows(corpus, chosen), chosen


def section_embed(corpus: Path, day: date, quick: bool) -> dict[str, Any]:
    from bench.embed import bench_classes, unique_texts
    from bitbybit_assets.curate.config import curate_config

    cfg = curate_config()
    frame, _ = corpus_frame(corpus, day, quick)
    text_days = [d for d in (day - timedelta(days=2), day - timedelta(days=1), day) if not quick or d == day]
    texts = unique_texts(frame.filter(pl.col("partition_date").is_in(text_days)), cfg.embeddings.max_chars,
                         limit=64 if quick else None)
    day_rows = frame.filter(pl.col("partition_date") == day)
    classes = bench_classes(texts, day_rows, runs=1 if quick else 3, warmup=16 if quick else 64)
    if "error" in classes[0]:
        raise RuntimeError(f"embed bench on this CPU's class failed: {classes[0]['error']}")
    out = {k: v for k, v in classes[0].items() if k not in ("class", "emulated")}  # this CPU: the targets
    out["classes"] = classes
    out["text_days"] = [d.isoformat() for d in text_days]
    out["picks_day"] = day.isoformat()
    out["batch_size"] = cfg.embeddings.batch_size
    return out


def section_day(corpus: Path, day: date, quick: bool) -> dict[str, Any]:
    return bench_day(corpus, day, timeout_s=900)


def section_backfill(corpus: Path, quick: bool) -> dict[str, Any]:
    days = archive_days(corpus)
    if quick:
        first, last = days[0], days[min(2, len(days) - 1)]  # the archive's first days need no history
        return bench_backfill(corpus, first, last, timeout_s=900)
    first, last = BACKFILL
    want = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    if not want <= set(days):
        return {"skipped": f"the corpus {corpus} does not hold every day {first}..{last} "
                           "(the full 30-day corpus ../shared/data/feeds is absent)"}
    return bench_backfill(corpus, first, last, timeout_s=2400)


def section_scale(
    corpus: Path,
    day: date,
    quick: bool,
    *,
    sizes: tuple[int, ...] | None = None,
    sample: int | None = None,
    limit_s: float | None = None,
    mem_budget_gib: float = 4.0,
) -> dict[str, Any]:
    from bench.scale import base_rows

    sizes = sizes or (QUICK_SCALE_SIZES if quick else SCALE_SIZES)
    sample = sample or (64 if quick else 1000)
    limit_s = limit_s or (120 if quick else 300)
    frame, chosen = corpus_frame(corpus, day, quick)
    days = archive_days(corpus)
    base = base_rows(frame, days[0] if days else None)
    results = []
    with tempfile.TemporaryDirectory(prefix="bitbybit-bench-scale-") as tmp:
        base_path = Path(tmp) / "base.parquet"
        base.write_parquet(base_path)
        for n in sizes:
            out_path = Path(tmp) / f"scale_{n}.json"
            args = [sys.executable, "-m", "bench.scale", "--size", str(n), "--base", str(base_path),
                    "--day", day.isoformat(), "--sample", str(sample), "--limit-s", str(limit_s),
                    "--mem-budget-gib", str(mem_budget_gib), "--out", str(out_path)]
            log.info("scale: %d rows", n)
            child = run_child(args, _env(), Path(tmp) / f"scale_{n}.log", timeout_s=limit_s * 6 + 300)
            res: dict[str, Any] = {"size": n}
            if out_path.exists():
                res = json.loads(out_path.read_text())
            else:
                res["error"] = child.output_tail[-600:]
            res["child"] = {k: v for k, v in child.as_dict().items() if k not in ("output_tail", "run")}
            results.append(res)
    return {"base_rows": base.height, "base_days": [chosen[0].isoformat(), chosen[-1].isoformat()],
            "sample": sample, "stage_limit_s": limit_s, "mem_budget_gib": mem_budget_gib, "sizes": results}


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env
