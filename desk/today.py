"""``/``: the state of the last days at a glance, and re-running a day.

For each of the last seven days (``?end=YYYY-MM-DD`` moves the window): every asset's partition
(materialised, failed, running, missing; the latest materialisation's time), the latest run and
why it failed, the newsletter's freshness against ``pipeline.newsletter_deadline_hours``, the
approval and the send ledger. Above: the next scheduled run. Below: the runs launched from the desk,
their status polled every 2 s (``/runs/{run_id}/status``), with links to the Dagster UI.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitbybit_assets.deliver.records import Approval
from bitbybit_assets.jobs import DAILY_JOB_NAME, INGEST_JOB_NAME, PUBLISH_JOB_NAME, SCORING_JOB_NAME
from bitbybit_assets.operations_settings import deadline_hour
from bitbybit_assets.partitions import daily_partitions
from bitbybit_assets.schedules import previous_day_partition, scheduled_job_name
from bitbybit_base.settings import environment, runtime_settings
from desk import pipeline_status as ps
from desk.auth import safe_next
from desk.dagster_access import InstanceUnavailable
from desk.db import DatabaseBusy, DeskDB
from desk.launches import Launch
from desk.web import current_user, flash, in_thread, path_day, redirect, render, state, with_db

log = logging.getLogger("bitbybit")

WINDOW_DAYS = 7
PIPELINE_JOBS = (DAILY_JOB_NAME, INGEST_JOB_NAME, SCORING_JOB_NAME, PUBLISH_JOB_NAME)
WAREHOUSE_PREFIX = "warehouse/"
LOG_TAIL_BYTES = 4000


@dataclass
class DayRow:
    day: date
    cells: list[ps.AssetDay]
    freshness: ps.Freshness
    latest_run: ps.RunView | None = None
    approval: Approval | None = None
    ledger: dict[str, int] = field(default_factory=dict)


@dataclass
class LaunchView:
    launch: Launch
    state: ps.LaunchState
    run: ps.RunView | None = None
    log_tail: str | None = None


def column_names(keys: list[str]) -> list[str]:
    """The grid's columns: every asset upstream first, the warehouse tables as one column."""
    cols = [k for k in keys if not k.startswith(WAREHOUSE_PREFIX) and k != "newsletter_deliveries"]
    if any(k.startswith(WAREHOUSE_PREFIX) for k in keys):
        cols.append(WAREHOUSE_PREFIX)
    if "newsletter_deliveries" in keys:
        cols.append("newsletter_deliveries")
    return cols


def _cells(states: dict[str, ps.AssetDay], cols: list[str]) -> list[ps.AssetDay]:
    return [ps.summarize_assets(states, c) if c.endswith("/") else states.get(c, ps.AssetDay(c, "missing"))
            for c in cols]


def _log_tail(request: Request, launch: Launch) -> str | None:
    """The end of a subprocess launch's output (only files in the launcher's own folder)."""
    root = getattr(state(request).launcher, "log_dir", None)
    if not launch.log_path or root is None:
        return None
    path = Path(launch.log_path).resolve()
    if not path.is_relative_to(Path(root).resolve()) or not path.is_file():
        return None
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
        return fh.read().decode("utf-8", "replace")


def launch_view(request: Request, launch: Launch, now: datetime) -> LaunchView:
    """Where a launch stands (reads the Dagster instance; call from a worker thread)."""
    launcher = state(request).launcher
    run, follow_ups = None, []
    if not launch.error:
        instance = state(request).dagster.instance()
        run = ps.run_view(instance, launch.run_id)
        final = launcher.final_job(launch.kind) if hasattr(launcher, "final_job") else None
        if run is not None and final:
            follow_ups = ps.follow_up_runs(instance, launch.run_id)
        code = launcher.exit_code(launch.run_id) if hasattr(launcher, "exit_code") else None
    else:
        final, code = None, None
    st = ps.launch_state(run, requested_at=launch.requested_at, now=now, launch_error=launch.error,
                         exit_code=code, follow_ups=follow_ups, final_job=final)
    tail = _log_tail(request, launch) if st.label in ("launch failed", "failed", "missing") else None
    return LaunchView(launch, st, run, tail)


