"""What the Dagster instance says about recent days: each asset's partition state, the runs and
their failures, the next scheduled run and the newsletter's freshness against its deadline.

Plain functions over a :class:`dagster.DagsterInstance` (or plain values): no web framework, so
they are unit-tested against a real temporary instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from sensors.chain import PARENT_TAG
from sensors.run_info import run_partitions, summarize_run

ACTIVE_RUN_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING", "MANAGED")
TRIGGER_TAG = "bitbybit/trigger"
LAUNCH_GRACE = timedelta(minutes=5)  # a launched run not in the instance after this is reported missing


@dataclass(frozen=True)
class AssetDay:
    """One asset's partition for one day."""

    asset: str
    status: str  # materialized | failed | in_progress | missing (| partial: a group, some materialised)
    materialized_at: datetime | None = None
    run_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class RunView:
    run_id: str
    job_name: str
    status: str  # Dagster's status name: QUEUED, STARTED, SUCCESS, FAILURE, CANCELED ...
    first_day: date | None
    last_day: date | None
    created_at: datetime | None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    trigger: str | None = None
    errors: list[str] = field(default_factory=list)  # failed steps and checks (filled for failed runs)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    @property
    def days_label(self) -> str:
        if self.first_day is None:
            return "-"
        return str(self.first_day) if self.first_day == self.last_day else f"{self.first_day}..{self.last_day}"

    def covers(self, day: date) -> bool:
        return self.first_day is not None and self.last_day is not None and self.first_day <= day <= self.last_day


@dataclass(frozen=True)
class Freshness:
    state: str  # on_time | late | overdue | due
    deadline: datetime
    detail: str


@dataclass(frozen=True)
class LaunchState:
    """Where a run the desk launched stands."""

    label: str  # starting | queued | running | succeeded | failed | canceled | launch failed | missing
    finished: bool
    ok: bool
    detail: str = ""


# ---------------------------------------------------------------- days and time


def recent_days(end: date, count: int = 7, *, start_limit: date | None = None) -> list[date]:
    """``count`` days ending at ``end``, newest first, none before ``start_limit``."""
    days = [end - timedelta(days=i) for i in range(count)]
    return [d for d in days if start_limit is None or d >= start_limit]


def last_complete_day(now: datetime) -> date:
    """The latest UTC day that has ended (the partition the daily schedule materialises)."""
    return now.astimezone(UTC).date() - timedelta(days=1)


def next_cron_time(cron: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``cron`` fires in ``timezone`` (aware)."""
    from dagster._utils.schedules import cron_string_iterator  # Dagster's own cron semantics (DST included)

    for tick in cron_string_iterator(after.timestamp(), cron, timezone):
        if tick.timestamp() > after.timestamp():
            return tick
    raise ValueError(f"cron {cron!r} never fires")  # pragma: no cover - the iterator is infinite


def newsletter_deadline(day: date, deadline_hours: int, timezone: str) -> datetime:
    """When the newsletter of ``day`` is due: ``deadline_hours`` into the next day in ``timezone``."""
    return datetime.combine(day + timedelta(days=1), time(deadline_hours), tzinfo=ZoneInfo(timezone))


def _ago(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


def freshness(deadline: datetime, materialized_at: datetime | None, now: datetime) -> Freshness:
    """The newsletter's state against its deadline."""
    if materialized_at is not None:
        if materialized_at <= deadline:
            return Freshness("on_time", deadline, f"ready {_ago(deadline - materialized_at)} before the deadline")
        return Freshness("late", deadline, f"ready {_ago(materialized_at - deadline)} after the deadline")
    if now > deadline:
        return Freshness("overdue", deadline, f"missing, {_ago(now - deadline)} past the deadline")
    return Freshness("due", deadline, f"due in {_ago(deadline - now)}")


# ---------------------------------------------------------------- assets


def daily_asset_keys(asset_graph) -> list[dg.AssetKey]:
    """Every daily-partitioned asset, upstream first."""
    return [k for k in asset_graph.toposorted_asset_keys
            if isinstance(asset_graph.get(k).partitions_def, dg.TimeWindowPartitionsDefinition)]


def _status_name(value) -> str:
    name = getattr(value, "value", None) or "missing"
    return {"MATERIALIZED": "materialized", "FAILED": "failed", "IN_PROGRESS": "in_progress"}.get(name, "missing")


def asset_partition_states(instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey], days: Sequence[date],
                           partitions_def: dg.PartitionsDefinition) -> dict[date, dict[str, AssetDay]]:
    """day -> asset -> its state: materialised (with the latest materialisation's time and run),
    failed (the latest attempt failed), in progress, or missing."""
    partitions = [d.isoformat() for d in days]
    out: dict[date, dict[str, AssetDay]] = {d: {} for d in days}
    for key in keys:
        name = key.to_user_string()
        statuses = instance.get_status_by_partition(key, partitions, partitions_def) or {}
        latest: dict[str, tuple[datetime, str]] = {}
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=max(50, 5 * len(partitions)),
        ).records
        for rec in records:  # newest first
            if rec.partition_key and rec.partition_key not in latest:
                latest[rec.partition_key] = (datetime.fromtimestamp(rec.timestamp, UTC), rec.run_id)
        for d, p in zip(days, partitions, strict=True):
            at, run_id = latest.get(p, (None, None))
            status = _status_name(statuses.get(p))
            if status == "missing" and at is not None:
                status = "materialized"
            out[d][name] = AssetDay(name, status, at, run_id)
    return out


