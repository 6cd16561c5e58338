"""Run tracking: every finished run (success, failure, cancel) of this code location becomes a row
of the warehouse's ``pipeline_runs`` table, and a successful run that built newsletters adds a
metrics observation to the ``newsletters`` asset (plotted per day in the UI).

The row (written by ``bitbybit_assets.warehouse.pipeline_runs.record_pipeline_run``, an upsert keyed by the
Dagster run id) holds the start and end times, the status, the processing seconds, the input
articles (``dagster/row_count`` of ``filtered_articles``) and the picks (``enhanced_articles``)
materialised by the run, the lakehouse root and the error message of a failed run. Without a
PostgreSQL DSN (``BITBYBIT_POSTGRES_DSN`` / ``POSTGRES_HOST``) the row is skipped with a log line.
Runs that only evaluate checks (the freshness sensor's) are not tracked. Every tracked run's
metrics (``sensors.run_metrics``: seconds, compute cost, GPU hours, articles per stage, LLM cost,
emails sent) then go to CloudWatch through the ``metrics`` resource (a no-op unless enabled).
"""

from collections.abc import Callable
from datetime import date
from typing import Any

import dagster as dg
import polars as pl

from bitbybit_assets.warehouse.pipeline_runs import record_pipeline_run
from bitbybit_base.settings import runtime_settings
from resources.lakehouse import Lakehouse
from resources.metrics import CloudWatchMetrics
from resources.postgres import PostgresResource
from sensors.run_info import RunSummary, summarize_run
from sensors.run_metrics import run_metric_data

INPUT_ASSET = "filtered_articles"
OUTPUT_ASSET = "enhanced_articles"
METRICS_ASSET = "newsletters"
TRACKED_STATUSES = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def run_record(summary: RunSummary, lakehouse_path: str | None) -> dict[str, Any]:
    """The ``record_pipeline_run`` argument for a finished run (only the fields known)."""
    rec: dict[str, Any] = {
        "run_id": summary.run_id,
        "status": summary.status,
        "job_name": summary.job_name,
        "started_at": summary.started_at,
        "completed_at": summary.completed_at,
        "processing_time_seconds": round(summary.seconds) if summary.seconds is not None else None,
        "total_articles_input": summary.row_count(INPUT_ASSET),
        "articles_output": summary.row_count(OUTPUT_ASSET),
        "s3_output_path": lakehouse_path,
        "partition_key": summary.partition_key,
        "partition_start": date.fromisoformat(summary.partition_start) if summary.partition_start else None,
        "partition_end": date.fromisoformat(summary.partition_end) if summary.partition_end else None,
        "error_message": summary.error_message() if summary.status != "SUCCESS" else None,
        "compute": summary.compute,
    }
    if summary.status == "CANCELED" and not rec["error_message"]:
        rec["error_message"] = "run canceled"
    return {k: v for k, v in rec.items() if v is not None}


def day_metrics(summary: RunSummary, newsletters: pl.DataFrame, inputs: pl.DataFrame) -> dict[date, dict[str, float]]:
    """Per day of a run that built newsletters: execution seconds, input articles, articles in the
    newsletter, their ratio (article success rate) and the LLM cost of the newsletter."""
    out: dict[date, dict[str, float]] = {}
    counts = dict(inputs.group_by("partition_date").len().iter_rows()) if "partition_date" in inputs.columns else {}
    for day in summary.days():
        letter = newsletters.filter(pl.col("partition_date") == day) if "partition_date" in newsletters.columns else newsletters.head(0)
        if letter.is_empty():
            continue
        row = letter.row(0, named=True)
        n_in = int(counts.get(day, 0))
        n_out = int(row.get("article_count") or 0)
        metrics: dict[str, float] = {"articles_input": n_in, "articles_output": n_out,
                                     "article_success_rate": round(n_out / n_in, 4) if n_in else 0.0}
        if summary.seconds is not None:
            metrics["pipeline_execution_seconds"] = round(summary.seconds, 1)
        if row.get("llm_cost_usd") is not None:
            metrics["llm_cost_usd"] = float(row["llm_cost_usd"])
        out[day] = metrics
    return out


