"""The Dagster instance on PostgreSQL (dagster-postgres): a run is recorded in the database.

The storage section of the repository's production ``dagster.yaml`` is used as written.
"""

from __future__ import annotations

import dagster as dg
import psycopg2
import pytest

from resources.warehouse_db import PostgresWarehouse
from tests.support.postgres import dagster_pg_env, dagster_pg_storage

pytestmark = pytest.mark.integration




@dg.asset
def tiny() -> int:
    return 1


def test_run_is_recorded_in_postgres_backed_instance(fresh_pg, monkeypatch, tmp_path):
    dagster_pg_env(monkeypatch, fresh_pg)
    overrides = dagster_pg_storage()

    with dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize([tiny], instance=instance)
        assert result.success
        assert result.run_id in {r.run_id for r in instance.get_runs()}
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS

    # the run really lives in PostgreSQL
    conn = psycopg2.connect(fresh_pg)
    try:
        w = PostgresWarehouse(conn)
        assert w.scalar("SELECT status FROM runs WHERE run_id = %s", [result.run_id]) == "SUCCESS"
        assert w.scalar("SELECT count(*) FROM event_logs WHERE run_id = %s", [result.run_id]) > 0
    finally:
        conn.close()
