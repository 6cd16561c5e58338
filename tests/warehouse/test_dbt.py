"""`dbt build` on both targets (DuckDB `local`, PostgreSQL `prod`) with every dbt test passing, and the
same numbers on both."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest

from bitbybit_assets.warehouse.dbt_assets import DBT_PROJECT_DIR, dbt_env, dbt_resource
from bitbybit_assets.warehouse.loads import RunInfo, load_days
from bitbybit_assets.warehouse.migrate import migrate
from resources.warehouse_db import PostgresWarehouse, connect_duckdb
from tests.warehouse.conftest import pg_env
from tests.warehouse.sample import DAY1, DAY2, concat_days, day_frames

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN = RunInfo("0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b")
MODELS = {"feed_statistics", "daily_pipeline_metrics", "topic_trends", "feed_yield_30d", "content_type_mix",
          "cost_per_newsletter"}
DELIVERY_MODELS = {"delivery_statistics"}  # over the send ledger: empty until something is sent
FEED_STATS_COLS = (
    "feed_name, partition_date, total_articles, passed_content_filter, passed_ad_detection, "
    "passed_quality_scoring, final_articles, processing_time_seconds, duplicates, duplicate_rate, "
    "advertisements, ad_rate, fetch_status, fetch_errors"
)


def run_dbt(target: str, target_path: Path, day: str | None = None) -> dict:
    args = ["build", "--target", target]
    if day:
        args += ["--vars", json.dumps({"day": day})]
    with dbt_env(target):
        invocation = dbt_resource().cli(args, target_path=target_path, raise_on_error=False)
    invocation.wait()
    results = invocation.get_artifact("run_results.json")["results"]
    failed = [
        (r["unique_id"], r["status"], r.get("message"))
        for r in results
        if r["status"] not in ("success", "pass")
    ]
    assert invocation.is_successful() and not failed, failed
    return {r["unique_id"]: r["status"] for r in results}


def _norm(rows: list[tuple]) -> list[tuple]:
    return [tuple(float(v) if isinstance(v, Decimal | float) else v for v in r) for r in rows]


def test_dbt_build_duckdb_and_postgres(tmp_path, monkeypatch, pg_database):
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    pg_env(monkeypatch, pg_database)
    frames = concat_days(day_frames(DAY1), day_frames(DAY2))

    # ---- local target: DuckDB file loaded by the same loader code
    duck = connect_duckdb(str(tmp_path / "warehouse.duckdb"))
    migrate(duck)
    load_days(duck, frames, [DAY1, DAY2], run=RUN)
    duck.close()
    statuses = run_dbt("local", tmp_path / "t1", DAY1.isoformat())
    assert {uid.split(".")[-1] for uid in statuses if uid.startswith("model.")} == MODELS | DELIVERY_MODELS
    assert sum(1 for uid in statuses if uid.startswith("test.")) >= 30
    run_dbt("local", tmp_path / "t2", DAY2.isoformat())  # the incremental path: delete the day, append

    duck = connect_duckdb(str(tmp_path / "warehouse.duckdb"))
    try:
        assert duck.scalar("SELECT count(*) FROM feed_statistics") == 6  # 3 feeds x 2 days, once each
        assert duck.scalar("SELECT count(*) FROM daily_pipeline_metrics") == 2
        duck_stats = _norm(
            duck.raw.execute(f"SELECT {FEED_STATS_COLS} FROM feed_statistics ORDER BY 1, 2").fetchall()
        )
        m = duck.query("SELECT * FROM daily_pipeline_metrics WHERE partition_date = %s", [DAY1])[0]
        duck_yield = _norm(duck.raw.execute("SELECT * FROM feed_yield_30d ORDER BY 1, 2").fetchall())
    finally:
        duck.close()
    alpha = [r for r in duck_stats if r[0] == "alpha-ai" and r[1] == DAY1][0]
    # 6 entries: 2 dropped by the filter (1 duplicate), 1 ad, 1 below the relevance gate, 2 picked
    assert alpha == ("alpha-ai", DAY1, 6, 4, 3, 2, 2, 1.5, 1, 0.1667, 1, 0.1667, "ok", 0)
    broken = [r for r in duck_stats if r[0] == "gamma-broken" and r[1] == DAY1][0]
    assert broken[2] == 0 and broken[-2:] == ("error", 1)
    assert (m["total_articles"], m["passed_content_filter"], m["selected_articles"], m["newsletter_articles"]) == (
        12, 8, 4, 4,
    )  # fmt: skip
    assert (m["fetch_errors"], m["llm_calls"], m["llm_cache_hits"], m["newsletters_generated"]) == (
        1,
        3,
        1,
        1,
    )
    assert m["llm_cost_usd"] == pytest.approx(0.0123) and m["cost_per_newsletter_usd"] == pytest.approx(
        0.0123
    )
    assert m["cost_per_article_usd"] == pytest.approx(0.0123 / 4)
    day2_alpha = [r for r in duck_yield if r[1] == "alpha-ai" and r[0] == DAY2][0]
    assert day2_alpha[3] == 2  # days_observed over the 30-day window

    # ---- prod target: PostgreSQL, seed feed_statistics created by the migrations
    conn = psycopg2.connect(pg_database)
    pg = PostgresWarehouse(conn)
    try:
        migrate(pg)
        load_days(pg, frames, [DAY1, DAY2], run=RUN)
        run_dbt("prod", tmp_path / "p1")  # no day var: every loaded day
        run_dbt("prod", tmp_path / "p2", DAY1.isoformat())  # re-run of a day replaces it
        assert pg.scalar("SELECT count(*) FROM feed_statistics") == 6
        pg_stats = _norm(_fetch(pg, f"SELECT {FEED_STATS_COLS} FROM feed_statistics ORDER BY 1, 2"))
        assert pg_stats == duck_stats  # same models, same numbers on both databases
        # still the seed table: uuid key with its default and the FK to pipeline_runs, rows linked to the run
        col = pg.query(
            "SELECT data_type, column_default FROM information_schema.columns "
            "WHERE table_name = 'feed_statistics' AND column_name = 'id'"
        )[0]
        assert col == {"data_type": "uuid", "column_default": "gen_random_uuid()"}
        assert (
            pg.scalar(
                "SELECT count(*) FROM feed_statistics f JOIN pipeline_runs r ON r.id = f.pipeline_run_id"
            )
            == 6
        )
        for model in MODELS:
            assert pg.scalar(f"SELECT count(*) FROM {model}") > 0, model
    finally:
        conn.close()


def _fetch(pg: PostgresWarehouse, sql: str) -> list[tuple]:
    cur = pg.raw.cursor()
    cur.execute(sql)
    return cur.fetchall()


def test_dbt_parse_works_offline(tmp_path):
    with dbt_env("local"):
        invocation = dbt_resource().cli(["parse", "--quiet"], target_path=tmp_path / "parse")
    invocation.wait()
    manifest = json.loads((tmp_path / "parse" / "manifest.json").read_text())
    sources = {(v["source_name"], v["name"]) for v in manifest["sources"].values()}
    assert sources == {("warehouse", t) for t in ("stg_loads", "stg_feed_fetches", "stg_articles",
                                                   "stg_llm_calls", "stg_newsletters")} | {
        ("delivery", "send_ledger"), ("delivery", "subscriber_events")}
    assert {v["name"] for v in manifest["nodes"].values() if v["resource_type"] == "model"} >= MODELS
    assert (DBT_PROJECT_DIR / "profiles.yml").exists()
