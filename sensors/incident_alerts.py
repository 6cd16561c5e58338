"""Incident alerts: a late or missing newsletter, warning-level check failures above a threshold, a
feed failing N days in a row, the LLM budget nearing its cap. Sent through the ``notifier``
resource (SNS, webhook, SMTP or the log) once per incident, with the day and a link to the
Dagster UI (``operations.alerts.ui_url``).

The ``incident_alerts`` sensor looks every ``operations.alerts.incident_interval_seconds`` at the
newest expected day only (the day whose deadline, ``pipeline.newsletter_deadline_hours`` after it
ended, has passed): historical partitions never alert. What it finds is decided by the pure rules
of :mod:`sensors.incidents`; the keys of incidents already sent live in the sensor cursor, so a
restart or a second tick does not repeat them, and a failed send is tried again on the next tick.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from bitbybit_assets.checks import WARN, planned_checks, read_table
from bitbybit_assets.operations_settings import deadline_hour
from bitbybit_base.settings import Settings, runtime_settings
from resources.lakehouse import Lakehouse
from resources.notify import NotificationError, Notifier
from sensors import incidents as rules

INCIDENT_SENSOR_NAME = "incident_alerts"
FEED_LOOKBACK_DAYS = 60  # how far back a failing feed's streak is traced


def warning_failures(lakehouse: Lakehouse, day: date) -> list[str]:
    """``asset:check: why`` for every WARN check failing on ``day`` (the asset checks' own rules)."""
    failed = []
    for plan in planned_checks():
        if plan.blocking or plan.severity != WARN:
            continue
        frames = {table: read_table(lakehouse, table, [day], cols) for table, cols in plan.reads.items()}
        result = plan.rule(frames, [day])
        if not result.passed:
            failed.append(f"{plan.asset}:{plan.name}: {result.summary}")
    return failed


def find_incidents(lakehouse: Lakehouse, cfg: Settings, now: datetime) -> tuple[date, list[rules.Incident]]:
    """(newest expected day, every incident on it) from the lakehouse."""
    alerts = cfg.operations.alerts
    hour = deadline_hour(cfg)
    day = rules.newest_expected_day(now, hour, cfg.pipeline.schedule_timezone)
    if day < cfg.pipeline.start_date:
        return day, []
    found: list[rules.Incident] = []
    late = rules.late_newsletter(day, day in lakehouse.days_present("newsletters", day, day), hour, alerts.ui_url)
    if late:
        found.append(late)
    warn = rules.warning_checks(day, warning_failures(lakehouse, day), alerts.max_warning_checks, alerts.ui_url)
    if warn:
        found.append(warn)
    feeds = lakehouse.read_days("raw_feeds", day - timedelta(days=FEED_LOOKBACK_DAYS), day,
                                ["partition_date", "feed_name", "fetch_status"])
    found += rules.failing_feeds(feeds, day, alerts.feed_failure_days, alerts.ui_url)
    # the day's runs and the next day's (a publish run of day D runs on D+1 and writes day D)
    calls = lakehouse.read_days("llm_calls", day, day + timedelta(days=1),
                                ["partition_date", "run_id", "call_id", "cost_usd", "status"])
    found += rules.llm_budget(calls, cfg.llm.budget_usd_per_run, alerts.llm_budget_share, alerts.ui_url)
    return day, found


def build_incident_sensor(
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    interval_seconds: int | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dg.SensorDefinition:
    """The ``incident_alerts`` sensor; ``clock`` is the time it judges deadlines by."""
    if interval_seconds is None:
        interval_seconds = runtime_settings().operations.alerts.incident_interval_seconds

    @dg.sensor(
        name=INCIDENT_SENSOR_NAME,
        minimum_interval_seconds=interval_seconds,
        default_status=default_status,
        description="Alerts once per incident: newsletter late past its deadline (newest day only), "
        "WARN checks above operations.alerts.max_warning_checks, a feed failing "
        "operations.alerts.feed_failure_days days in a row, a run near its LLM budget.",
    )
    def _sensor(context: dg.SensorEvaluationContext, lakehouse: Lakehouse, notifier: Notifier) -> dg.SkipReason:
        now = clock()
        day, found = find_incidents(lakehouse, runtime_settings(), now)
        sent = rules.read_cursor(context.cursor)
        delivered, failed = [], []
        for incident in rules.unsent(found, sent):
            try:
                delivery = notifier.send(incident.subject, incident.body)
            except NotificationError as exc:  # not recorded: tried again on the next tick
                failed.append(f"{incident.key}: {exc}")
                context.log.error(f"alert {incident.key} not delivered: {exc}")
                continue
            sent[incident.key] = incident.day.isoformat()
            delivered.append(incident.key)
            context.log.info(f"alert {incident.key} sent via {delivery.channel} ({delivery.detail})")
        context.update_cursor(rules.write_cursor(sent, now.date()))
        summary = f"day {day}: {len(found)} incident(s), {len(delivered)} alert(s) sent"
        if failed:
            summary += f", {len(failed)} not delivered (retried next tick): " + "; ".join(failed)[:500]
        return dg.SkipReason(summary)

    return _sensor
