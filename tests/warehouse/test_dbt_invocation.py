"""What a day's dbt step costs: the day goes in the environment (the vars stay the same, so dbt's
partial parsing holds from one day to the next), the parse state is kept in the data folder, and the
dbt tests are left to the ``warehouse_tests`` job by the per-day local jobs."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from bitbybit_assets.jobs import DbtTestChecks, all_jobs
from bitbybit_assets.warehouse.dbt_assets import (
    dbt_day_env,
    dbt_env,
    dbt_resource,
    dbt_vars,
    ensure_manifest,
    invocation_target,
    partial_parse_store,
)
from bitbybit_assets.warehouse.loads import RunInfo, load_days
from bitbybit_assets.warehouse.migrate import migrate
from bitbybit_assets.warehouse.tests_sensor import SENSOR_NAME, checked_partition
from resources.warehouse_db import connect_duckdb
from tests.warehouse.sample import DAY1, DAY2, concat_days, day_frames

pytestmark = [pytest.mark.integration]
MODELS = ("feed_statistics", "daily_pipeline_metrics", "topic_trends", "feed_yield_30d", "content_type_mix")


def _parse(day: date, run_id: str) -> str:
    """``dbt parse`` for ``day`` the way the asset invokes dbt; returns dbt's log of it."""
    with invocation_target("local", run_id) as target_path, dbt_env("local", dbt_day_env([day])):
        dbt_resource().cli(["parse", "--vars", json.dumps(dbt_vars())], target_path=target_path).wait()
        return (target_path / "dbt.log").read_text()


def test_a_new_day_reuses_the_kept_parse_state(tmp_path, monkeypatch):
    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    ensure_manifest()
    _parse(date(2026, 8, 6), "run-one")
    assert partial_parse_store("local").exists()
    assert not list((tmp_path / "dbt" / "runs").iterdir())  # a successful invocation's folder goes
    log = _parse(date(2026, 8, 7), "run-two")
    assert "Unable to do partial parsing" not in log
    assert "Partial parsing enabled" in log


def test_per_day_jobs_leave_the_dbt_tests_to_warehouse_tests():
    from bitbybit_assets.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    dbt_tests = DbtTestChecks().resolve_checks(graph)
    assert len(dbt_tests) >= 30
    jobs = {j.name: j for j in all_jobs()}
    for name in ("daily_pipeline", "backfill_publish_day"):
        assert not jobs[name].selection.resolve_checks(graph) & dbt_tests, name
        assert jobs[name].selection.resolve_checks(graph), name  # the quality checks stay
    # a backfill's warehouse stage (one run per stretch of days) leaves them to warehouse_tests too
    assert not jobs["backfill_warehouse"].selection.resolve_checks(graph) & dbt_tests
    assert {k.to_user_string() for k in jobs["backfill_warehouse"].selection.resolve(graph)} >= {
        "warehouse/feed_statistics", "api_export"}
    assert not {k.to_user_string() for k in jobs["backfill_publish_day"].selection.resolve(graph)} & {
        "warehouse/feed_statistics", "api_export"}
    assert jobs["warehouse_tests"].selection.resolve_checks(graph) == dbt_tests
    assert not jobs["warehouse_tests"].selection.resolve(graph)  # no model is rebuilt
    assert dbt_tests <= jobs["publish"].selection.resolve_checks(graph)  # production: per day
    assert SENSOR_NAME in {s.name for s in defs.sensors}


def test_tests_run_for_the_day_the_run_covered():
    assert checked_partition({"dagster/partition": "2026-08-07"}) == "2026-08-07"
    assert checked_partition({"dagster/asset_partition_range_start": "2026-08-01",
                            "dagster/asset_partition_range_end": "2026-08-07"}) == "2026-08-07"
    assert checked_partition({}) is None


