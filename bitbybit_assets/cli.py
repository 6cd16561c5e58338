"""The ``bitbybit`` command line (also ``python -m bitbybit_assets.cli``).

    bitbybit run --start 2026-08-04 --end 2026-08-07      the pipeline over a range (backfill; --resume, -v)
    bitbybit replay --start D1 --end D2 --settings FILE   re-curate past days under other settings, diff
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
from pathlib import Path

import dagster as dg

# Dagster's beta/preview/supersession notices about our own definitions are for developers, not
# operators; set before the project's modules load (the asset decorators warn at import).
for _category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
    warnings.filterwarnings("ignore", category=_category)

from bitbybit_assets.deliver import commands as delivery_commands  # noqa: E402
from bitbybit_assets.runs import run_days  # noqa: E402
from bitbybit_base.process_gc import tune_for_short_process  # noqa: E402
from bitbybit_base.settings import SettingsError  # noqa: E402
from desk import commands as desk_commands  # noqa: E402

log = logging.getLogger("bitbybit")


def _run(args: argparse.Namespace) -> int:
    from bitbybit_assets.backfill import run_backfill, run_single_day
    from bitbybit_assets.instance_sqlite import tune_local_instance

    tags = {"bitbybit/trigger": args.trigger} if args.trigger else None
    end = args.end or args.start
    if end < args.start:
        log.error("--end %s is before --start %s", end, args.start)
        return 2
    instance = dg.DagsterInstance.get()
    tune_local_instance(instance)  # a local SQLite instance: fewer disk syncs per event (module doc)
    opts = {"progress": log.info, "verbose": args.verbose, "tags": tags, "run_id": args.run_id,
            "instance": instance}
    if end == args.start and not args.resume:  # one day: one run of daily_pipeline (the scheduled shape)
        result = run_single_day(args.start, **opts)
    else:
        result = run_backfill(args.start, end, resume=args.resume, **opts)
    log.info("")
    log.info("summary: %s; runs %s", result.summary(), ", ".join(r[:8] for r in result.run_ids) or "none")
    for day in result.days:
        if day.status == "published":
            log.info("  %s  published  %s picks  %s", day.day, day.picks, day.newsletter or "")
        elif day.status == "failed":
            log.error("  %s  FAILED     %s", day.day, day.reason)
        else:
            log.info("  %s  %s", day.day, day.status)
    for warning in dict.fromkeys(result.warnings):
        log.warning("  warning: %s", warning)
    if result.failed:
        log.error("fix the cause, then: bitbybit run --start %s --end %s --resume", args.start, end)
    return 0 if result.success else 1


def _replay(args: argparse.Namespace) -> int:
    import yaml

    from bitbybit_assets.backfill import console_run_config, error_text
    from bitbybit_assets.definitions import build_definitions
    from bitbybit_assets.replay.job import REPLAY_JOB_NAME, replay_run_config
    from bitbybit_assets.replay.run import read_replay
    from bitbybit_assets.replay.settings import read_overrides, replay_settings
    from bitbybit_base.settings import runtime_settings
    from resources.lakehouse import Lakehouse

    overrides = read_overrides(args.settings)
    replay_settings(runtime_settings(), overrides, str(args.settings))  # a bad file fails here, before a run
    name = args.name or args.settings.stem
    run_config = replay_run_config(args.start, args.end, name, overrides, str(args.settings),
                                   use_labels=not args.no_labels)
    run_config.update(console_run_config(args.verbose))
    job = build_definitions().resolve_job_def(REPLAY_JOB_NAME)
    result = job.execute_in_process(run_config=run_config, instance=dg.DagsterInstance.get(), raise_on_error=False,
                                    tags={"bitbybit/trigger": "cli"})
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error:
                log.error("replay failed: %s", error_text(event.step_failure_data.error))
        return 1
    summary, _ = read_replay(Lakehouse(), name, args.start, args.end)
    log.info("replay %s (run %s) of %s..%s with %s", name, result.run_id[:8], args.start, args.end,
             yaml.safe_dump(overrides, default_flow_style=True).strip())
    with_labels = summary.drop_nulls("published_ndcg") if "published_ndcg" in summary.columns else summary.head(0)
    for row in summary.iter_rows(named=True):
        figures = ""
        if row.get("published_ndcg") is not None:
            figures = f"  nDCG {row['published_ndcg']:.3f} → {row['replay_ndcg']:.3f}"
        log.info("  %s  picks %2d → %2d  +%d −%d  rank changes %d  stories lost %d%s", row["partition_date"],
                 row["published_picks"], row["replay_picks"], row["added"], row["removed"], row["rank_changed"],
                 row["stories_lost"], figures)
    log.info("tables: %s/{replay_days,replay_changes,scored_articles} (%d labelled day(s))",
             Lakehouse().root_uri() + f"/replays/{name}", with_labels.height)
    return 0


def _own_or_warning(record: logging.LogRecord) -> bool:
    """The console shows the ``bitbybit`` lines, and other loggers' warnings and errors."""
    return record.name == "bitbybit" or record.name.startswith("bitbybit.") or record.levelno >= logging.WARNING


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bitbybit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daily pipeline for a day or a range (one run)")
    run.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    run.add_argument("--end", type=date.fromisoformat, help="last day (default: --start)")
    run.add_argument("--run-id", help="the Dagster run id to use (the desk follows the run it launched by it)")
    run.add_argument("--trigger", help="recorded as the run's bitbybit/trigger tag (e.g. desk)")
    run.add_argument("--resume", action="store_true",
                     help="run only the days of the range whose newsletter is not published yet")
    run.add_argument("-v", "--verbose", action="store_true", help="Dagster's DEBUG event stream on the terminal too")
    replay = sub.add_parser("replay", help="re-curate past days under other settings into a replay prefix; diff")
    replay.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    replay.add_argument("--end", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")
    replay.add_argument("--settings", type=Path, required=True,
                        help="YAML with the settings to change (or a whole production.yaml)")
    replay.add_argument("--name", help="the replay's name: <lakehouse>/replays/NAME (default: the file's stem)")
    replay.add_argument("--no-labels", action="store_true", help="skip the evaluation on labelled days")
    replay.add_argument("-v", "--verbose", action="store_true", help="Dagster's DEBUG event stream on the terminal too")
    delivery_commands.add_parsers(sub)
    desk_commands.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    # our own lines at INFO; other libraries (alembic, ...) only when they warn. A filter on the handler,
    # not only the root's level: a library's logger with its own level (Dagster sets INFO on its loggers,
    # dagster-dbt logs every dbt command through one) reaches the root's handler whatever the root's level.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_own_or_warning)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "replay":
            return _replay(args)
        code = delivery_commands.handle(args)
        if code is None:
            code = desk_commands.handle(args)
        if code is None:
            raise SystemExit(f"unknown command {args.command}")
        return code
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return 2


def entry() -> int:
    """The ``bitbybit`` console script and ``python -m bitbybit_assets.cli``: :func:`main` in a process
    that exits after one command, so the garbage collector is tuned for that (``process_gc``)."""
    tune_for_short_process()
    return main()


__all__ = ["entry", "main", "run_days"]

if __name__ == "__main__":
    sys.exit(entry())
