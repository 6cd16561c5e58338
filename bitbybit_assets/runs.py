"""Run jobs of the one Definitions in this process, against the Dagster instance in ``$DAGSTER_HOME``
(so the runs and materialisations show in the Dagster UI and the desk afterwards)."""

from __future__ import annotations

from datetime import date

import dagster as dg

from bitbybit_assets.definitions import build_definitions
from bitbybit_assets.deliver.assets import ASSET_NAME
from bitbybit_assets.jobs import DAILY_JOB_NAME, DELIVER_JOB_NAME


def run_days(start: date, end: date, instance: dg.DagsterInstance | None = None, *,
             run_id: str | None = None, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    """Execute the daily pipeline job over ``start..end`` as a single run (``run_id``: a caller
    that follows the run, such as the desk, chooses its id)."""
    if end < start:
        raise SystemExit(f"--end {end} is before --start {start}")
    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    instance = instance or dg.DagsterInstance.get()
    if start == end:
        return job.execute_in_process(instance=instance, partition_key=start.isoformat(), raise_on_error=False,
                                      run_id=run_id, tags=tags)
    range_tags = {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }
    return job.execute_in_process(instance=instance, tags={**(tags or {}), **range_tags}, raise_on_error=False,
                                  run_id=run_id)


def delivery_run_config(*, resend: bool = False, reason: str | None = None, release_in_doubt: bool = False,
                        requested_by: str | None = None) -> dict:
    config = {"resend": resend, "reason": reason, "release_in_doubt": release_in_doubt,
              "requested_by": requested_by}
    return {"ops": {ASSET_NAME: {"config": config}}}


def run_delivery(day: date, *, instance: dg.DagsterInstance | None = None, run_id: str | None = None,
                 trigger: str = "cli", **options) -> dg.ExecuteInProcessResult:
    """Materialise ``newsletter_deliveries`` for ``day`` (the ``deliver_newsletter`` job)."""
    job = build_definitions().resolve_job_def(DELIVER_JOB_NAME)
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.get(), partition_key=day.isoformat(),
        run_config=delivery_run_config(**options), raise_on_error=False,
        tags={"bitbybit/trigger": trigger}, run_id=run_id,
    )
