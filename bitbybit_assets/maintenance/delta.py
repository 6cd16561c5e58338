"""Delta table housekeeping (no Dagster): find the tables, prune by age, compact, vacuum, measure.

Order per table: prune (an UPDATE/DELETE commit), compact (OPTIMIZE, optionally Z-order), then
VACUUM with the configured retention. Files a reader of an older snapshot may still need are never
deleted before ``vacuum_retention_hours`` have passed since they stopped being referenced, so time
travel reaches that far back; what the prune and the compaction replaced is freed by a later run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deltalake import DeltaTable

from bitbybit_base.settings import MaintenanceSettings

DELTA_LOG = "_delta_log"
DEFAULT_RETENTION_HOURS = 168  # Delta's delta.deletedFileRetentionDuration default (7 days)


@dataclass
class TableReport:
    """What maintenance did to one table (what the job reports as metadata)."""

    table: str
    files_before: int = 0
    bytes_before: int = 0
    files_after: int = 0
    bytes_after: int = 0
    rows_pruned: int = 0
    files_compacted: int = 0  # small files replaced by compaction
    files_written: int = 0  # files compaction wrote in their place
    files_vacuumed: int = 0  # unreferenced files deleted
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return max(0, self.bytes_before - self.bytes_after)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_freed": self.bytes_freed}


# ---------------------------------------------------------------- storage listing


def _s3_client(storage_options: Mapping[str, str]):
    import boto3

    return boto3.session.Session().client(
        "s3", region_name=storage_options.get("AWS_REGION"),
        endpoint_url=storage_options.get("AWS_ENDPOINT_URL") or None,
        aws_access_key_id=storage_options.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=storage_options.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=storage_options.get("AWS_SESSION_TOKEN"),
    )


def _s3_parts(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    prefix = parts.path.lstrip("/")
    return parts.netloc, (prefix.rstrip("/") + "/") if prefix else ""


def list_tables(root: str, storage_options: Mapping[str, str]) -> list[str]:
    """Names of the Delta tables directly under ``root`` (folders holding a ``_delta_log``)."""
    if root.startswith(("s3://", "s3a://")):
        bucket, prefix = _s3_parts(root)
        s3 = _s3_client(storage_options)
        names = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(prefix):].rstrip("/")
                if s3.list_objects_v2(Bucket=bucket, Prefix=f"{common['Prefix']}{DELTA_LOG}/", MaxKeys=1).get("KeyCount"):
                    names.append(name)
        return sorted(names)
    base = Path(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / DELTA_LOG).is_dir())


def storage_usage(table_uri: str, storage_options: Mapping[str, str]) -> tuple[int, int]:
    """(data files, bytes) stored under a table, referenced or not (the log is not counted)."""
    files = size = 0
    if table_uri.startswith(("s3://", "s3a://")):
        bucket, prefix = _s3_parts(table_uri)
        for page in _s3_client(storage_options).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if f"/{DELTA_LOG}/" not in "/" + obj["Key"][len(prefix):]:
                    files, size = files + 1, size + obj["Size"]
        return files, size
    for dirpath, dirnames, filenames in os.walk(table_uri):
        dirnames[:] = [d for d in dirnames if d != DELTA_LOG]
        for name in filenames:
            files, size = files + 1, size + os.path.getsize(os.path.join(dirpath, name))
    return files, size


# ---------------------------------------------------------------- the steps


def table_retention_hours(dt: DeltaTable) -> int:
    """The table's ``delta.deletedFileRetentionDuration`` in hours (default 168)."""
    value = (dt.metadata().configuration or {}).get("delta.deletedFileRetentionDuration", "")
    match = re.fullmatch(r"\s*interval\s+(\d+)\s+(hour|hours|day|days|week|weeks)\s*", value.lower())
    if not match:
        return DEFAULT_RETENTION_HOURS
    n, unit = int(match.group(1)), match.group(2)
    return n * {"hour": 1, "day": 24, "week": 168}[unit.rstrip("s")]


def vacuum(dt: DeltaTable, retention_hours: int) -> list[str]:
    """Delete files unreferenced for longer than ``retention_hours``. Delta refuses a retention
    below the table's own (168 h by default) unless told otherwise; it is told so only to apply the
    configured value, never anything shorter."""
    enforce = retention_hours >= table_retention_hours(dt)
    return dt.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=enforce)


def prune_predicates(table: str, cfg: MaintenanceSettings, today: date) -> tuple[str, str | None]:
    """(``update``|``delete``, SQL predicate) of what ages out of ``table``, or a None predicate."""
    def before(days: int | None) -> str | None:
        return None if days is None else f"partition_date < '{(today - timedelta(days=days)).isoformat()}'"

    if table == "raw_feeds" and cfg.raw_content_days:
        return "update", f"{before(cfg.raw_content_days)} AND content IS NOT NULL"
    if table == "llm_cache" and cfg.llm_cache_days:
        return "delete", before(cfg.llm_cache_days)
    if table == "article_embeddings" and cfg.embedding_cache_days:
        return "delete", before(cfg.embedding_cache_days)
    return "delete", None


def maintain_table(table: str, table_uri: str, storage_options: Mapping[str, str], cfg: MaintenanceSettings,
                   today: date) -> TableReport:
    """Prune, compact and vacuum one table; the report says what it freed."""
    report = TableReport(table)
    report.files_before, report.bytes_before = storage_usage(table_uri, storage_options)
    opts = dict(storage_options) or None
    dt = DeltaTable(table_uri, storage_options=opts)
    action, predicate = prune_predicates(table, cfg, today)
    if predicate:
        if action == "update":
            metrics = dt.update(updates={"content": "NULL"}, predicate=predicate)
            report.rows_pruned = int(metrics.get("num_updated_rows", 0))
        else:
            metrics = dt.delete(predicate=predicate)
            report.rows_pruned = int(metrics.get("num_deleted_rows", 0))
        dt = DeltaTable(table_uri, storage_options=opts)
    if cfg.compact:
        target = cfg.target_file_mb * 1024 * 1024
        columns = [c for c in cfg.z_order.get(table, []) if c in dt.schema().to_arrow().names]
        metrics = (dt.optimize.z_order(columns, target_size=target) if columns
                   else dt.optimize.compact(target_size=target))
        report.files_compacted = int(metrics.get("numFilesRemoved", 0))
        report.files_written = int(metrics.get("numFilesAdded", 0))
        if cfg.z_order.get(table) and not columns:
            report.notes.append(f"z_order columns {cfg.z_order[table]} not in the table: compacted only")
        dt = DeltaTable(table_uri, storage_options=opts)
    report.files_vacuumed = len(vacuum(dt, cfg.vacuum_retention_hours))
    report.files_after, report.bytes_after = storage_usage(table_uri, storage_options)
    return report


def maintain_lakehouse(root: str, storage_options: Mapping[str, str], cfg: MaintenanceSettings, today: date,
                       tables: Sequence[str] | None = None) -> list[TableReport]:
    """:func:`maintain_table` for every table under ``root`` (or ``tables``)."""
    names = list(tables) if tables is not None else list_tables(root, storage_options)
    return [maintain_table(name, f"{root.rstrip('/')}/{name}", storage_options, cfg, today) for name in names]
