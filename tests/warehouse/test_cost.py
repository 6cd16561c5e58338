"""``cost_per_newsletter`` built by a real dbt on both targets: compute seconds by run kind at the
``cost:`` prices of the settings (pipeline_runs on PostgreSQL, the loading run on DuckDB), the LLM
ledger and the storage estimate; its dbt tests pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from bitbybit_assets.warehouse.dbt_assets import cost_env, dbt_env, dbt_env_vars, dbt_resource
from bitbybit_assets.warehouse.loads import RunInfo, load_days
from bitbybit_assets.warehouse.migrate import migrate
from bitbybit_assets.warehouse.pipeline_runs import record_pipeline_run
from bitbybit_base.settings import CostSettings, runtime_settings
from resources.warehouse_db import PostgresWarehouse, connect_duckdb
from tests.warehouse.conftest import pg_env
from tests.warehouse.sample import DAY1, DAY2, concat_days, day_frames

DAY_BYTES = 6 + 6 + 0 + 36  # two feed documents, the failing feed, the newsletter HTML
LLM_USD = 0.0123  # the sample ledger of each day
GIB = 1024**3


def build_cost_model(target: str, target_path: Path) -> list[str]:
    """``dbt build`` of the model and its tests; returns the unique ids of the tests that ran."""
    args = ["build", "--target", target, "--select", "cost_per_newsletter"]
    with dbt_env(target):
        invocation = dbt_resource().cli(args, target_path=target_path, raise_on_error=False)
    invocation.wait()
    results = invocation.get_artifact("run_results.json")["results"]
    failed = [(r["unique_id"], r["status"], r.get("message")) for r in results if r["status"] not in ("success", "pass")]
    assert invocation.is_successful() and not failed, failed
    return [r["unique_id"] for r in results if r["unique_id"].startswith("test.")]


def rows_by_day(w) -> dict:
    return {r["partition_date"]: r for r in w.query("SELECT * FROM cost_per_newsletter ORDER BY partition_date")}


def assert_priced(row: dict, cost: CostSettings) -> None:
    """Every dollar column follows from the seconds and bytes at the configured prices."""
    assert row["cpu_usd"] == pytest.approx(float(row["cpu_seconds"]) / 3600 * cost.cpu_usd_per_hour, abs=2e-6)
    assert row["gpu_usd"] == pytest.approx(float(row["gpu_seconds"]) / 3600 * cost.gpu_usd_per_hour, abs=2e-6)
    assert row["storage_usd"] == pytest.approx(row["stored_bytes"] / GIB * cost.storage_usd_per_gb_month / 30,
                                               abs=1e-6)
    assert row["llm_usd"] == pytest.approx(LLM_USD)
    total = row["cpu_usd"] + row["gpu_usd"] + row["llm_usd"] + row["storage_usd"]
    assert row["total_usd"] == pytest.approx(total, abs=1e-5)
    assert row["cost_per_newsletter_usd"] == pytest.approx(row["total_usd"])  # the sample has one each day
    assert row["cost_per_article_usd"] == pytest.approx(row["total_usd"] / 4, abs=1e-6)
    assert (row["cpu_usd_per_hour"], row["gpu_usd_per_hour"], row["storage_usd_per_gb_month"]) == (
        cost.cpu_usd_per_hour, cost.gpu_usd_per_hour, cost.storage_usd_per_gb_month)


def test_prices_reach_dbt_from_the_settings():
    cost = runtime_settings().cost
    assert json.loads(dbt_env_vars("local")["BITBYBIT_DBT_COST"]) == cost.model_dump(mode="json")
    custom = CostSettings(cpu_usd_per_hour=1.5, gpu_jobs=["scoring", "backfill_ingest_curate"])
    assert json.loads(cost_env(custom))["gpu_jobs"] == ["scoring", "backfill_ingest_curate"]


@pytest.mark.integration
@pytest.mark.slow
def test_duckdb_prices_the_loading_run(tmp_path, monkeypatch):
    """No pipeline_runs locally: the run that loaded the days stands in, its time split over them."""
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    started = datetime.now(UTC) - timedelta(hours=1)
    run = RunInfo("5a1f0d3c-0000-4000-8000-000000000001", started_at=started, job_name="daily_pipeline",
                  days_in_run=2)
    duck = connect_duckdb(str(tmp_path / "warehouse.duckdb"))
    migrate(duck)
    load_days(duck, concat_days(day_frames(DAY1), day_frames(DAY2)), [DAY1, DAY2], run=run)
    duck.close()
    tests = build_cost_model("local", tmp_path / "t")
    assert len(tests) >= 10
    duck = connect_duckdb(str(tmp_path / "warehouse.duckdb"))
    try:
        rows = rows_by_day(duck)
        loaded = {r["partition_date"]: r["loaded_at"] for r in duck.query("SELECT * FROM stg_loads")}
    finally:
        duck.close()
    cost = runtime_settings().cost
    assert sorted(rows) == [DAY1, DAY2]
    for day, row in rows.items():
        assert row["compute_source"] == "stg_loads" and row["runs"] == 1 and row["failed_runs"] == 0
        assert row["cpu_seconds"] == pytest.approx((loaded[day] - started).total_seconds() / 2, abs=0.01)
        assert row["gpu_seconds"] == 0 and row["newsletters_generated"] == 1
        assert_priced(row, cost)
    assert (rows[DAY1]["day_bytes"], rows[DAY1]["stored_bytes"]) == (DAY_BYTES, DAY_BYTES)
    assert (rows[DAY2]["day_bytes"], rows[DAY2]["stored_bytes"]) == (DAY_BYTES, 2 * DAY_BYTES)


@pytest.mark.integration
@pytest.mark.slow
def test_postgres_prices_every_run_by_kind(tmp_path, monkeypatch, pg_database):
    """pipeline_runs: an ingest run (CPU tag), a scoring range run (GPU by its job name), a failed
    publish run and the publish run still loading; seconds shared over each run's days."""
    pg_env(monkeypatch, pg_database)
    t0 = datetime(2026, 7, 19, 6, 0, tzinfo=UTC)
    loader = RunInfo("5a1f0d3c-0000-4000-8000-000000000002", started_at=datetime.now(UTC) - timedelta(seconds=90),
                     job_name="publish")
    conn = psycopg2.connect(pg_database)
    pg = PostgresWarehouse(conn)
    try:
        migrate(pg)
        load_days(pg, concat_days(day_frames(DAY1), day_frames(DAY2)), [DAY1, DAY2], run=loader)
        runs = [
            {"run_id": "ingest-1", "job_name": "ingest", "compute": "cpu", "status": "SUCCESS",
             "started_at": t0, "completed_at": t0 + timedelta(seconds=600), "partition_start": DAY1,
             "partition_end": DAY1},
            {"run_id": "scoring-1", "job_name": "scoring", "status": "SUCCESS",  # no tag: GPU by cost.gpu_jobs
             "started_at": t0, "completed_at": t0 + timedelta(seconds=300), "partition_start": DAY1,
             "partition_end": DAY2},
            {"run_id": "publish-failed", "job_name": "publish", "compute": "cpu", "status": "FAILURE",
             "started_at": t0, "completed_at": t0 + timedelta(seconds=60), "partition_start": DAY1,
             "partition_end": DAY1},
            {"run_id": loader.dagster_run_id, "job_name": "publish", "compute": "cpu", "status": "STARTED",
             "partition_start": DAY2, "partition_end": DAY2},  # no end yet: counted up to its load
        ]
        for rec in runs:
            record_pipeline_run(pg, rec)
        tests = build_cost_model("prod", tmp_path / "p")
        assert len(tests) >= 10
        rows = rows_by_day(pg)
        loaded = pg.scalar("SELECT max(loaded_at) FROM stg_loads")
    finally:
        conn.close()
    cost = runtime_settings().cost
    day1, day2 = rows[DAY1], rows[DAY2]
    assert day1["compute_source"] == day2["compute_source"] == "pipeline_runs"
    assert (day1["runs"], day1["failed_runs"], day2["runs"], day2["failed_runs"]) == (3, 1, 2, 0)
    assert float(day1["cpu_seconds"]) == pytest.approx(600 + 60)
    assert float(day1["gpu_seconds"]) == float(day2["gpu_seconds"]) == pytest.approx(150)
    assert float(day2["cpu_seconds"]) == pytest.approx((loaded - loader.started_at).total_seconds(), abs=0.01)
    for row in (day1, day2):
        assert_priced({k: float(v) if hasattr(v, "as_tuple") else v for k, v in row.items()}, cost)
    assert (day2["day_bytes"], day2["stored_bytes"]) == (DAY_BYTES, 2 * DAY_BYTES)
