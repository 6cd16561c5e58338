"""Warehouse housekeeping (no Dagster): drop rows past their retention, refresh planner statistics.

Retention is per table by ``partition_date`` (``operations.maintenance.warehouse_retention_days``);
tables without that column are refused rather than guessed at. ``ANALYZE`` runs on every table of
the ``public`` schema (PostgreSQL), so the planner sees the week's growth.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from resources.warehouse_db import Warehouse, ident


def apply_retention(wh: Warehouse, retention_days: Mapping[str, int], today: date) -> dict[str, int]:
    """Delete rows older than each table's retention; returns rows deleted per table (a table
    that does not exist yet is skipped with 0)."""
    deleted: dict[str, int] = {}
    for table, days in sorted(retention_days.items()):
        columns = wh.columns(ident(table))
        if not columns:
            deleted[table] = 0
            continue
        if "partition_date" not in columns:
            raise ValueError(f"warehouse_retention_days.{table}: the table has no partition_date column")
        cutoff = today - timedelta(days=days)
        before = wh.scalar(f"SELECT count(*) FROM {ident(table)} WHERE partition_date < %s", [cutoff])
        if before:
            wh.execute(f"DELETE FROM {ident(table)} WHERE partition_date < %s", [cutoff])
        deleted[table] = int(before or 0)
    return deleted


def analyze(wh: Warehouse) -> list[str]:
    """``ANALYZE`` every table of the public schema; returns their names."""
    tables = [r["tablename"] for r in wh.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
    for table in tables:
        wh.execute(f'ANALYZE "{table}"')
    return tables


def maintain_warehouse(wh: Warehouse, retention_days: Mapping[str, int], run_analyze: bool,
                       today: date) -> dict[str, Any]:
    deleted = apply_retention(wh, retention_days, today)
    analyzed = analyze(wh) if run_analyze else []
    return {"rows_deleted": deleted, "tables_analyzed": len(analyzed)}
