"""The record of every Dagster run the desk launched (``desk_run_launches``, migration 0005)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from resources.warehouse_db import Warehouse

KINDS = ("pipeline", "delivery")


@dataclass(frozen=True)
class Launch:
    run_id: str
    kind: str  # pipeline | delivery
    partition_date: date
    job_name: str
    via: str  # graphql | subprocess
    requested_by: str
    requested_at: datetime
    pid: int | None = None  # subprocess launches, in the launching process only (not stored)
    log_path: str | None = None
    error: str | None = None


def _launch(row: dict[str, Any]) -> Launch:
    fields = Launch.__dataclass_fields__
    return Launch(**{k: v for k, v in row.items() if k in fields})


class LaunchStore:
    def __init__(self, warehouse: Warehouse, *, now: Callable[[], datetime] | None = None) -> None:
        self.w = warehouse
        self._now = now or (lambda: datetime.now(UTC))

    def record(self, launch: Launch) -> None:
        self.w.execute(
            "INSERT INTO desk_run_launches (run_id, kind, partition_date, job_name, via, requested_by, "
            "requested_at, log_path, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [launch.run_id, launch.kind, launch.partition_date, launch.job_name, launch.via, launch.requested_by,
             launch.requested_at, launch.log_path, launch.error],
        )

    def set_error(self, run_id: str, error: str) -> None:
        self.w.execute("UPDATE desk_run_launches SET error = %s WHERE run_id = %s", [error[:2000], run_id])

    def get(self, run_id: str) -> Launch | None:
        rows = self.w.query("SELECT * FROM desk_run_launches WHERE run_id = %s", [run_id])
        return _launch(rows[0]) if rows else None

    def recent(self, limit: int = 20, *, day: date | None = None, kind: str | None = None) -> list[Launch]:
        sql, params = "SELECT * FROM desk_run_launches WHERE 1 = 1", []
        if day is not None:
            sql += " AND partition_date = %s"
            params.append(day)
        if kind is not None:
            sql += " AND kind = %s"
            params.append(kind)
        sql += f" ORDER BY requested_at DESC LIMIT {int(limit)}"
        return [_launch(r) for r in self.w.query(sql, params)]
