"""The daily schedule: every day at ``pipeline.schedule_cron`` (in ``pipeline.schedule_timezone``)
materialise the previous day's partition.

Partitions are UTC days, so "the previous day" is the last UTC day that has fully ended at the
scheduled time (with the default 06:30 UTC: yesterday). Locally the schedule runs the whole graph
(``daily_pipeline``); in production it runs ``ingest`` and the run-status sensors in
``sensors/chain.py`` launch ``scoring`` (GPU) and then ``publish`` for the same partition.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from bitbybit_assets.jobs import DAILY_JOB_NAME, INGEST_JOB_NAME
from bitbybit_base.settings import PipelineSettings, runtime_settings

SCHEDULE_TAG = "bitbybit/trigger"


def previous_day_partition(scheduled_time: datetime) -> str:
    """Partition key of the last UTC day that ended before ``scheduled_time`` (aware or UTC)."""
    if scheduled_time.tzinfo is None:
        scheduled_time = scheduled_time.replace(tzinfo=UTC)
    return (scheduled_time.astimezone(UTC).date() - timedelta(days=1)).isoformat()


def scheduled_job_name(env: str) -> str:
    """``daily_pipeline`` locally, ``ingest`` (first of the three production runs) in prod."""
    return INGEST_JOB_NAME if env == "prod" else DAILY_JOB_NAME


def daily_schedule(job: Any, default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
                   cfg: PipelineSettings | None = None) -> dg.ScheduleDefinition:
    """A schedule of ``job`` for the previous day (cron and timezone from ``pipeline``, default: the
    ``pipeline`` section of :func:`runtime_settings`)."""
    cfg = cfg or runtime_settings().pipeline
    start: date = cfg.start_date

    @dg.schedule(
        name=f"{job.name}_daily",
        job=job,
        cron_schedule=cfg.schedule_cron,
        execution_timezone=cfg.schedule_timezone,
        default_status=default_status,
        description=(
            f"Every day at '{cfg.schedule_cron}' ({cfg.schedule_timezone}): materialise the previous "
            f"UTC day with the {job.name} job."
        ),
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        key = previous_day_partition(context.scheduled_execution_time)
        if date.fromisoformat(key) < start:
            return dg.SkipReason(f"{key} is before pipeline.start_date {start}")
        return dg.RunRequest(
            run_key=f"{job.name}:{key}",
            partition_key=key,
            tags={SCHEDULE_TAG: "schedule"},
        )

    return _schedule


def build_schedules(env: str, jobs: Sequence, default_status: dg.DefaultScheduleStatus,
                    cfg: PipelineSettings | None = None) -> list[dg.ScheduleDefinition]:
    """The deployment's schedule, bound to the job object of that name in ``jobs``."""
    name = scheduled_job_name(env)
    by_name = {j.name: j for j in jobs}
    if name not in by_name:
        raise ValueError(f"no job named {name!r} among {sorted(by_name)}")
    return [daily_schedule(by_name[name], default_status, cfg)]