def _collect(request: Request, days: list[date], now: datetime) -> dict[str, Any]:
    cfg = runtime_settings().pipeline
    hours = deadline_hour(runtime_settings())
    out: dict[str, Any] = {"instance_error": None, "columns": [], "launches": []}
    states: dict[date, dict[str, ps.AssetDay]] = {d: {} for d in days}
    runs: dict[date, list[ps.RunView]] = {d: [] for d in days}
    instance = None
    try:
        instance = state(request).dagster.instance()
        keys = ps.daily_asset_keys(state(request).dagster.asset_graph())
        out["columns"] = column_names([k.to_user_string() for k in keys])
        if days:
            states = ps.asset_partition_states(instance, keys, days, daily_partitions(cfg.start_date))
            runs = ps.runs_by_day([r for r in ps.recent_runs(instance) if r.job_name in PIPELINE_JOBS], days)
    except InstanceUnavailable as exc:
        out["instance_error"] = str(exc)

    def from_db(db: DeskDB) -> tuple[dict, dict, list[Launch]]:
        approvals = {d: db.store.approval(d) for d in days}
        ledgers = {d: db.store.ledger_counts(d) for d in days}
        return approvals, ledgers, db.launches.recent(10)

    out["db_note"] = None
    try:
        approvals, ledgers, launches = with_db(request, from_db)
    except DatabaseBusy as exc:  # shown on the page; the rest of it still works
        out["db_note"] = str(exc)
        approvals, ledgers = dict.fromkeys(days), {d: {} for d in days}
        launches = state(request).launcher.launches()[:10] if hasattr(state(request).launcher, "launches") else []
    rows = []
    for d in days:
        newsletter = states[d].get("newsletters")
        latest = runs[d][0] if runs[d] else None
        if latest is not None and instance is not None:
            latest = ps.with_errors(instance, latest)
        rows.append(DayRow(
            day=d, cells=_cells(states[d], out["columns"]),
            freshness=ps.freshness(ps.newsletter_deadline(d, hours, cfg.schedule_timezone),
                                   newsletter.materialized_at if newsletter else None, now),
            latest_run=latest, approval=approvals[d], ledger=ledgers[d],
        ))
    out["rows"] = rows
    if instance is not None:
        out["launches"] = [launch_view(request, launch, now) for launch in launches]
    nxt = ps.next_cron_time(cfg.schedule_cron, cfg.schedule_timezone, now)
    out["schedule"] = {"cron": cfg.schedule_cron, "timezone": cfg.schedule_timezone, "next": nxt,
                       "partition": previous_day_partition(nxt), "job": scheduled_job_name(environment())}
    return out


def _end_day(request: Request, now: datetime) -> date:
    raw = request.query_params.get("end")
    if not raw:
        return ps.last_complete_day(now)
    try:
        return min(date.fromisoformat(raw), ps.last_complete_day(now))
    except ValueError:
        raise HTTPException(404, "end is not a day (YYYY-MM-DD)") from None


async def today_page(request: Request) -> Response:
    now = datetime.now(UTC)
    end = _end_day(request, now)
    days = ps.recent_days(end, WINDOW_DAYS, start_limit=runtime_settings().pipeline.start_date)
    data = await in_thread(_collect, request, days, now)
    return render(request, "today.html", end=end, days=days, now=now, title="Today",
                  back=request.url.path + (f"?{request.url.query}" if request.url.query else ""), **data)


async def run_status(request: Request) -> Response:
    """The status of a launch as an htmx fragment (polls itself every 2 s until the run ends)."""
    run_id = request.path_params["run_id"]
    known = getattr(state(request).launcher, "known", None)
    launch = known(run_id) if known else None  # no database read while polling a run this process launched
    if launch is None:
        launch = await in_thread(with_db, request, lambda db: db.launches.get(run_id))
    if launch is None:
        raise HTTPException(404, "no run launched from the desk has this id")
    try:
        view = await in_thread(launch_view, request, launch, datetime.now(UTC))
    except InstanceUnavailable as exc:
        return render(request, "_launch_status.html", view=None, error=str(exc))
    return render(request, "_launch_status.html", view=view, error=None)


def active_runs_for(request: Request, day: date, jobs: tuple[str, ...]) -> list[ps.RunView]:
    """Runs of ``jobs`` covering ``day`` that have not finished (worker thread)."""
    instance = state(request).dagster.instance()
    return [r for r in ps.recent_runs(instance, limit=100) if r.job_name in jobs and r.active and r.covers(day)]


def launch_and_record(request: Request, kind: str, day: date) -> Launch:
    """Launch a run for ``day`` and record the launch (worker thread). A subprocess launch is
    recorded before its process starts: afterwards the local database belongs to the run."""
    launcher, username = state(request).launcher, current_user(request).username
    if not hasattr(launcher, "prepare"):
        launch = launcher.launch(kind, day, username)
        with_db(request, lambda db: db.launches.record(launch))
        return launch
    launch = launcher.prepare(kind, day, username)
    with_db(request, lambda db: db.launches.record(launch))
    if launch.error:
        return launch
    launch = launcher.start(launch)
    if launch.error:  # no process: the database is free
        with_db(request, lambda db: db.launches.set_error(launch.run_id, launch.error))
    return launch


async def rerun(request: Request) -> Response:
    day = path_day(request)
    form = await request.form()
    back = safe_next(str(form.get("back", "/")))
    try:
        active = await in_thread(active_runs_for, request, day, PIPELINE_JOBS)
    except InstanceUnavailable as exc:
        flash(request, f"Cannot launch: {exc}", "error")
        return redirect(back)
    if active:
        flash(request, f"{day}: run {active[0].run_id[:8]} ({active[0].job_name}) is still {active[0].status.lower()}; "
                       "wait for it to end.", "error")
        return redirect(back)
    try:
        launch = await in_thread(launch_and_record, request, "pipeline", day)
    except DatabaseBusy as exc:
        flash(request, f"{day}: not launched: {exc}.", "error")
        return redirect(back)
    if launch.error:
        flash(request, f"{day}: the re-run could not be launched: {launch.error}", "error")
    else:
        flash(request, f"{day}: re-run launched ({launch.job_name}, run {launch.run_id[:8]}).")
    return redirect(back + "#launches")


def routes() -> list[Route]:
    return [
        Route("/", today_page, methods=["GET"]),
        Route("/runs/{run_id}/status", run_status, methods=["GET"]),
        Route("/days/{day}/rerun", rerun, methods=["POST"]),
    ]
