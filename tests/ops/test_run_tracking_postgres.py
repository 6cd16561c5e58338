"""Run tracking against the real local PostgreSQL (the warehouse migrations applied): one row per
run, updated in place when the same run is reported again."""

import os
import uuid

import dagster as dg
import psycopg2
import pytest
from psycopg2 import sql

from bitbybit_assets.partitions import daily_partitions
from bitbybit_assets.warehouse.migrate import migrate
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.postgres import PostgresResource
from sensors.run_tracking import build_run_tracking_sensors
from tests.ops.test_sensors import DAY, broken_letters, enhanced, filtered

pytestmark = pytest.mark.integration
ADMIN_DSN = os.environ.get("BITBYBIT_TEST_POSTGRES_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def warehouse_dsn():
    try:
        admin = psycopg2.connect(ADMIN_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL test server not reachable at {ADMIN_DSN} (start it with .ci/run): {exc}")
    admin.autocommit = True
    name = f"bitbybit_test_ops_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = psycopg2.extensions.parse_dsn(ADMIN_DSN)
    dsn = psycopg2.extensions.make_dsn(**{**parts, "dbname": name})
    conn = psycopg2.connect(dsn)
    migrate(conn)
    conn.close()
    try:
        yield dsn
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def test_failed_run_lands_in_pipeline_runs(isolated_env, warehouse_dsn):
    lh = Lakehouse()
    job = dg.define_asset_job("daily_pipeline", partitions_def=daily_partitions)
    defs = dg.Definitions(assets=[filtered, enhanced, broken_letters], jobs=[job],
                          resources={"lakehouse": lh, "io_manager": DeltaIOManager(lakehouse=lh)})
    sensor = {s.name: s for s in build_run_tracking_sensors()}["pipeline_runs_failure"]
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("daily_pipeline").execute_in_process(
            instance=instance, partition_key=DAY, raise_on_error=False)
        for _ in range(2):  # reported twice (e.g. a re-evaluated tick): still one row
            ctx = dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_event=result.get_run_failure_event(), dagster_instance=instance,
                dagster_run=result.dagster_run, resources={"postgres": PostgresResource(dsn=warehouse_dsn), "lakehouse": lh},
            )
            sensor(ctx)
    with psycopg2.connect(warehouse_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT dagster_run_id, job_name, status, total_articles_input, articles_output, "
                    "processing_time_seconds, s3_output_path, error_message, partition_key, partition_start, "
                    "completed_at >= started_at FROM pipeline_runs")
        rows = cur.fetchall()
    assert len(rows) == 1
    run_id, job_name, status, n_in, n_out, seconds, path, error, key, start, ordered = rows[0]
    assert (run_id, job_name, status, key, str(start)) == (result.run_id, "daily_pipeline", "failed", DAY, DAY)
    assert (n_in, n_out) == (40, 10) and seconds >= 0 and ordered
    assert path == lh.root_uri() and "template missing: kaboom" in error