def _metrics_events(context: dg.RunStatusSensorContext, summary: RunSummary, lakehouse: Lakehouse) -> list[dg.AssetObservation]:
    if summary.status != "SUCCESS" or METRICS_ASSET not in summary.materializations or not summary.days():
        return []
    days = summary.days()
    try:
        letters = lakehouse.read_days(METRICS_ASSET, days[0], days[-1], ["partition_date", "article_count", "llm_cost_usd"])
        inputs = lakehouse.read_days(INPUT_ASSET, days[0], days[-1], ["partition_date"])
    except Exception as exc:  # metrics are a nicety: never fail the tick for them
        context.log.warning(f"run metrics for {summary.run_id} unavailable: {exc}")
        return []
    return [
        dg.AssetObservation(
            asset_key=METRICS_ASSET, partition=day.isoformat(),
            metadata={**metrics, "run_id": summary.run_id, "job": summary.job_name},
        )
        for day, metrics in day_metrics(summary, letters, inputs).items()
    ]


def is_check_only(run: dg.DagsterRun) -> bool:
    """A run that only evaluates asset checks (e.g. the freshness sensor's runs): not tracked."""
    return run.asset_selection is not None and not run.asset_selection and bool(run.asset_check_selection)


def _recorder() -> Callable[[Any, dict[str, Any]], str]:
    return record_pipeline_run


def _publish_metrics(context: dg.RunStatusSensorContext, summary: RunSummary, metrics: CloudWatchMetrics) -> None:
    if not metrics.enabled:
        return
    try:
        sent = metrics.publish(run_metric_data(summary, runtime_settings().cost))
        context.log.info(f"{sent} CloudWatch metric data for run {summary.run_id}")
    except Exception as exc:  # CloudWatch being unreachable must not stop tracking the next runs
        context.log.error(f"could not publish metrics of run {summary.run_id}: {type(exc).__name__}: {exc}")


def track_run(context: dg.RunStatusSensorContext, postgres: PostgresResource, lakehouse: Lakehouse,
              metrics: CloudWatchMetrics) -> dg.SensorResult | None:
    cfg = runtime_settings().operations.run_tracking
    if not cfg.enabled or is_check_only(context.dagster_run):
        return None
    summary = summarize_run(context.instance, context.dagster_run)
    if postgres.is_configured():
        record = run_record(summary, lakehouse.root_uri())
        try:
            with postgres.connect() as conn:
                row_id = _recorder()(conn, record)
            context.log.info(f"pipeline_runs row {row_id} for run {summary.run_id} ({summary.status})")
        except Exception as exc:  # the warehouse being down must not stop tracking the next runs
            context.log.error(f"could not record run {summary.run_id} in pipeline_runs: {type(exc).__name__}: {exc}")
    else:
        context.log.info(f"no warehouse DSN configured (BITBYBIT_POSTGRES_DSN / POSTGRES_HOST): "
                         f"run {summary.run_id} not recorded in pipeline_runs")
    _publish_metrics(context, summary, metrics)
    events = _metrics_events(context, summary, lakehouse) if cfg.emit_metrics else []
    return dg.SensorResult(asset_events=events) if events else None


def build_run_tracking_sensors(default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED) -> list[dg.SensorDefinition]:
    """One run-status sensor per final status (success, failure, canceled)."""
    sensors = []
    for status in TRACKED_STATUSES:
        @dg.run_status_sensor(
            name=f"pipeline_runs_{status.value.lower()}",
            run_status=status,
            default_status=default_status,
            description=f"Records every {status.value} run in the warehouse's pipeline_runs table "
                        "and publishes its CloudWatch metrics (when enabled).",
        )
        def _sensor(context: dg.RunStatusSensorContext, postgres: PostgresResource, lakehouse: Lakehouse,
                    metrics: CloudWatchMetrics):
            return track_run(context, postgres, lakehouse, metrics)

        sensors.append(_sensor)
    return sensors
