"""The ``pipeline_runs`` table: one row per Dagster run, keyed by its run id (upserts).

Written by the warehouse load (a ``running`` row for the run loading a day) and by the run-status
sensor (:mod:`sensors.run_tracking`: completed / failed, counts, times). A pipeline run's UUID is
the Dagster run id (a UUID), so re-loads and the SQL export agree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from resources.warehouse_db import as_warehouse

RUN_STATUSES = ("running", "completed", "failed")
_DAGSTER_STATUS = {
    "QUEUED": "running",
    "NOT_STARTED": "running",
    "STARTING": "running",
    "STARTED": "running",
    "MANAGED": "running",
    "CANCELING": "running",
    "SUCCESS": "completed",
    "FAILURE": "failed",
    "CANCELED": "failed",
}
RUN_NAMESPACE = uuid.UUID("1f0d3c52-6a7e-4b8e-9a43-6b6974627974")


@dataclass(frozen=True)
class RunInfo:
    """The Dagster run doing the load."""

    dagster_run_id: str
    started_at: datetime | None = None
    job_name: str | None = None
    days_in_run: int = 1

    @property
    def pipeline_run_id(self) -> str:
        return run_uuid(self.dagster_run_id)


def run_uuid(dagster_run_id: str) -> str:
    """``pipeline_runs.id`` for a Dagster run: its run id when that is a UUID, else a UUID5 of it."""
    try:
        return str(uuid.UUID(dagster_run_id))
    except ValueError:
        return str(uuid.uuid5(RUN_NAMESPACE, dagster_run_id))


def ensure_pipeline_run(conn: Any, run: RunInfo) -> str:
    """Insert a ``running`` ``pipeline_runs`` row for ``run`` unless one exists; return its id."""
    w = as_warehouse(conn)
    w.execute(
        "INSERT INTO pipeline_runs (id, dagster_run_id, job_name, started_at, status) "
        "VALUES (%s::uuid, %s, %s, COALESCE(%s::timestamptz, now()), 'running') "
        "ON CONFLICT (dagster_run_id) DO NOTHING",
        [run.pipeline_run_id, run.dagster_run_id, run.job_name, run.started_at],
    )
    return run.pipeline_run_id


_RUN_FIELDS = {
    "started_at": "timestamptz",
    "completed_at": "timestamptz",
    "status": "text",
    "total_articles_input": "integer",
    "articles_output": "integer",
    "processing_time_seconds": "integer",
    "s3_output_path": "text",
    "error_message": "text",
    "job_name": "text",
    "partition_key": "text",
    "partition_start": "date",
    "partition_end": "date",
    "compute": "text",  # the run's bitbybit/compute tag (cpu | gpu), migration 0009
}
_RUN_ALIASES = {"output_path": "s3_output_path", "lakehouse_path": "s3_output_path", "error": "error_message"}


def _as_datetime(value: Any) -> Any:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return value


def normalize_run_status(status: str) -> str:
    """``running`` / ``completed`` / ``failed`` from ours or a Dagster ``DagsterRunStatus`` name."""
    s = str(getattr(status, "value", status)).strip()
    if s.lower() in RUN_STATUSES:
        return s.lower()
    if s.upper() in _DAGSTER_STATUS:
        return _DAGSTER_STATUS[s.upper()]
    raise ValueError(f"unknown run status {status!r}")


def record_pipeline_run(conn: Any, run_record: dict[str, Any]) -> str:
    """Upsert one ``pipeline_runs`` row keyed by the Dagster run id; return its UUID.

    ``run_record`` needs ``run_id`` (Dagster) and ``status`` (ours or a Dagster status name); optional:
    ``started_at`` / ``completed_at`` (datetime or epoch seconds), ``total_articles_input``,
    ``articles_output``, ``processing_time_seconds`` (derived from the two times when absent),
    ``s3_output_path`` (alias ``output_path``), ``error_message`` (alias ``error``), ``job_name``,
    ``partition_key``, ``partition_start``, ``partition_end``, ``compute`` (``cpu`` / ``gpu``). Only the given fields are updated on
    conflict; a finished run is never set back to ``running``. Commits its own transaction unless
    called inside :meth:`Warehouse.transaction`.
    """
    w = as_warehouse(conn)
    rec = {_RUN_ALIASES.get(k, k): v for k, v in run_record.items()}
    run_id = rec.pop("run_id", None)
    if not run_id:
        raise ValueError("run_record needs 'run_id' (the Dagster run id)")
    if "status" not in rec:
        raise ValueError("run_record needs 'status'")
    rec["status"] = normalize_run_status(rec["status"])
    for key in ("started_at", "completed_at"):
        if key in rec:
            rec[key] = _as_datetime(rec[key])
    if rec.get("processing_time_seconds") is None and rec.get("started_at") and rec.get("completed_at"):
        rec["processing_time_seconds"] = round((rec["completed_at"] - rec["started_at"]).total_seconds())
    unknown = set(rec) - set(_RUN_FIELDS)
    if unknown:
        raise ValueError(f"unknown pipeline run fields: {sorted(unknown)}")
    fields = [f for f in _RUN_FIELDS if f in rec]
    insert_cols = ["id", "dagster_run_id", *fields]
    values = [run_uuid(run_id), run_id, *(rec[f] for f in fields)]
    placeholders = ["%s::uuid", "%s", *(f"%s::{_RUN_FIELDS[f]}" for f in fields)]
    if "started_at" not in rec:
        insert_cols.append("started_at")
        placeholders.append("now()")
    updates = []
    for f in fields:
        if f == "status":
            updates.append(
                "status = CASE WHEN pipeline_runs.status IN ('completed', 'failed') "
                "AND EXCLUDED.status = 'running' THEN pipeline_runs.status ELSE EXCLUDED.status END"
            )
        else:
            updates.append(f"{f} = EXCLUDED.{f}")
    if "completed_at" in rec and "processing_time_seconds" not in rec:
        updates.append(
            "processing_time_seconds = round(extract(epoch from "
            "(EXCLUDED.completed_at - LEAST(pipeline_runs.started_at, EXCLUDED.started_at))))"
        )
    updates.append("updated_at = now()")
    sql = (
        f"INSERT INTO pipeline_runs ({', '.join(insert_cols)}) VALUES ({', '.join(placeholders)}) "
        f"ON CONFLICT (dagster_run_id) DO UPDATE SET {', '.join(updates)}"
    )
    if w.in_transaction:
        w.execute(sql, values)
    else:
        with w.transaction():
            w.execute(sql, values)
    return run_uuid(run_id)


def article_counts(conn: Any, start: date, end: date) -> dict[str, int]:
    """Input entries and newsletter articles loaded for ``start..end`` (for ``pipeline_runs``)."""
    w = as_warehouse(conn)
    return {
        "total_articles_input": int(
            w.scalar("SELECT count(*) FROM stg_articles WHERE partition_date BETWEEN %s AND %s", [start, end])
        ),
        "articles_output": int(
            w.scalar("SELECT count(*) FROM articles WHERE partition_date BETWEEN %s AND %s", [start, end])
        ),
    }
