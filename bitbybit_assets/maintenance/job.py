"""The weekly ``maintenance`` job (two ops) and its schedule: thin wiring over :mod:`.delta` and
:mod:`.warehouse`. What each op freed is its output metadata (per table: files and bytes before
and after, rows pruned, files compacted and vacuumed), visible on the run in the Dagster UI."""

from datetime import UTC, datetime

import dagster as dg

from bitbybit_assets.maintenance.delta import maintain_lakehouse
from bitbybit_assets.maintenance.warehouse import maintain_warehouse
from bitbybit_base.settings import Settings
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource
from resources.settings import RunSettings

MAINTENANCE_JOB_NAME = "maintenance"


def _markdown(rows: list[dict]) -> str:
    head = "| table | files before → after | MB freed | rows pruned | compacted → written | vacuumed |"
    lines = [head, "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['table']} | {r['files_before']} → {r['files_after']} | {r['bytes_freed'] / 1e6:.2f} "
                     f"| {r['rows_pruned']} | {r['files_compacted']} → {r['files_written']} | {r['files_vacuumed']} |")
    return "\n".join(lines)


@dg.op(description="Prune aged raw bytes and caches, compact (OPTIMIZE / Z-order) and vacuum every Delta table.")
def maintain_delta_tables(context: dg.OpExecutionContext, lakehouse: Lakehouse, settings: RunSettings) -> dict:
    cfg = settings.operations.maintenance
    today = datetime.now(UTC).date()
    reports = [r.as_dict() for r in maintain_lakehouse(lakehouse.root_uri(), lakehouse.storage_options(), cfg, today)]
    total = {k: sum(r[k] for r in reports) for k in ("files_vacuumed", "files_compacted", "bytes_freed", "rows_pruned")}
    context.add_output_metadata({
        "tables": len(reports), **total, "retention_hours": cfg.vacuum_retention_hours,
        "report": dg.MetadataValue.md(_markdown(reports)),
    })
    for r in reports:
        for note in r["notes"]:
            context.log.warning(f"{r['table']}: {note}")
    return {"tables": reports, **total}


@dg.op(description="Delete warehouse rows past operations.maintenance.warehouse_retention_days, then ANALYZE.")
def maintain_postgres(context: dg.OpExecutionContext, postgres: PostgresResource, settings: RunSettings) -> dict:
    cfg = settings.operations.maintenance
    if not postgres.is_configured():
        context.log.info("no PostgreSQL configured: warehouse maintenance skipped")
        return {"skipped": True}
    with postgres.warehouse() as wh:
        result = maintain_warehouse(wh, cfg.warehouse_retention_days, cfg.analyze, datetime.now(UTC).date())
    context.add_output_metadata({"rows_deleted": dg.MetadataValue.json(result["rows_deleted"]),
                                 "tables_analyzed": result["tables_analyzed"]})
    return result


@dg.job(name=MAINTENANCE_JOB_NAME, tags={"bitbybit/compute": "cpu", "bitbybit/concurrency": "maintenance"},
        description="Weekly: compact and vacuum the lakehouse, prune raw bytes and caches, warehouse "
        "retention and ANALYZE (operations.maintenance).")
def maintenance_job() -> None:
    maintain_delta_tables()
    maintain_postgres()


def maintenance_schedule(cfg: Settings) -> dg.ScheduleDefinition:
    """``operations.maintenance.schedule_cron`` in ``pipeline.schedule_timezone``; RUNNING when
    ``operations.start_running``."""
    running = cfg.operations.start_running
    return dg.ScheduleDefinition(
        name="weekly_maintenance", job=maintenance_job, cron_schedule=cfg.operations.maintenance.schedule_cron,
        execution_timezone=cfg.pipeline.schedule_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
    )
