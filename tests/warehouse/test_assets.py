"""The Dagster wiring: warehouse_load -> dbt models (asset checks) -> api_export, materialised per day
in local mode (DuckDB for dbt, PostgreSQL loaded too), and a PostgreSQL outage then recovery."""

from __future__ import annotations

import json

import dagster as dg
import psycopg2
import pytest

from bitbybit_assets.warehouse.assets import (
    api_export,
    warehouse_assets,
    warehouse_key,
    warehouse_load,
    warehouse_resources,
)
from bitbybit_assets.warehouse.config import duckdb_path
from bitbybit_assets.warehouse.export import validate_api_payload
from bitbybit_assets.warehouse.loads import table_counts
from bitbybit_base.settings import runtime_settings
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource
from resources.warehouse_db import PostgresWarehouse, connect_duckdb
from tests.warehouse.conftest import pg_env
from tests.warehouse.sample import DAY1, DAY2, day_frames

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STAGING = {
    "stg_loads": 1,
    "stg_feed_fetches": 3,
    "stg_articles": 12,
    "stg_llm_calls": 3,
    "stg_newsletters": 1,
}
SEED = {"articles": 4, "newsletters": 1}


def _write_upstream(lakehouse: Lakehouse, *days) -> None:
    for day in days:
        for table, df in day_frames(day).items():
            lakehouse.write_days(table, df, day, day)


def _counts(dsn, day):
    conn = psycopg2.connect(dsn)
    try:
        return table_counts(PostgresWarehouse(conn), day)
    finally:
        conn.close()


def test_lineage_and_policies():
    assets = warehouse_assets()
    dbt_def = assets[1]
    feed_stats = warehouse_key("feed_statistics")
    assert dbt_def.asset_deps[feed_stats] == {
        warehouse_key("stg_articles"), warehouse_key("stg_feed_fetches"), warehouse_key("stg_loads"),
    }  # fmt: skip
    assert set(warehouse_load.keys) >= {warehouse_key("stg_articles"), warehouse_key("articles")}
    assert {dg.AssetKey("filtered_articles"), dg.AssetKey("scored_articles")} <= warehouse_load.asset_deps[
        warehouse_key("stg_articles")
    ]
    assert feed_stats in api_export.asset_deps[api_export.key]
    for a in assets:
        assert a.partitions_def is not None
        assert {a.group_names_by_key[k] for k in a.keys} == {"warehouse"}
    assert len(dbt_def.check_specs_by_output_name) >= 30  # dbt tests as asset checks
    policy = warehouse_load.op.retry_policy
    assert (policy.max_retries, policy.backoff) == (3, dg.Backoff.EXPONENTIAL)
    assert api_export.op.retry_policy.backoff == dg.Backoff.EXPONENTIAL


