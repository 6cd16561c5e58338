"""Warehouse assets: ``warehouse_load`` (lakehouse -> warehouse tables), the dbt models, ``api_export``.

Where data goes is decided at run time by :func:`~bitbybit_assets.warehouse.config.dbt_target`:
``local`` loads the staging tables into the DuckDB file dbt builds on (and PostgreSQL too when a DSN
is configured), ``prod`` loads PostgreSQL only. Every day is replaced in one transaction; both
assets retry with exponential backoff (PostgreSQL down, a lock timeout) and a re-run leaves exactly
one copy of each day.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

from bitbybit_assets.output_files import write_text_atomic
from bitbybit_assets.partitions import DAILY, days_in_context
from bitbybit_assets.settings_overrides import settings_with_overrides
from bitbybit_assets.warehouse.config import dbt_target
from bitbybit_assets.warehouse.connect import open_warehouse
from bitbybit_assets.warehouse.dbt_assets import POOL, RETRY, build_dbt_assets, dbt_resource
from bitbybit_assets.warehouse.export import (
    build_analytics_payload,
    build_api_payload,
    dumps,
    export_paths,
    read_analytics,
    render_sql_inserts,
    validate_api_payload,
)
from bitbybit_assets.warehouse.loads import RunInfo, Thresholds, build_day_tables, load_days
from bitbybit_assets.warehouse.migrate import migrate
from bitbybit_assets.warehouse.tables import SEED_DAY_TABLES, STAGING_TABLES, TABLE_SOURCES, UPSTREAM_COLUMNS
from bitbybit_base.settings import Settings, WarehouseSettings, output_dir, runtime_settings
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource
from resources.settings import RunSettings, settings_resources

GROUP = "warehouse"
KEY_PREFIX = "warehouse"
DBT_MODELS = (
    "feed_statistics",
    "daily_pipeline_metrics",
    "topic_trends",
    "feed_yield_30d",
    "content_type_mix",
    "cost_per_newsletter",
)

_DESCRIPTIONS = {
    "stg_loads": "Which run loaded each day (staging for dbt).",
    "stg_feed_fetches": "Fetch outcome per feed per day (staging for dbt).",
    "stg_articles": "Every entry of the day with each funnel decision and score (staging for dbt).",
    "stg_llm_calls": "The LLM ledger (staging for dbt).",
    "stg_newsletters": "Newsletter metadata per day (staging for dbt).",
    "articles": "Seed table: the curated articles (PostgreSQL).",
    "newsletters": "Seed table: the generated newsletters (PostgreSQL).",
}


def warehouse_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, table])


def _spec(table: str) -> dg.AssetSpec:
    seed = table in SEED_DAY_TABLES
    return dg.AssetSpec(
        key=warehouse_key(table),
        deps=list(TABLE_SOURCES[table]),
        group_name=GROUP,
        description=_DESCRIPTIONS[table],
        kinds={"postgres"} if seed else {"postgres", "duckdb"},
        skippable=seed,  # skipped in local runs without PostgreSQL
    )


def read_upstream(lakehouse: Any, start: date, end: date, tables: tuple[str, ...] | None = None) -> dict:
    """The upstream Delta tables for ``start..end``, only the columns the warehouse uses."""
    names = tables or tuple(UPSTREAM_COLUMNS)
    return {t: lakehouse.read_days(t, start, end, list(UPSTREAM_COLUMNS[t])) for t in names}


def load_targets(postgres: PostgresResource, cfg: WarehouseSettings | None = None) -> list[str]:
    """``duckdb`` and/or ``postgres``: the analytics database dbt builds on, plus PostgreSQL in
    local runs when it is configured (``warehouse.load_postgres_when_local``)."""
    cfg = cfg or runtime_settings().warehouse
    if dbt_target(cfg) == "prod":
        return ["postgres"]
    targets = ["duckdb"]
    if cfg.load_postgres_when_local and postgres.is_configured():
        targets.append("postgres")
    return targets


def _job_name(context: dg.AssetExecutionContext) -> str | None:
    try:
        return context.job_name
    except Exception:  # direct invocation has no job
        return None


def _run_started_at(context: dg.AssetExecutionContext) -> datetime | None:
    try:
        stats = context.instance.get_run_stats(context.run_id)
    except Exception:  # run storage without stats: processing time stays unknown
        return None
    return datetime.fromtimestamp(stats.start_time, UTC) if stats and stats.start_time else None


@dg.multi_asset(
    name="warehouse_load",
    specs=[_spec(t) for t in (*STAGING_TABLES, *SEED_DAY_TABLES)],
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=RETRY,
    pool=POOL,
    can_subset=False,
)
def warehouse_load(
    context: dg.AssetExecutionContext, lakehouse: Lakehouse, postgres: PostgresResource, settings: RunSettings
) -> Iterator[dg.MaterializeResult]:
    """Replace the run's days in the warehouse staging tables (and the seed tables in PostgreSQL)."""
    days = days_in_context(context)
    frames = read_upstream(lakehouse, days[0], days[-1])
    run = RunInfo(
        dagster_run_id=context.run_id,
        started_at=_run_started_at(context),
        job_name=_job_name(context),
        days_in_run=len(days),
    )
    curation = settings_with_overrides(postgres=postgres, base=settings).curation  # with the desk's settings
    thresholds = Thresholds(min_quality=curation.min_quality, min_relevance=curation.min_relevance)
    targets = load_targets(postgres, settings.warehouse)
    rows: dict[str, dict[str, int]] = {}
    for target in targets:
        with open_warehouse(target, postgres) as w:
            applied = migrate(w)
            if applied:
                context.log.info(f"{target}: applied migrations {applied}")
            per_day = load_days(w, frames, days, run=run, thresholds=thresholds)
        for counts in per_day.values():
            for table, n in counts.items():
                rows.setdefault(table, {}).setdefault(target, 0)
                rows[table][target] += n
    for table in (*STAGING_TABLES, *SEED_DAY_TABLES):
        if table not in rows:
            continue  # seed tables without PostgreSQL
        per_target = rows[table]
        yield dg.MaterializeResult(
            asset_key=warehouse_key(table),
            metadata={
                "dagster/row_count": max(per_target.values()),
                "rows_by_target": per_target,
                "days": [d.isoformat() for d in days],
                "pipeline_run_id": run.pipeline_run_id,
            },
        )


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=RETRY,
    pool=POOL,
    deps=[
        *(warehouse_key(m) for m in DBT_MODELS),
        "filtered_articles",
        "scored_articles",
        "enhanced_articles",
        "newsletters",
    ],
    kinds={"json", "sql"},
    description="output/api/DATE.json (newsletter + articles, JSON Schema checked), "
    "output/database/DATE.sql (seed-table inserts) and output/api/analytics_DATE.json.",
)
def api_export(
    context: dg.AssetExecutionContext, lakehouse: Lakehouse, postgres: PostgresResource, settings: RunSettings
) -> dg.MaterializeResult:
    days = days_in_context(context)
    frames = read_upstream(
        lakehouse,
        days[0],
        days[-1],
        ("filtered_articles", "scored_articles", "enhanced_articles", "newsletters"),
    )
    out_dir = output_dir()
    top_n = settings.warehouse.analytics_top_n
    files: list[str] = []
    articles = 0
    target = "postgres" if dbt_target(settings.warehouse) == "prod" else "duckdb"
    with open_warehouse(target, postgres) as w:
        for day in days:
            loads = w.query("SELECT * FROM stg_loads WHERE partition_date = %s", [day])
            load = loads[0] if loads else {}
            run = (
                RunInfo(dagster_run_id=load["dagster_run_id"], started_at=load["run_started_at"])
                if load.get("dagster_run_id")
                else None
            )
            tables = build_day_tables(frames, day, run=run)
            payload = build_api_payload(day, tables["articles"], tables["newsletters"])
            validate_api_payload(payload)
            models = read_analytics(w, day, top_n=top_n)
            runs = (
                [{"id": run.pipeline_run_id, "dagster_run_id": run.dagster_run_id,
                  "started_at": run.started_at or load["loaded_at"], "status": "running"}]
                if run else []
            )  # fmt: skip
            sql = render_sql_inserts(
                day,
                {"articles": tables["articles"], "newsletters": tables["newsletters"],
                 "feed_statistics": models["feed_statistics"]},
                pipeline_runs=runs,
            )  # fmt: skip
            paths = export_paths(out_dir, day)
            write_text_atomic(paths["api"], dumps(payload))
            write_text_atomic(paths["analytics"], dumps(build_analytics_payload(day, models)))
            write_text_atomic(paths["sql"], sql)
            files.extend(str(p) for p in paths.values())
            articles += len(payload["articles"])
    return dg.MaterializeResult(
        metadata={
            "files": files,
            "articles": articles,
            "days": [d.isoformat() for d in days],
            "output_dir": dg.MetadataValue.path(str(out_dir)),
        }
    )


def warehouse_assets() -> list[dg.AssetsDefinition]:
    """``warehouse_load``, the dbt models and ``api_export`` (builds the dbt manifest if needed)."""
    return [warehouse_load, build_dbt_assets(), api_export]


def warehouse_resources(cfg: Settings | None = None) -> dict[str, Any]:
    """Resource keys these assets need besides ``lakehouse``: ``postgres``, ``dbt`` and ``settings``
    (``cfg``, default: the settings file)."""
    return {"postgres": PostgresResource(), "dbt": dbt_resource(), **settings_resources(cfg or runtime_settings())}
