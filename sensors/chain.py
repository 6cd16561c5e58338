"""Production chaining: ``ingest`` → ``scoring`` (GPU, its own run) → ``publish``.

When a run of the upstream job succeeds, the sensor launches the next job for the same partition
(one day, or the same range for a single-run backfill). A failed upstream run launches nothing
(the alert sensor reports it). The run key is the upstream run id, so a sensor restart or a
re-evaluation never launches a stage twice for one upstream run.
"""

from collections.abc import Sequence

import dagster as dg

from bitbybit_assets.jobs import INGEST_JOB_NAME, PUBLISH_JOB_NAME, SCORING_JOB_NAME
from sensors.run_info import RANGE_END_TAG, RANGE_START_TAG, run_partitions

STAGES = ((INGEST_JOB_NAME, SCORING_JOB_NAME), (SCORING_JOB_NAME, PUBLISH_JOB_NAME))
PARENT_TAG = "bitbybit/parent_run_id"
TRIGGER_TAG = "bitbybit/trigger"


def follow_up_request(run: dg.DagsterRun, next_job: str) -> dg.RunRequest | dg.SkipReason:
    """The run request for ``next_job`` over the same partition(s) as ``run``."""
    key, start, end = run_partitions(dict(run.tags))
    tags = {PARENT_TAG: run.run_id, TRIGGER_TAG: f"after_{run.job_name}"}
    if key:
        return dg.RunRequest(run_key=run.run_id, partition_key=key, tags=tags)
    if start and end:
        return dg.RunRequest(run_key=run.run_id, tags={**tags, RANGE_START_TAG: start, RANGE_END_TAG: end})
    return dg.SkipReason(f"run {run.run_id} of {run.job_name} has no partition: nothing to chain")


def stage_sensor(upstream, downstream, default_status: dg.DefaultSensorStatus) -> dg.RunStatusSensorDefinition:
    """Launch ``downstream`` when a run of ``upstream`` succeeds (same partition)."""

    @dg.run_status_sensor(
        name=f"{downstream.name}_after_{upstream.name}",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[upstream],
        request_job=downstream,
        default_status=default_status,
        description=f"Launches {downstream.name} for the same partition when a {upstream.name} run succeeds.",
    )
    def _sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
        request = follow_up_request(context.dagster_run, downstream.name)
        if isinstance(request, dg.RunRequest):
            context.log.info(f"{upstream.name} run {context.dagster_run.run_id} succeeded: launching {downstream.name}")
        return request

    return _sensor


def chain_sensors(jobs: Sequence, default_status: dg.DefaultSensorStatus) -> list[dg.RunStatusSensorDefinition]:
    by_name = {j.name: j for j in jobs}
    return [stage_sensor(by_name[a], by_name[b], default_status) for a, b in STAGES]
