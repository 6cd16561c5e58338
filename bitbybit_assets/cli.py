"""Command line: run the daily pipeline for a day or a range of days in one run.

    python -m bitbybit_assets.cli run --start 2026-08-04 --end 2026-08-07

Runs in this process against the Dagster instance in ``$DAGSTER_HOME`` (so the runs and
materialisations show up in the Dagster UI afterwards).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

import dagster as dg

from bitbybit_assets.definitions import build_definitions
from bitbybit_assets.jobs import DAILY_JOB_NAME

log = logging.getLogger("bitbybit")


def run_days(start: date, end: date, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """Execute the daily pipeline job over ``start..end`` as a single run."""
    if end < start:
        raise SystemExit(f"--end {end} is before --start {start}")
    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    instance = instance or dg.DagsterInstance.get()
    if start == end:
        return job.execute_in_process(instance=instance, partition_key=start.isoformat(), raise_on_error=False)
    tags = {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bitbybit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daily pipeline for a day or a range (one run)")
    run.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    run.add_argument("--end", type=date.fromisoformat, help="last day (default: --start)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run_days(args.start, args.end or args.start)
    done: dict[str, list[str]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        done.setdefault(mat.asset_key.to_user_string(), []).append(mat.partition or "-")
    for key, parts in done.items():
        log.info("materialised %-24s %s", key, ", ".join(sorted(parts)))
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                log.error("%s: %s", event.step_key, event.message)
        log.error("run %s FAILED", result.run_id)
        return 1
    log.info("run %s succeeded", result.run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
