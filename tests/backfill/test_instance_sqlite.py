"""The CLI's local SQLite instance: synchronous=NORMAL and one kept connection per database, so a
run's events do not sync and checkpoint the log once per event (``bitbybit_assets.instance_sqlite``)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from types import SimpleNamespace

import dagster as dg
import pytest
import sqlalchemy as sa

from bitbybit_assets import instance_sqlite


@dg.op
def _one() -> int:
    return 1


@dg.job
def _tiny() -> None:
    _one()


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as inst:
        yield inst
    instance_sqlite.close_kept()


def test_tuned_instance_keeps_its_logs_and_loses_no_event(instance, tmp_path):
    assert instance_sqlite.tune_local_instance(instance)
    assert instance_sqlite.tune_local_instance(instance)  # idempotent
    result = _tiny.execute_in_process(instance=instance)
    assert result.success
    run_db = next(p for p in (tmp_path / "home").rglob(f"{result.run_id}.db"))
    # the run's log outlives each of Dagster's connections: not checkpointed and deleted per event
    assert run_db.with_name(run_db.name + "-wal").exists()
    assert str(run_db) in instance_sqlite._kept and str(run_db) in instance_sqlite._in_wal

    engine = sa.create_engine(f"sqlite:///{run_db}")
    with engine.connect() as conn:  # a connection through SQLAlchemy, as Dagster's are
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()

    # another process (the UI) sees every event of the run while this one still holds the log
    script = (
        "import sys, dagster as dg\n"
        "i = dg.DagsterInstance.get()\n"
        "print(len(i.all_logs(sys.argv[1])), i.get_run_by_id(sys.argv[1]).status.value)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, result.run_id], capture_output=True, text=True,
                         check=True, env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")})
    assert out.stdout.split() == [str(len(instance.all_logs(result.run_id))), "SUCCESS"]


def test_other_sqlite_databases_and_other_instances_are_untouched(instance, tmp_path):
    instance_sqlite.tune_local_instance(instance)
    other = sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with other.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL, SQLite's default
    other.dispose()
    assert str(tmp_path / "other.db") not in instance_sqlite._kept
    assert not instance_sqlite.tune_local_instance(SimpleNamespace(run_storage=object()))  # e.g. PostgreSQL
    assert sqlite3.connect(":memory:").execute("PRAGMA synchronous").fetchone()[0] == 2
