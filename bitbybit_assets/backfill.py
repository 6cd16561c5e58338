"""Backfills an operator can trust: one bad day does not sink the range.

A range ``start..end`` runs as

1. **one run** of ``backfill_ingest_curate`` (raw_feeds → scored_articles) over the whole range:
   the heavy stages keep their single-run backfill (the embedding model loads once, clustering
   walks the days in order);
2. **one run per day** of ``backfill_publish_day``: the blocking checks of ``scored_articles`` for
   that day, then editorial → enhancement → newsletter. A day that fails its gate (or any later
   blocking check) fails alone, with the reason on its run and in the result; the other days are
   published;
3. **one run per stretch of published days** of ``backfill_warehouse``: warehouse load → dbt models →
   API export over the stretch (each reads and writes its days only, so the tables are those of
   day-by-day runs; one dbt invocation instead of one per day). If it fails, its days are failed
   with the reason; their newsletters stay, so ``--resume`` counts them as done (as it did when
   dbt failed inside a day's publish run): run them again with ``bitbybit run --start D --end D``.

Dagster's blocking checks block per run, so gating per day needs per-day runs downstream of the
gate; the tables are then exactly those of day-by-day runs, because no stage after the gate reads
another day. If the range run of stage 1 itself fails (an exception, not a check), stage 1 is retried
day by day so the days that can complete still do.

``resume=True`` runs only the days whose newsletter is neither materialised in the instance nor
in the lakehouse (contiguous days together). Progress: one line per day and stage (rows, seconds,
an estimate of the time left), passed to ``progress`` and recorded on the stage-1 run (engine
events and a ``bitbybit/backfill_summary`` tag); Dagster's DEBUG events go to the instance only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from bitbybit_assets.jobs import (
    BACKFILL_CURATE_JOB_NAME,
    BACKFILL_PUBLISH_JOB_NAME,
    BACKFILL_WAREHOUSE_JOB_NAME,
    DAILY_JOB_NAME,
    WAREHOUSE_TESTS_JOB_NAME,
)
from bitbybit_assets.progress import Eta, contiguous_ranges, days_between, days_to_resume, stage_line
from bitbybit_assets.publish.files import newsletter_dir
from bitbybit_assets.run_results import BackfillResult, DayResult, error_text, run_failure_reasons
from resources.lakehouse import Lakehouse

log = logging.getLogger(__name__)

NEWSLETTERS = dg.AssetKey("newsletters")
# tables whose per-day row counts the progress lines show (the others show their seconds only)
COUNTED_TABLES = ("raw_feeds", "feed_entries", "filtered_articles", "article_embeddings", "scored_articles",
                  "enhanced_articles", "newsletters")
BACKFILL_TAG = "bitbybit/backfill"  # on every run of a backfill: the stage-1 run id
SUMMARY_TAG = "bitbybit/backfill_summary"


def console_run_config(verbose: bool) -> dict:
    """Dagster's console logger at DEBUG with ``-v``, else CRITICAL: every event still goes to the
    instance (the UI), and the progress listener prints the lines an operator reads."""
    return {"loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "CRITICAL"}}}}


def published_days(instance: dg.DagsterInstance, lakehouse: Lakehouse, start: date, end: date) -> set[date]:
    """Days of ``start..end`` whose newsletter is materialised (instance) or stored (lakehouse)."""
    keys = instance.get_materialized_partitions(NEWSLETTERS)
    done = {d for d in days_between(start, end) if d.isoformat() in keys}
    return done | lakehouse.days_present("newsletters", start, end)


class _Progress:
    """Event listener: one line per day and stage as each step of a run ends."""

    def __init__(self, out: Callable[[str], None], eta: Eta, lakehouse: Lakehouse, result: BackfillResult) -> None:
        self.out, self.eta, self.lakehouse, self.result = out, eta, lakehouse, result
        self.days: list[date] = []
        self.started: dict[str, float] = {}
        self.materialised: dict[str, list[str]] = {}

    def start_run(self, days: list[date]) -> None:
        self.days, self.started, self.materialised = days, {}, {}

    def warn(self, message: str) -> None:
        if message not in self.result.warnings:
            self.result.warnings.append(message)
            self.emit(f"  warning {message[:300]}")

    def emit(self, line: str) -> None:
        self.result.lines.append(line)
        self.out(line)

    def __call__(self, entry: Any) -> None:
        try:
            self._handle(entry)
        except Exception:  # noqa: BLE001 - progress never breaks a run
            log.debug("progress listener failed", exc_info=True)

    def _rows(self, table: str) -> dict[date, int]:
        if table not in COUNTED_TABLES or not self.days:
            return {}
        scan = self.lakehouse.scan_days(table, self.days[0], self.days[-1])
        if scan is None:
            return {}
        counts = scan.group_by("partition_date").agg(pl.len()).collect()
        return dict(zip(counts["partition_date"].to_list(), counts["len"].to_list(), strict=True))

    def _handle(self, entry: Any) -> None:
        ev = entry.dagster_event
        if ev is None:
            message = entry.user_message
            level = entry.level if isinstance(entry.level, int) else logging.getLevelName(str(entry.level).upper())
            # our check lines say it already; skipped steps are the consequence of a failure shown
            if isinstance(level, int) and level >= logging.WARNING and not message.startswith("check ") \
                    and "Not executing" not in message:
                self.warn(f"{entry.step_key or '-'}: {message}")
            return
        if ev.step_key is None:
            return
        kind = ev.event_type_value
        step = ev.step_key
        if kind == "STEP_START":
            self.started[step] = entry.timestamp
        elif kind == "ASSET_MATERIALIZATION":
            self.materialised.setdefault(step, []).append(ev.asset_key.to_user_string())
        elif kind == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            if not data.passed:
                label = f"{data.asset_key.to_user_string()}:{data.check_name}"
                level = "failed" if data.severity == dg.AssetCheckSeverity.ERROR else "warning"
                why = (data.description or "").removeprefix("FAILED: ")
                if level == "warning":
                    self.result.warnings.append(f"{label}: {why}")
                    self.result.warnings = list(dict.fromkeys(self.result.warnings))
                self.emit(stage_line(self._day_label(), label, status=level, note=why[:200]))
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = entry.timestamp - self.started.get(step, entry.timestamp)
            n = max(1, len(self.days))
            self.eta.add(n)
            if kind == "STEP_FAILURE":
                error = ev.step_failure_data.error
                why = error_text(error).splitlines()[0] if error else ""
                if "blocking asset check" in why:  # the failed check has its own line
                    return
                self.emit(stage_line(self._day_label(), step, seconds=seconds, days_in_step=n, status="failed",
                                     eta=self.eta.seconds_left(), note=why[:200]))
                return
            for key in dict.fromkeys(self.materialised.get(step, [])):
                rows = self._rows(key)
                for day in self.days:
                    self.emit(stage_line(day.isoformat(), key, rows=rows.get(day, 0) if rows else None,
                                         seconds=seconds, days_in_step=n, eta=self.eta.seconds_left()))

    def _day_label(self) -> str:
        if not self.days:
            return "-"
        return self.days[0].isoformat() if len(self.days) == 1 else f"{self.days[0]}..{self.days[-1]}"


def _step_count(job: dg.JobDefinition | None) -> int:
    return len(job.graph.node_dict) if job is not None else 0


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, first: date, last: date, *, listener: _Progress,
             verbose: bool, tags: dict[str, str], run_id: str | None = None) -> dg.ExecuteInProcessResult:
    run_id = run_id or str(uuid.uuid4())
    listener.start_run(days_between(first, last))
    instance.add_event_listener(run_id, listener)
    kwargs: dict[str, Any] = {"instance": instance, "raise_on_error": False, "run_id": run_id,
                              "run_config": console_run_config(verbose)}
    if first == last:
        return job.execute_in_process(partition_key=first.isoformat(), tags=tags, **kwargs)
    range_tags = {"dagster/asset_partition_range_start": first.isoformat(),
                  "dagster/asset_partition_range_end": last.isoformat()}
    return job.execute_in_process(tags={**tags, **range_tags}, **kwargs)


def _day_result(day: date, lakehouse: Lakehouse, run_ids: list[str]) -> DayResult:
    letters = lakehouse.read_days("newsletters", day, day, ["partition_date", "article_count"])
    picks = int(letters["article_count"][0]) if letters.height else None
    path = newsletter_dir() / f"{day.isoformat()}.html"
    return DayResult(day, "published", picks=picks, newsletter=str(path) if Path(path).exists() else None,
                     run_ids=run_ids)


def run_backfill(
    start: date,
    end: date,
    *,
    defs: dg.Definitions | None = None,
    instance: dg.DagsterInstance | None = None,
    lakehouse: Lakehouse | None = None,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
    verbose: bool = False,
    tags: dict[str, str] | None = None,
    run_id: str | None = None,
) -> BackfillResult:
    """Run (or with ``resume`` complete) the pipeline over ``start..end``; see the module doc."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    if defs is None:
        from bitbybit_assets.definitions import build_definitions

        defs = build_definitions()
    instance = instance or dg.DagsterInstance.get()
    lakehouse = lakehouse or Lakehouse()
    out = progress or (lambda line: None)
    curate_job = defs.resolve_job_def(BACKFILL_CURATE_JOB_NAME)
    publish_job = defs.resolve_job_def(BACKFILL_PUBLISH_JOB_NAME)
    warehouse_job = _job_or_none(defs, BACKFILL_WAREHOUSE_JOB_NAME)  # None: Definitions without the warehouse
    per_day_steps = _step_count(curate_job) + _step_count(publish_job) + _step_count(warehouse_job)

    all_days = days_between(start, end)
    before = published_days(instance, lakehouse, start, end) if resume else set()
    todo = days_to_resume(start, end, before)
    result = BackfillResult(days=[DayResult(d, "done before") for d in all_days if d in before])
    if resume:
        out(f"resume: {len(before)} of {len(all_days)} day(s) already published; running "
            + (", ".join(d.isoformat() for d in todo) or "nothing"))
    eta = Eta(total=float(len(todo) * per_day_steps))
    listener = _Progress(out, eta, lakehouse, result)
    base_tags = dict(tags or {})
    first_run: str | None = None
    planned = 0.0

    for first, last in contiguous_ranges(todo):
        days = days_between(first, last)
        out(f"stage 1 ingest → scored_articles {first}..{last} ({len(days)} day(s), one run)")
        heavy = _execute(curate_job, instance, first, last, listener=listener, verbose=verbose,
                         tags={**base_tags, **({BACKFILL_TAG: first_run} if first_run else {})},
                         run_id=run_id if first_run is None else None)
        first_run = first_run or heavy.run_id
        result.run_ids.append(heavy.run_id)
        ready: dict[date, list[str]] = {d: [heavy.run_id] for d in days}
        if not heavy.success and len(days) > 1:
            reasons = run_failure_reasons(heavy)
            out(f"stage 1 failed for the range ({reasons[0]}): retrying day by day")
            eta.grow(len(days) * _step_count(curate_job))
            ready = {}
            for day in days:
                single = _execute(curate_job, instance, day, day, listener=listener, verbose=verbose,
                                  tags={**base_tags, BACKFILL_TAG: first_run})
                result.run_ids.append(single.run_id)
                if single.success:
                    ready[day] = [heavy.run_id, single.run_id]
                else:
                    result.days.append(DayResult(day, "failed", "; ".join(run_failure_reasons(single)),
                                                 run_ids=[heavy.run_id, single.run_id]))
        elif not heavy.success:
            result.days.append(DayResult(first, "failed", "; ".join(run_failure_reasons(heavy)),
                                         run_ids=[heavy.run_id]))
            ready = {}
        planned += len(days) * _step_count(curate_job)
        eta.done = max(eta.done, planned)  # skipped steps count as done

        published: list[DayResult] = []
        for day, run_ids in ready.items():
            pub = _execute(publish_job, instance, day, day, listener=listener, verbose=verbose,
                           tags={**base_tags, BACKFILL_TAG: first_run})
            result.run_ids.append(pub.run_id)
            if pub.success:
                day_result = _day_result(day, lakehouse, [*run_ids, pub.run_id])
                line = stage_line(day.isoformat(), "published", eta=eta.seconds_left(),
                                  note=f"{day_result.picks} picks  {day_result.newsletter or ''}")
            else:
                day_result = DayResult(day, "failed", "; ".join(run_failure_reasons(pub)),
                                       run_ids=[*run_ids, pub.run_id])
                line = stage_line(day.isoformat(), "publish", status="failed", eta=eta.seconds_left(),
                                  note=day_result.reason[:300])
            planned += _step_count(publish_job)
            eta.done = max(eta.done, planned)
            result.days.append(day_result)
            if day_result.status == "published":
                published.append(day_result)
            listener.emit(line)
            _record(instance, first_run, line)
        if warehouse_job is not None:
            for a, b in contiguous_ranges(d.day for d in published):
                _warehouse(warehouse_job, instance, [d for d in published if a <= d.day <= b], listener,
                           verbose, {**base_tags, BACKFILL_TAG: first_run}, result)
        planned += len(days) * _step_count(warehouse_job)
        eta.done = max(eta.done, planned)

    if any(d.status == "published" for d in result.days):  # the dbt tests read whole tables: once per range
        _warehouse_tests(defs, instance, listener, verbose, {**base_tags, BACKFILL_TAG: first_run}, result)
    result.days.sort(key=lambda d: d.day)
    if first_run is not None:
        _record(instance, first_run, "backfill " + result.summary(), tags={SUMMARY_TAG: result.summary()})
    return result


