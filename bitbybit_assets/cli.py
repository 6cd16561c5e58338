"""The ``bitbybit`` command line (also ``python -m bitbybit_assets.cli``).

    bitbybit run --start 2026-08-04 --end 2026-08-07      the daily pipeline over a range, one run
    bitbybit subscribers add|import|remove|list           the readers
    bitbybit approve --day D                              an editor's go for a day's issue
    bitbybit send --day D [--test ADDR | --resend ...]    send it (the newsletter_deliveries asset)
    bitbybit mailsink                                     a local SMTP sink for the demo
    bitbybit users add|list|disable|enable|set-password   who may log in to the editorial desk

Runs execute in this process against the Dagster instance in ``$DAGSTER_HOME`` (so the runs and
materialisations show up in the Dagster UI afterwards).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from datetime import date

import dagster as dg

from bitbybit_assets.deliver import commands as delivery_commands
from bitbybit_assets.runs import run_days
from bitbybit_assets.settings import SettingsError
from desk import commands as desk_commands

log = logging.getLogger("bitbybit")


def _run(args: argparse.Namespace) -> int:
    tags = {"bitbybit/trigger": args.trigger} if args.trigger else None
    result = run_days(args.start, args.end or args.start, run_id=args.run_id, tags=tags)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bitbybit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daily pipeline for a day or a range (one run)")
    run.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    run.add_argument("--end", type=date.fromisoformat, help="last day (default: --start)")
    run.add_argument("--run-id", help="the Dagster run id to use (the desk follows the run it launched by it)")
    run.add_argument("--trigger", help="recorded as the run's bitbybit/trigger tag (e.g. desk)")
    delivery_commands.add_parsers(sub)
    desk_commands.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Dagster's beta/preview notices about our own definitions are for developers, not operators
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    try:
        if args.command == "run":
            return _run(args)
        code = delivery_commands.handle(args)
        if code is None:
            code = desk_commands.handle(args)
        if code is None:
            raise SystemExit(f"unknown command {args.command}")
        return code
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return 2


__all__ = ["main", "run_days"]

if __name__ == "__main__":
    sys.exit(main())
