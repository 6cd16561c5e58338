"""Smoke test of the benchmark harness on tiny inputs: every section's function runs and the report
has the expected rows. No timing assertions (figures live in BENCHMARKS.md)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from bench.corpus import archive_days, filtered_rows
from bench.e2e import ChildRun, run_child, run_summary
from bench.embed import bench_embed, unique_texts
from bench.machine import describe_machine
from bench.report import render
from bench.scale import noisy_vectors, run_size, synthetic_day
from bitbybit_assets.curate.config import curate_config

DAY = date(2026, 8, 5)
DIM = 384


def fake_encode(texts: Sequence[str]) -> np.ndarray:
    """Deterministic unit vectors from the text's hash (no model)."""
    out = np.stack([
        np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).standard_normal(DIM)
        for t in texts
    ]) if texts else np.zeros((0, DIM))
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def nearly_fake_encode(texts: Sequence[str]) -> np.ndarray:
    e = fake_encode(texts) + 1e-4
    return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def day_rows(sample_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    assert DAY in archive_days(sample_archive)
    df = filtered_rows(sample_archive, [DAY], cache_dir=tmp_path_factory.mktemp("bench-cache"))
    assert df.height > 0 and set(df["partition_date"].unique().to_list()) == {DAY}
    return df


def test_bench_harness_smoke(day_rows: pl.DataFrame, tmp_path: Path) -> None:
    cfg = curate_config()

    machine = describe_machine()
    for key in ("date", "cpu", "cores", "memory", "bf16 cpu flags", "python", "torch", "openvino", "polars",
                "deltalake"):
        assert machine[key]

    # 1. embedding: both "encoders" on the same texts, agreement and picks
    texts = unique_texts(day_rows, cfg.embeddings.max_chars, limit=24)
    assert 0 < len(texts) <= 24
    emb = bench_embed(texts, day_rows, fake_encode, nearly_fake_encode, cfg, runs=1, warmup=4)
    assert emb["texts"] == len(texts)
    assert emb["cosine_min"] > 0.99
    assert emb["picks_reference"] > 0 and emb["picks_same_set"]

    # 2./3. a measured child process and the step times of a Dagster run
    child = run_child([sys.executable, "-c", "print('hi')"], {}, tmp_path / "child.log", timeout_s=60)
    assert isinstance(child, ChildRun) and child.ok and child.max_rss_mib > 0 and "hi" in child.output_tail

    @dg.asset
    def first() -> int:
        return 1

    @dg.asset
    def second(first: int) -> int:
        return first + 1

    home = tmp_path / "home"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert dg.materialize([first, second], instance=instance).success
    summary = run_summary(home)
    assert summary["status"] == "SUCCESS"
    assert list(summary["steps"]) == ["first", "second"]
    assert all(s["ok"] and s["seconds"] >= 0 for s in summary["steps"].values())
    assert summary["assets"] == ["first", "second"]
    day_child = child.as_dict() | {"run": summary}

    # 4. scale: a synthetic day with fresh ids through the filter and curation
    synth = synthetic_day(day_rows, 3 * day_rows.height + 5, date(2026, 8, 7))
    assert synth.height == 3 * day_rows.height + 5
    assert synth["entry_key"].n_unique() == synth.height and synth["canonical_url"].n_unique() == synth.height
    assert set(synth["partition_date"].to_list()) == {date(2026, 8, 7)}
    assert synth["title"].n_unique() > day_rows["title"].n_unique()
    vec = noisy_vectors(fake_encode(texts[:4]), 10)
    assert vec.shape == (10, DIM) and np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    n = 2 * day_rows.height
    size = run_size(n, day_rows, date(2026, 8, 7), fake_encode, sample=16, limit_s=120, mem_budget_gib=1.0)
    stages = [s["stage"] for s in size["stages"]]
    assert stages[:4] == ["content filter", "text + hash", "encode (sample of 16)", "curate_days"]
    assert {"  clustering", "  selection", "  ads, scores, frames"} <= set(stages)
    assert all(s["status"] == "ok" for s in size["stages"])
    assert size["selected"] > 0
    assert size["stories"] is not None and size["stories"]["largest"] >= 1

    # the report: every section, with its rows
    results = {
        "machine": machine,
        "sections": {
            "embed": {"when": "now", "load_before": "1 1 1", "load_after": "1 1 1", "result": emb | {
                "pipeline_encoder": {"backend": "fake", "precision": "fp32", "device": "cpu"},
                "text_days": [str(DAY)], "picks_day": str(DAY)}},
            "day": {"when": "now", "result": {"day": "2026-08-07", "cold": day_child, "warm": day_child}},
            "backfill": {"when": "now", "result": {"skipped": "no full corpus"}},
            "scale": {"when": "now", "result": {"base_rows": day_rows.height, "base_days": [str(DAY), str(DAY)],
                                                "sample": 16, "stage_limit_s": 120, "mem_budget_gib": 1.0,
                                                "sizes": [size, size]}},
        },
    }
    md = render(results)
    for row in (
        "## Targets", "## Machine", "| bf16 cpu flags", "## 1. Embedding throughput",
        "| plain sentence-transformers fp32 (torch, cpu)", "| pipeline encoder: fake fp32 on cpu",
        "| speed-up (pipeline / plain fp32)", "| cosine between the two embeddings, min",
        "## 2. One day end to end (CLI)", "| cold ", "| warm ", "| first ", "| second ",
        "**Pending:**", "## 3. Backfill in one run", "Skipped: no full corpus",
        "## 4. Scale: synthetic days", "| content filter", "| curate_days", "| ↳ clustering", "| ↳ selection",
        "| clustering, selection: cost per 1k, smallest → largest", "stories of 2+ rows (rows, largest)",
        "## 5. GPU", "| embedding speed-up over plain fp32", "| one day cold, wall", "| 30-day backfill, wall",
    ):
        assert row in md, row