def _job_or_none(defs: dg.Definitions, name: str) -> dg.JobDefinition | None:
    """The job named ``name``, or None where ``defs`` lack it (e.g. Definitions without the warehouse)."""
    try:
        return defs.resolve_job_def(name)
    except dg.DagsterInvariantViolationError:
        return None


def _warehouse(job: dg.JobDefinition, instance: dg.DagsterInstance, days: list[DayResult], listener: _Progress,
               verbose: bool, tags: dict[str, str], result: BackfillResult) -> None:
    """Stage 3 over a stretch of consecutive published ``days``, one run; if it fails, they fail."""
    first, last = days[0].day, days[-1].day
    run = _execute(job, instance, first, last, listener=listener, verbose=verbose, tags=tags)
    result.run_ids.append(run.run_id)
    for d in days:
        d.run_ids.append(run.run_id)
    if run.success:
        return
    reason = "; ".join(run_failure_reasons(run))
    for d in days:
        d.status, d.reason = "failed", reason
    label = first.isoformat() if first == last else f"{first}..{last}"
    listener.emit(stage_line(label, "warehouse", status="failed", note=reason[:300]))


def _warehouse_tests(defs: dg.Definitions, instance: dg.DagsterInstance, listener: _Progress, verbose: bool,
                     tags: dict[str, str], result: BackfillResult) -> None:
    """One ``warehouse_tests`` run (the dbt tests) after the range; a failure is a warning of the range."""
    job = _job_or_none(defs, WAREHOUSE_TESTS_JOB_NAME)
    if job is None:  # Definitions without the warehouse
        return
    run = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags,  # no partition: whole tables
                                 run_config=console_run_config(verbose))
    result.run_ids.append(run.run_id)
    if not run.success:
        listener.warn("warehouse_tests: " + "; ".join(run_failure_reasons(run)))