def summarize_assets(states: dict[str, AssetDay], prefix: str) -> AssetDay:
    """One cell for every asset whose name starts with ``prefix`` (e.g. ``warehouse/``): failed if
    any failed, in progress if any runs, materialised when all are, partial when some are (locally
    the PostgreSQL-only tables stay missing), else missing; the latest time and ``n/m materialised``."""
    group = [s for name, s in states.items() if name.startswith(prefix)]
    name = prefix.rstrip("/")
    if not group:
        return AssetDay(name, "missing")
    done = [s for s in group if s.status == "materialized"]
    statuses = {s.status for s in group}
    status = next((s for s in ("failed", "in_progress") if s in statuses), None)
    if status is None:
        status = "materialized" if len(done) == len(group) else "partial" if done else "missing"
    times = [s.materialized_at for s in group if s.materialized_at]
    missing = sorted(s.asset.removeprefix(prefix) for s in group if s.status != "materialized")
    detail = f"{len(done)}/{len(group)} materialised" + (f"; not: {', '.join(missing)}" if missing else "")
    return AssetDay(name, status, max(times) if times else None, detail=detail)


# ---------------------------------------------------------------- runs


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _view(record) -> RunView:
    run = record.dagster_run
    _key, start, end = run_partitions(dict(run.tags))
    created = record.create_timestamp
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return RunView(
        run_id=run.run_id, job_name=run.job_name, status=run.status.value, first_day=_day(start),
        last_day=_day(end), created_at=created, started_at=_ts(record.start_time), ended_at=_ts(record.end_time),
        trigger=run.tags.get(TRIGGER_TAG),
    )


def with_errors(instance: dg.DagsterInstance, view: RunView) -> RunView:
    """``view`` with the failed steps and checks of a failed run (read from its events)."""
    if view.status != "FAILURE":
        return view
    run = instance.get_run_by_id(view.run_id)
    if run is None:
        return view
    summary = summarize_run(instance, run)
    return RunView(**{**view.__dict__, "errors": [*summary.step_errors,
                                                  *(f"check failed: {c}" for c in summary.failed_checks)]})


def recent_runs(instance: dg.DagsterInstance, limit: int = 200) -> list[RunView]:
    """The latest runs, newest first (no event reads)."""
    return [_view(r) for r in instance.get_run_records(limit=limit)]


def runs_by_day(runs: Iterable[RunView], days: Iterable[date]) -> dict[date, list[RunView]]:
    """day -> the runs covering it (one-day runs and single-run backfills), newest first."""
    runs = list(runs)
    return {d: [r for r in runs if r.covers(d)] for d in days}


def run_view(instance: dg.DagsterInstance, run_id: str) -> RunView | None:
    records = instance.get_run_records(filters=dg.RunsFilter(run_ids=[run_id]), limit=1)
    return with_errors(instance, _view(records[0])) if records else None


def follow_up_runs(instance: dg.DagsterInstance, run_id: str, depth: int = 3) -> list[RunView]:
    """Runs the production chain launched after ``run_id`` (ingest → scoring → publish), in order."""
    chain: list[RunView] = []
    parent = run_id
    for _ in range(depth):
        records = instance.get_run_records(filters=dg.RunsFilter(tags={PARENT_TAG: parent}), limit=1)
        if not records:
            break
        chain.append(with_errors(instance, _view(records[0])))
        parent = records[0].dagster_run.run_id
    return chain


def launch_state(run: RunView | None, *, requested_at: datetime, now: datetime, launch_error: str | None = None,
                 exit_code: int | None = None, follow_ups: Sequence[RunView] = (),
                 final_job: str | None = None) -> LaunchState:
    """Where a launched run stands, from its Dagster run (when it exists yet), the runs chained
    after it and what the launch knows. ``final_job``: the chain's last job (production: ``publish``
    after ``ingest`` and ``scoring``); until it succeeds the launch is still running."""
    if launch_error:
        return LaunchState("launch failed", True, False, launch_error)
    if run is None:
        if exit_code is not None:
            return LaunchState("launch failed", True, False,
                               f"the launch process exited with code {exit_code} before the run started")
        if now - requested_at > LAUNCH_GRACE:
            return LaunchState("missing", True, False, "the run never appeared in the Dagster instance")
        return LaunchState("starting", False, False)
    chain = [run, *follow_ups]
    failed = next((r for r in chain if r.status in ("FAILURE", "CANCELED")), None)
    if failed is not None:
        label = "failed" if failed.status == "FAILURE" else "canceled"
        where = "" if failed is run else f" ({failed.job_name})"
        return LaunchState(label, True, False, ("; ".join(failed.errors) or failed.status.lower()) + where)
    last = chain[-1]
    if last.status == "SUCCESS" and final_job and last.job_name != final_job:
        return LaunchState("running", False, False, f"{last.job_name} done; waiting for the next stage")
    if last.status == "SUCCESS":
        return LaunchState("succeeded", True, True, last.job_name if follow_ups else "")
    if last.status in ("QUEUED", "NOT_STARTED"):
        return LaunchState("queued", False, False, last.job_name)
    return LaunchState("running", False, False, last.job_name)


def run_url(dagster_url: str, run_id: str) -> str:
    return f"{dagster_url.rstrip('/')}/runs/{run_id}"
