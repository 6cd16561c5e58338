"""Materialise ``raw_feeds`` for a range of days in one run (history for a benchmarked day).

    python -m bench.prep 2026-07-18 2026-08-06

Runs against ``$DAGSTER_HOME`` and the lakehouse/archive the environment points at.
"""

from __future__ import annotations

import sys
from datetime import date

import dagster as dg

from bitbybit_assets.definitions import build_definitions
from bitbybit_assets.jobs import DAILY_JOB_NAME


def materialise_raw_feeds(start: date, end: date) -> bool:
    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    selection = [dg.AssetKey("raw_feeds")]
    with dg.DagsterInstance.get() as instance:
        if start == end:
            result = job.execute_in_process(
                instance=instance, partition_key=start.isoformat(), asset_selection=selection, raise_on_error=False
            )
        else:
            tags = {
                "dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": end.isoformat(),
            }
            result = job.execute_in_process(
                instance=instance, tags=tags, asset_selection=selection, raise_on_error=False
            )
    return result.success


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ok = materialise_raw_feeds(date.fromisoformat(args[0]), date.fromisoformat(args[1]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
