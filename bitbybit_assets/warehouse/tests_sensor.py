"""The dbt tests after each ``daily_pipeline`` run: the per-day local job leaves them out (they test
whole warehouse tables, ~60 of them, a few seconds per run), this sensor asks for one
``warehouse_tests`` run (no partition: whole tables) once the day's run has succeeded."""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from bitbybit_assets.jobs import DAILY_JOB_NAME, WAREHOUSE_TESTS_JOB_NAME

SENSOR_NAME = "warehouse_tests_after_daily_pipeline"


def checked_partition(tags: dict[str, str]) -> str | None:
    """The partition a finished run covered (its last day for a range), from its tags (run key)."""
    return tags.get("dagster/partition") or tags.get("dagster/asset_partition_range_end")


def warehouse_tests_sensor(jobs: Sequence[Any], default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    """Run-status sensor: ``daily_pipeline`` succeeded → ``warehouse_tests`` for its (last) day."""
    by_name = {j.name: j for j in jobs}

    @dg.run_status_sensor(
        name=SENSOR_NAME,
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[by_name[DAILY_JOB_NAME]],
        request_job=by_name[WAREHOUSE_TESTS_JOB_NAME],
        default_status=default_status,
        description="After each successful daily_pipeline run: the dbt tests (warehouse_tests) once.",
    )
    def _sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
        run = context.dagster_run
        key = checked_partition(dict(run.tags))
        if not key:
            return dg.SkipReason(f"run {run.run_id} has no partition")
        return dg.RunRequest(run_key=f"{WAREHOUSE_TESTS_JOB_NAME}:{run.run_id}",
                             tags={"bitbybit/trigger": "sensor", "bitbybit/tested_day": key})

    return _sensor
