"""Stage 3 of a backfill: the warehouse load, dbt models and API export of the published days run once
over the stretch, and give the warehouse tables and API files of day-by-day daily runs."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import duckdb
import polars as pl
import pytest

from bitbybit_assets.backfill import run_backfill, run_single_day
from bitbybit_assets.definitions import build_definitions
from bitbybit_assets.jobs import (
    BACKFILL_PUBLISH_JOB_NAME,
    BACKFILL_WAREHOUSE_JOB_NAME,
    WAREHOUSE_TESTS_JOB_NAME,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIRST, LAST = date(2026, 8, 3), date(2026, 8, 4)
# what records which run loaded a row, or when: not what the row says
VOLATILE = {"dagster_run_id", "pipeline_run_id", "run_started_at", "loaded_at", "generated_at", "created_at",
            "processing_time_seconds", "days_in_run", "job_name", "id", "run_id", "called_at", "latency_ms",
            "applied_at", "exported_at"}
# The local warehouse has no pipeline_runs table, so a day's compute cost is the time of the run that
# loaded it (cost_per_newsletter): a daily run, or a backfill's warehouse run. By run shape, not data.
RUN_COST = {"cpu_seconds", "gpu_seconds", "cpu_usd", "gpu_usd", "compute_usd", "total_usd",
            "cost_per_newsletter_usd", "cost_per_article_usd"}


def _tables(path) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] + "." + r[1] for r in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN "
            "('information_schema', 'pg_catalog')").fetchall()]
        out = {}
        for name in names:
            df = pl.from_arrow(con.execute(f"SELECT * FROM {name}").to_arrow_table())
            df = df.drop([c for c in df.columns if c in VOLATILE | RUN_COST])
            first = [c for c in ("partition_date", "feed_name") if c in df.columns]
            order = first + sorted(c for c in df.columns if c not in first)
            out[name] = df.select(sorted(df.columns)).sort(order, nulls_last=True)
        return out


def _json(path) -> object:
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in VOLATILE | RUN_COST}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(json.loads(path.read_text()))


def test_one_warehouse_run_per_stretch_equals_daily_runs(isolated_env, monkeypatch):
    defs = build_definitions()
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(isolated_env / "backfill.duckdb"))
    with dg.instance_for_test() as instance:
        result = run_backfill(FIRST, LAST, defs=defs, instance=instance)
        assert result.success, result.days
        jobs = [instance.get_run_by_id(r).job_name for r in result.run_ids]
        assert jobs.count(BACKFILL_PUBLISH_JOB_NAME) == 2
        assert jobs.count(BACKFILL_WAREHOUSE_JOB_NAME) == 1  # one run for both days
        assert jobs[-1] == WAREHOUSE_TESTS_JOB_NAME
        warehouse_run = instance.get_run_by_id(result.run_ids[jobs.index(BACKFILL_WAREHOUSE_JOB_NAME)])
        assert warehouse_run.tags["dagster/asset_partition_range_start"] == FIRST.isoformat()
        assert all(warehouse_run.run_id in d.run_ids for d in result.days)

    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(isolated_env / "daily.duckdb"))
    monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", str(isolated_env / "lakehouse_daily"))
    monkeypatch.setenv("BITBYBIT_OUTPUT_DIR", str(isolated_env / "output_daily"))
    with dg.instance_for_test() as instance:
        for d in (FIRST, LAST):
            assert run_single_day(d, defs=defs, instance=instance).success

    a, b = _tables(isolated_env / "backfill.duckdb"), _tables(isolated_env / "daily.duckdb")
    assert set(a) == set(b) and len(a) >= 10
    differ = [name for name in a if not a[name].equals(b[name])]
    assert not differ, f"the backfill's warehouse differs from daily runs in {differ}"
    assert a["main.stg_articles"].height > 0 and a["main.feed_statistics"].height > 0
    for d in (FIRST, LAST):
        for f in (f"api/{d}.json", f"api/analytics_{d}.json"):
            assert _json(isolated_env / "output" / f) == _json(isolated_env / "output_daily" / f), f


def test_a_failed_warehouse_run_fails_its_days_with_the_reason(isolated_env):
    from bitbybit_assets.backfill import _Progress, _warehouse
    from bitbybit_assets.partitions import DAILY
    from bitbybit_assets.progress import Eta
    from bitbybit_assets.run_results import BackfillResult, DayResult
    from resources.lakehouse import Lakehouse

    @dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
    def warehouse_load(context) -> None:  # unannotated: Dagster cannot read a postponed annotation
        raise RuntimeError("the warehouse is read-only")

    job = dg.Definitions(assets=[warehouse_load], jobs=[dg.define_asset_job("w", partitions_def=DAILY)]) \
        .resolve_job_def("w")
    days = [DayResult(FIRST, "published"), DayResult(LAST, "published")]
    result = BackfillResult(days=list(days))
    lines: list[str] = []
    with dg.instance_for_test() as instance:
        _warehouse(job, instance, days, _Progress(lines.append, Eta(total=1.0), Lakehouse(), result), False, {},
                   result)
    assert [d.status for d in result.days] == ["failed", "failed"]
    assert all("the warehouse is read-only" in d.reason and d.run_ids == result.run_ids for d in result.days)
    assert any(line.startswith(f"{FIRST}..{LAST}") and "warehouse" in line for line in lines)
    assert not result.success
