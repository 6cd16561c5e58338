"""Run-failure alerts: every failed run of this code location (scheduled, chained, backfill or
launched by hand) is reported through the ``notifier`` resource (SNS, webhook, SMTP or the log).

The message names the job, the day(s), the failed steps with their errors, the failed checks (a
blocking quality gate fails the run) and links to the run when ``operations.alerts.ui_url`` is set.
"""

import dagster as dg

from bitbybit_base.settings import runtime_settings
from resources.notify import Notifier
from sensors.run_info import RunSummary, summarize_run

ALERT_SENSOR_NAME = "run_failure_alert"


def alert_message(summary: RunSummary, failure_message: str | None = None, ui_url: str | None = None) -> tuple[str, str]:
    """(subject, body) of the alert for a failed run."""
    subject = f"run failed: {summary.job_name} {summary.partition_label}"
    lines = [
        f"Job: {summary.job_name}",
        f"Partition: {summary.partition_label}",
        f"Run id: {summary.run_id}",
        f"Status: {summary.status}",
    ]
    if summary.started_at:
        lines.append(f"Started: {summary.started_at.isoformat(timespec='seconds')}")
    if summary.seconds is not None:
        lines.append(f"Duration: {summary.seconds:.0f}s")
    if ui_url:
        lines.append(f"Run: {ui_url.rstrip('/')}/runs/{summary.run_id}")
    if failure_message:
        lines += ["", failure_message.strip()]
    if summary.step_errors:
        lines += ["", "Failed steps:", *(f"- {e}" for e in summary.step_errors[:20])]
    if summary.failed_checks:
        lines += ["", "Failed checks:", *(f"- {c}" for c in summary.failed_checks[:20])]
    return subject, "\n".join(lines)


def build_alert_sensor(default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=ALERT_SENSOR_NAME,
        default_status=default_status,
        description="Sends an alert (operations.alerts / BITBYBIT_ALERT_CHANNEL) for every failed run.",
    )
    def _sensor(context: dg.RunFailureSensorContext, notifier: Notifier) -> None:
        summary = summarize_run(context.instance, context.dagster_run)
        try:
            ui_url = runtime_settings().operations.alerts.ui_url
        except Exception:  # never lose an alert over a config problem
            ui_url = None
        subject, body = alert_message(summary, context.failure_event.message, ui_url)
        delivery = notifier.send(subject, body)
        context.log.info(f"alert for run {summary.run_id} sent via {delivery.channel} "
                         f"({delivery.detail}, attempt {delivery.attempts})")

    return _sensor
