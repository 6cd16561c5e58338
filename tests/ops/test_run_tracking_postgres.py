"""Run tracking against the real local PostgreSQL (the warehouse migrations applied): one row per
run, updated in place when the same run is reported again."""


import dagster as dg
import psycopg2
import pytest

from bitbybit_assets.partitions import DAILY
from bitbybit_assets.warehouse.migrate import migrate
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.metrics import CloudWatchMetrics
from resources.postgres import PostgresResource
from sensors.run_tracking import build_run_tracking_sensors
from tests.ops.test_sensors import DAY, broken_letters, enhanced, filtered
from tests.support.postgres import create_database, drop_database

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse_dsn():
    name, dsn = create_database(prefix="bitbybit_test_ops")
    conn = psycopg2.connect(dsn)
    migrate(conn)
    conn.close()
    try:
        yield dsn
    finally:
        drop_database(name)


def test_failed_run_lands_in_pipeline_runs(isolated_env, warehouse_dsn):
    lh = Lakehouse()
    job = dg.define_asset_job("daily_pipeline", partitions_def=DAILY)
    defs = dg.Definitions(assets=[filtered, enhanced, broken_letters], jobs=[job],
                          resources={"lakehouse": lh, "io_manager": DeltaIOManager(lakehouse=lh)})
    sensor = {s.name: s for s in build_run_tracking_sensors()}["pipeline_runs_failure"]
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("daily_pipeline").execute_in_process(
            instance=instance, partition_key=DAY, raise_on_error=False)
        for _ in range(2):  # reported twice (e.g. a re-evaluated tick): still one row
            ctx = dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_event=result.get_run_failure_event(), dagster_instance=instance,
                dagster_run=result.dagster_run, resources={"postgres": PostgresResource(dsn=warehouse_dsn), "lakehouse": lh,
                           "metrics": CloudWatchMetrics()},
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
