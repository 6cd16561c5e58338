"""Delivery sensor: launch ``deliver_newsletter`` for a day once it may go out.

Every ``delivery.sensor_interval_seconds`` it looks at the last ``delivery.lookback_days`` days with a
materialised ``newsletters`` partition and requests a run when

* ``manual`` mode: the day is approved and its ledger is not complete, or
* ``auto`` mode: the send time of the day has come (the run itself re-checks the blocking checks
  and records the automatic approval).

Run keys make every decision launch once: a new approval (or, while recipients are deferred after a
temporary failure, each new hour) is a new key. No run is requested while one is queued or running
for the day, and ``newsletter_deliveries`` itself never sends a row twice, so an extra run is harmless.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb

from bitbybit_assets.deliver.approval import send_due_at
from bitbybit_assets.deliver.assets import ASSET_NAME
from bitbybit_assets.deliver.database import open_store
from bitbybit_assets.deliver.store import DeliveryStore
from bitbybit_assets.jobs import DELIVER_JOB_NAME
from bitbybit_assets.settings_overrides import settings_with_overrides
from bitbybit_base.settings import DeliverySettings, runtime_settings
from resources.postgres import PostgresResource

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def delivery_run_key(store: DeliveryStore, day: date, settings: DeliverySettings, now: datetime) -> str | None:
    """The run key that would launch the day's delivery now, or ``None`` when nothing is due."""
    approval = store.approval(day)
    approved = approval is not None and approval.status == "approved"
    editions = store.editions(day)
    if editions:
        latest = editions[-1]
        counts = store.ledger_counts(day, int(latest["edition"]))
        open_rows = counts["pending"] + counts["deferred"]
        if approved and approval.content_sha256 == latest["content_sha256"] and open_rows == 0:
            return None  # this edition is done
        if not approved and settings.approval == "manual":
            return None
        retry = f":retry:{now:%Y%m%d%H}" if counts["deferred"] else ""
        sha = approval.content_sha256[:16] if approved else "auto"
        stamp = approval.approved_at.isoformat() if approved and approval.approved_at else "auto"
        return f"deliver:{day}:{sha}:{stamp}{retry}"
    if approved:
        stamp = approval.approved_at.isoformat() if approval.approved_at else ""
        return f"deliver:{day}:{approval.content_sha256[:16]}:{stamp}"
    if settings.approval == "auto" and now >= send_due_at(day, settings.send_time, settings.send_timezone):
        return f"deliver:{day}:auto"
    return None


def due_requests(store: DeliveryStore, days: list[date], settings: DeliverySettings, now: datetime,
                 instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    """Run requests for the days whose delivery is due and not already queued or running."""
    requests = []
    for day in days:
        key = delivery_run_key(store, day, settings, now)
        if key is None:
            continue
        running = instance.get_runs(
            filters=dg.RunsFilter(job_name=DELIVER_JOB_NAME, statuses=ACTIVE,
                                  tags={"dagster/partition": day.isoformat()}), limit=1)
        if not running:
            requests.append(dg.RunRequest(run_key=key, partition_key=day.isoformat(),
                                          tags={"bitbybit/trigger": "delivery_sensor"}))
    return requests


def build_delivery_sensor(job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition,
                          default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    settings = runtime_settings().delivery

    @dg.sensor(
        name="delivery_sensor",
        job=job,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=default_status,
        description="Launches deliver_newsletter for an approved day (or, in auto mode, at the send time).",
    )
    def delivery_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
        cfg = runtime_settings().delivery
        now = datetime.now(UTC)
        done = context.instance.get_materialized_partitions(dg.AssetKey("newsletters"))
        newest = now.date() - timedelta(days=1)
        days = [newest - timedelta(days=i) for i in range(cfg.lookback_days)]
        days = [d for d in days if d.isoformat() in done]
        if not days:
            return dg.SkipReason("no recent day has a newsletter")
        try:
            with open_store(postgres) as store:
                cfg = settings_with_overrides(store.w).delivery  # approval / send time as set in the desk
                requests = due_requests(store, days, cfg, now, context.instance)
        except duckdb.IOException as exc:  # the local DuckDB file is held by a run right now
            return dg.SkipReason(f"delivery database busy, retrying next tick: {str(exc).splitlines()[0]}")
        return requests or dg.SkipReason(f"nothing to send for {', '.join(map(str, days))}")

    return delivery_sensor


__all__ = ["ASSET_NAME", "build_delivery_sensor", "delivery_run_key"]