def _build(tmp_path, name: str, day: date, by_vars: bool) -> dict[str, list[tuple]]:
    """Load the two sample days into a fresh DuckDB warehouse, build ``day`` (as a person does with
    ``--vars``, or as the asset does through the environment) and read every model back."""
    loaded = tmp_path / "loaded.duckdb"
    if not loaded.exists():  # one load, copied: both builds start from the very same staging rows
        duck = connect_duckdb(str(loaded))
        migrate(duck)
        load_days(duck, concat_days(day_frames(DAY1), day_frames(DAY2)), [DAY1, DAY2],
                  run=RunInfo("0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b"))
        duck.close()
    path = tmp_path / f"{name}.duckdb"
    shutil.copyfile(loaded, path)
    variables = {**dbt_vars(), **({"day": day.isoformat()} if by_vars else {})}
    with dbt_env("local", {"BITBYBIT_DUCKDB_PATH": str(path), **dbt_day_env([] if by_vars else [day])}):
        invocation = dbt_resource().cli(["run", "--target", "local", "--vars", json.dumps(variables)],
                                        target_path=tmp_path / f"t-{name}", raise_on_error=False)
        invocation.wait()
    assert invocation.is_successful()
    duck = connect_duckdb(str(path))
    try:
        out = {}
        for table in MODELS:
            cols = [c[0] for c in duck.raw.execute(f"DESCRIBE {table}").fetchall()
                    if c[0] not in ("created_at", "built_at", "updated_at")]  # when the row was built
            out[table] = sorted(duck.raw.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
    finally:
        duck.close()
    return out


def test_a_day_in_the_environment_builds_what_vars_build(tmp_path, monkeypatch):
    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path))
    by_env = _build(tmp_path, "env", DAY1, by_vars=False)
    assert by_env["feed_statistics"] and by_env["daily_pipeline_metrics"]
    assert by_env == _build(tmp_path, "vars", DAY1, by_vars=True)


def test_a_failing_dbt_command_in_process_fails_with_dbt_s_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path))
    with dbt_env("local", {"BITBYBIT_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "BITBYBIT_DBT_DAY": "2026-13-45x"}):
        invocation = dbt_resource().cli(["run", "--target", "local", "--select", "feed_statistics"],
                                        target_path=tmp_path / "t", raise_on_error=False)
        invocation.wait()
    assert not invocation.is_successful()
    assert "day vars must be YYYY-MM-DD" in str(invocation.get_error())


def test_dbt_lines_printed_by_dagster_dbt_go_to_the_run_log_not_the_terminal(capsys):
    from bitbybit_assets.warehouse.dbt_inprocess import echo_to_log

    def events():
        print("1 of 7 START sql incremental model main.feed_statistics")
        yield "event-1"
        print("1 of 7 OK created sql incremental model main.feed_statistics")
        yield "event-2"

    logged: list[str] = []
    seen = []
    for event in echo_to_log(events(), logged.append):
        print(f"consumer saw {event}")  # the consumer's own output is left alone
        seen.append(event)
    assert seen == ["event-1", "event-2"]
    assert logged == ["1 of 7 START sql incremental model main.feed_statistics",
                      "1 of 7 OK created sql incremental model main.feed_statistics"]
    assert capsys.readouterr().out == "consumer saw event-1\nconsumer saw event-2\n"


def test_a_failing_event_stream_still_logs_what_it_printed():
    from bitbybit_assets.warehouse.dbt_inprocess import echo_to_log

    def events():
        print("dbt said why")
        raise RuntimeError("dbt failed")
        yield  # pragma: no cover

    logged: list[str] = []
    with pytest.raises(RuntimeError, match="dbt failed"):
        list(echo_to_log(events(), logged.append))
    assert logged == ["dbt said why"]


def test_the_behaviour_flag_source_is_the_registering_module_and_the_original_comes_back():
    from dbt_common import behavior_flags

    from bitbybit_assets.warehouse.dbt_inprocess import _cheap_flag_sources

    original = behavior_flags.BehaviorFlagRendered.__dict__["_default_source"]
    with _cheap_flag_sources():
        flag = behavior_flags.BehaviorFlagRendered({"name": "f", "default": False, "description": "d"}, {})
    assert flag._behavior_change_event.flag_source == __name__  # what inspect.stack() gives here too
    assert behavior_flags.BehaviorFlagRendered.__dict__["_default_source"] is original
    plain = behavior_flags.BehaviorFlagRendered({"name": "f", "default": False, "description": "d"}, {})
    assert plain._behavior_change_event.flag_source == flag._behavior_change_event.flag_source
