"""The whole graph: a multi-day backfill in one run equals day-by-day runs, and the production
settings (Delta on a real S3 server, Postgres for the Dagster instance and the warehouse) run end to end."""

from datetime import date, timedelta

import dagster as dg
import polars as pl
import psycopg2
import pytest

from bitbybit_assets.curate import assets as curate_assets
from bitbybit_assets.definitions import build_definitions, build_resources
from bitbybit_assets.enhance import assets as enhance_assets
from bitbybit_assets.ingest import assets as ingest_assets
from bitbybit_assets.jobs import DAILY_JOB_NAME
from bitbybit_assets.publish import assets as publish_assets
from resources.lakehouse import Lakehouse
from tests.integration.helpers import materialize_days
from tests.support.postgres import create_database, dagster_pg_env, dagster_pg_storage, drop_database, pg_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIRST, LAST = date(2026, 8, 3), date(2026, 8, 4)  # two days: the second remembers the first
PIPELINE = dg.load_assets_from_modules([ingest_assets, curate_assets, enhance_assets, publish_assets])
# Columns that record when/where a row was produced, not what it says.
VOLATILE = {"generated_at", "fetched_at", "elapsed_ms", "run_id", "called_at", "created_at", "latency_ms"}
KEYS = {
    "raw_feeds": ["partition_date", "feed_name"],
    "newsletters": ["partition_date"],
}


def _table(lh: Lakehouse, name: str) -> pl.DataFrame:
    df = lh.read_days(name, FIRST, LAST)
    df = df.drop([c for c in df.columns if c in VOLATILE or c == "content"])
    return df.select(sorted(df.columns)).sort(KEYS.get(name, ["partition_date", "entry_key"]))


def test_two_day_backfill_in_one_run_equals_two_single_runs(isolated_env, monkeypatch):
    materialize_days(PIPELINE, FIRST.isoformat(), LAST.isoformat())
    one_run = Lakehouse(root=str(isolated_env / "lakehouse"))

    monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", str(isolated_env / "lakehouse_daily"))
    monkeypatch.setenv("BITBYBIT_OUTPUT_DIR", str(isolated_env / "output_daily"))
    day = FIRST
    while day <= LAST:
        materialize_days(PIPELINE, day.isoformat())
        day += timedelta(days=1)
    daily = Lakehouse()

    for name in ("raw_feeds", "feed_entries", "filtered_articles", "scored_articles", "enhanced_articles",
                 "newsletters"):
        a, b = _table(one_run, name), _table(daily, name)
        assert a.height > 0, name
        assert a.equals(b), f"{name}: single-run backfill differs from day-by-day runs"
    letters = _table(one_run, "newsletters")
    assert letters.height == 2 and (letters["article_count"] >= 10).all()
    for d in ("2026-08-03", "2026-08-04"):
        a = (isolated_env / "output" / "newsletter" / f"{d}.html").read_text()
        b = (isolated_env / "output_daily" / "newsletter" / f"{d}.html").read_text()
        assert a == b


@pytest.fixture
def prod_env(isolated_env, s3_test_server, monkeypatch):
    name, dsn = create_database()
    monkeypatch.setenv("BITBYBIT_ENV", "prod")
    for k, v in s3_test_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", s3_test_server.uri("prod_e2e"))
    pg_env(monkeypatch, dsn)
    dagster_pg_env(monkeypatch, dsn)
    try:
        yield dsn
    finally:
        drop_database(name)


def test_full_graph_with_production_settings_on_s3_and_postgres(prod_env, s3_test_server, tmp_path):
    storage = dagster_pg_storage()
    defs = build_definitions()
    assert build_resources("prod")["lakehouse"].root_uri().startswith("s3://")
    job = defs.resolve_job_def(DAILY_JOB_NAME)
    tags = {"dagster/asset_partition_range_start": "2026-08-03", "dagster/asset_partition_range_end": "2026-08-04"}
    with dg.instance_for_test(overrides=storage, temp_dir=str(tmp_path)) as instance:
        result = job.execute_in_process(instance=instance, tags=tags)
        assert result.success
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS

    s3 = s3_test_server.client()
    for table in ("raw_feeds", "filtered_articles", "scored_articles", "newsletters"):
        listed = s3.list_objects_v2(Bucket=s3_test_server.bucket, Prefix=f"prod_e2e/{table}/_delta_log/")
        assert listed["KeyCount"] > 0, f"{table} is not on S3"
    assert Lakehouse().read_days("newsletters", date(2026, 8, 3), date(2026, 8, 4)).height == 2

    conn = psycopg2.connect(prod_env)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", [result.run_id])
            assert cur.fetchone()[0] == "SUCCESS"  # the run is in the Postgres-backed instance
            cur.execute("SELECT count(*) FROM newsletters")
            assert cur.fetchone()[0] == 2
            cur.execute("SELECT count(*), count(DISTINCT id) FROM articles")
            n, distinct = cur.fetchone()
            assert n == distinct and n >= 20
            cur.execute("SELECT count(DISTINCT feed_name) FROM feed_statistics")
            assert cur.fetchone()[0] > 10
            cur.execute("SELECT cardinality(article_ids) FROM newsletters ORDER BY 1")
            assert all(row[0] >= 10 for row in cur.fetchall())
    finally:
        conn.close()