def _record(instance: dg.DagsterInstance, run_id: str, message: str, tags: dict[str, str] | None = None) -> None:
    """A progress line on the stage-1 run (its event log in the UI); ``tags`` added to the run."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return
    instance.report_engine_event(message, dagster_run=run)
    if tags:
        instance.add_run_tags(run_id, tags)


def run_single_day(day: date, *, defs: dg.Definitions | None = None, instance: dg.DagsterInstance | None = None,
                   lakehouse: Lakehouse | None = None, progress: Callable[[str], None] | None = None,
                   verbose: bool = False, tags: dict[str, str] | None = None,
                   run_id: str | None = None) -> BackfillResult:
    """One day as one run of ``daily_pipeline`` (the scheduled shape), with the same progress lines."""
    if defs is None:
        from bitbybit_assets.definitions import build_definitions

        defs = build_definitions()
    instance = instance or dg.DagsterInstance.get()
    lakehouse = lakehouse or Lakehouse()
    job = defs.resolve_job_def(DAILY_JOB_NAME)
    result = BackfillResult(days=[])
    listener = _Progress(progress or (lambda line: None), Eta(total=float(_step_count(job))), lakehouse, result)
    run = _execute(job, instance, day, day, listener=listener, verbose=verbose, tags=dict(tags or {}), run_id=run_id)
    result.run_ids.append(run.run_id)
    if run.success:
        result.days.append(_day_result(day, lakehouse, [run.run_id]))
    else:
        result.days.append(DayResult(day, "failed", "; ".join(run_failure_reasons(run)), run_ids=[run.run_id]))
    return result