def test_materialize_days_local_mode(isolated_env, monkeypatch, pg_database):
    pg_env(monkeypatch, pg_database)
    lakehouse = Lakehouse()
    _write_upstream(lakehouse, DAY1, DAY2)
    resources = {"lakehouse": lakehouse, **warehouse_resources()}
    assets = warehouse_assets()

    with dg.instance_for_test() as instance:
        for day in (DAY1, DAY2):
            result = dg.materialize(
                assets, partition_key=day.isoformat(), resources=resources, instance=instance
            )
            assert result.success
            checks = result.get_asset_check_evaluations()
            assert len(checks) >= 30 and all(c.passed for c in checks)
        # re-run of day 1, just the load: still one copy everywhere
        again = dg.materialize(
            [warehouse_load], partition_key=DAY1.isoformat(), resources=resources, instance=instance
        )
        assert again.success

    assert _counts(pg_database, DAY1) == {**STAGING, **SEED}
    assert _counts(pg_database, DAY2) == {**STAGING, **SEED}
    duck = connect_duckdb(str(duckdb_path()))
    try:
        assert table_counts(duck, DAY1) == STAGING
        assert duck.scalar("SELECT count(*) FROM feed_statistics") == 6
        assert duck.scalar("SELECT count(DISTINCT partition_date) FROM daily_pipeline_metrics") == 2
    finally:
        duck.close()

    out = isolated_env / "output"
    for day in (DAY1, DAY2):
        api = json.loads((out / "api" / f"{day}.json").read_text())
        validate_api_payload(api)
        assert len(api["articles"]) == 4 and api["newsletter"]["article_count"] == 4
        analytics = json.loads((out / "api" / f"analytics_{day}.json").read_text())
        assert analytics["pipeline"]["total_articles"] == 12
        assert analytics["pipeline"]["llm_cost_usd"] == pytest.approx(0.0123)
        assert {f["feed_name"] for f in analytics["feeds"]} == {"alpha-ai", "beta-dev", "gamma-broken"}
        assert analytics["content_types"] and analytics["topics"] and analytics["tags"]
        sql = (out / "database" / f"{day}.sql").read_text()
        assert sql.startswith("-- bitbybit export") and sql.count("INSERT INTO articles") == 1


def test_postgres_outage_fails_clearly_then_rerun_recovers(isolated_env, monkeypatch, pg_database):
    monkeypatch.setenv("BITBYBIT_ENV", "prod")  # prod: PostgreSQL is the warehouse
    lakehouse = Lakehouse()
    _write_upstream(lakehouse, DAY1)

    down = PostgresResource(
        dsn="postgresql://postgres@127.0.0.1:1/bitbybit", connect_attempts=2, backoff_seconds=0.01
    )
    ctx = dg.build_asset_context(partition_key=DAY1.isoformat())
    with pytest.raises(Exception, match=r"127\.0\.0\.1:1 .*unreachable after 2 attempts"):
        list(warehouse_load(context=ctx, lakehouse=lakehouse, postgres=down, settings=runtime_settings()))

    pg_env(monkeypatch, pg_database)
    up = PostgresResource()
    for _ in range(2):  # the retry after recovery, and one more re-run
        ctx = dg.build_asset_context(partition_key=DAY1.isoformat())
        results = list(warehouse_load(context=ctx, lakehouse=lakehouse, postgres=up, settings=runtime_settings()))
        assert {r.asset_key for r in results} == set(warehouse_load.keys)
        assert _counts(pg_database, DAY1) == {**STAGING, **SEED}


def test_local_mode_without_postgres(isolated_env, monkeypatch):
    """No server at all: the staging tables go to the DuckDB file, seed tables are skipped, and the
    export still writes its files (analytics empty until dbt has built the models)."""
    for var in ("BITBYBIT_POSTGRES_DSN", "POSTGRES_HOST"):
        monkeypatch.delenv(var, raising=False)
    lakehouse = Lakehouse()
    _write_upstream(lakehouse, DAY1)
    postgres = PostgresResource()

    ctx = dg.build_asset_context(partition_key=DAY1.isoformat())
    results = list(warehouse_load(context=ctx, lakehouse=lakehouse, postgres=postgres,
                                  settings=runtime_settings()))
    assert {r.asset_key for r in results} == {warehouse_key(t) for t in STAGING}
    duck = connect_duckdb(str(duckdb_path()))
    try:
        assert table_counts(duck, DAY1) == STAGING
    finally:
        duck.close()

    ctx = dg.build_asset_context(partition_key=DAY1.isoformat())
    api_export(context=ctx, lakehouse=lakehouse, postgres=postgres, settings=runtime_settings())
    out = isolated_env / "output"
    validate_api_payload(json.loads((out / "api" / f"{DAY1}.json").read_text()))
    assert json.loads((out / "api" / f"analytics_{DAY1}.json").read_text())["pipeline"] is None
    assert "INSERT INTO articles" in (out / "database" / f"{DAY1}.sql").read_text()
