"""What a finished run did, read from the Dagster instance: its days, times, materialisations,
failed steps and failed checks. Shared by the run-tracking, alert and chaining sensors."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

from bitbybit_base.days import days_between

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
COMPUTE_TAG = "bitbybit/compute"  # cpu | gpu: what the run launcher ran the run on (jobs.py)


@dataclass
class RunSummary:
    run_id: str
    job_name: str
    status: str  # Dagster status name: SUCCESS | FAILURE | CANCELED ...
    partition_key: str | None = None
    partition_start: str | None = None
    partition_end: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    compute: str | None = None  # the run's COMPUTE_TAG
    # asset key string -> {"row_count": int | None, "partitions": [...], "metadata": {...}}
    materializations: dict[str, dict[str, Any]] = field(default_factory=dict)
    step_errors: list[str] = field(default_factory=list)  # "step: message"
    failed_checks: list[str] = field(default_factory=list)  # "asset:check: description"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.completed_at:
            return max(0.0, (self.completed_at - self.started_at).total_seconds())
        return None

    @property
    def partition_label(self) -> str:
        if self.partition_key:
            return self.partition_key
        if self.partition_start:
            return f"{self.partition_start}..{self.partition_end}"
        return "-"

    def days(self) -> list[date]:
        if not self.partition_start:
            return []
        first, last = date.fromisoformat(self.partition_start), date.fromisoformat(self.partition_end or self.partition_start)
        return days_between(first, last)

    def row_count(self, asset: str) -> int | None:
        return (self.materializations.get(asset) or {}).get("row_count")

    def error_message(self, max_chars: int = 2000) -> str | None:
        parts = [*self.step_errors, *(f"check failed: {c}" for c in self.failed_checks)]
        if not parts:
            return None
        text = "\n".join(parts)
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def run_partitions(tags: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    """(partition_key, first day, last day) of a run from its tags (one day or a range)."""
    key = tags.get(PARTITION_TAG)
    if key:
        return key, key, key
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start and end:
        return None, start, end
    return None, None, None


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _metadata_value(v: Any) -> Any:
    value = getattr(v, "value", v)
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def summarize_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunSummary:
    """Everything the sensors report about ``run``."""
    key, start, end = run_partitions(dict(run.tags))
    record = instance.get_run_record_by_id(run.run_id)
    started = _ts(record.start_time) if record else None
    completed = _ts(record.end_time) if record else None
    if record and started is None:
        started = record.create_timestamp
    summary = RunSummary(
        run_id=run.run_id, job_name=run.job_name, status=run.status.value, partition_key=key,
        partition_start=start, partition_end=end, started_at=started, completed_at=completed,
        compute=run.tags.get(COMPUTE_TAG),
    )
    for rec in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
                                            limit=10_000).records:
        mat = rec.event_log_entry.asset_materialization
        if mat is None:
            continue
        entry = summary.materializations.setdefault(
            mat.asset_key.to_user_string(), {"row_count": None, "partitions": [], "metadata": {}}
        )
        if mat.partition:
            entry["partitions"].append(mat.partition)
        rows = mat.metadata.get("dagster/row_count")
        if rows is not None and entry["row_count"] is None:
            # a single-run backfill writes the range once; the count is repeated per partition
            entry["row_count"] = int(_metadata_value(rows))
        entry["metadata"].update({k: _metadata_value(v) for k, v in mat.metadata.items()})
    for rec in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE,
                                            limit=1000).records:
        ev = rec.event_log_entry.dagster_event
        err = ev.step_failure_data.error if ev and ev.step_failure_data else None
        if err is not None:
            # the user's exception (the cause) says more than Dagster's wrapper around it
            root = err.cause if err.cause is not None and err.cause.message else err
            first = (root.message or "").strip().splitlines()
            summary.step_errors.append(f"{ev.step_key}: {first[0] if first else root.cls_name}")
    for rec in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                                            limit=1000).records:
        ev = rec.event_log_entry.dagster_event
        data = ev.event_specific_data if ev else None
        if data is not None and not data.passed:
            summary.failed_checks.append(
                f"{data.asset_key.to_user_string()}:{data.check_name} ({data.severity.value}): {data.description or ''}"
            )
    return summary
