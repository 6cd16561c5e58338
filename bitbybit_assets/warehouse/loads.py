"""Lakehouse frames -> warehouse tables, one day at a time (pure builders + transactional loads).

:func:`build_day_tables` turns the day's Delta frames into the staging tables dbt reads
(``stg_loads``, ``stg_feed_fetches``, ``stg_articles``, ``stg_llm_calls``, ``stg_newsletters``) and the
seed's ``articles`` / ``newsletters`` rows. :func:`load_day` replaces that day in one transaction:
delete the day's rows, insert the new ones; any failure rolls back to the previous copy.
The seed tables exist in PostgreSQL only; the local DuckDB warehouse gets the staging tables.

Ids: an article's UUID is its ``entry_key`` (32 hex chars) read as a UUID; a newsletter's is its
``newsletter_id``; a pipeline run's is the Dagster run id (a UUID) — all deterministic, so re-loads
and the SQL export agree.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from bitbybit_assets import schemas
from bitbybit_assets.schemas import UTC_TS
from bitbybit_assets.warehouse.db import as_warehouse, ident

log = logging.getLogger(__name__)

STAGING_TABLES = ("stg_loads", "stg_feed_fetches", "stg_articles", "stg_llm_calls", "stg_newsletters")
SEED_DAY_TABLES = ("articles", "newsletters")
LOAD_ORDER = STAGING_TABLES + SEED_DAY_TABLES
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
_RUN_NAMESPACE = uuid.UUID("1f0d3c52-6a7e-4b8e-9a43-6b6974627974")

_STR_LIST = pl.List(pl.String)
_ALSO_COVERED = schemas.SCORED_ARTICLES["also_covered_by"]


def _project(schema: dict, columns: list[str]) -> dict:
    """The columns the warehouse reads from an upstream table, typed by its contract in schemas.py."""
    return {c: schema[c] for c in columns}


RAW_FEEDS_COLS = _project(
    schemas.RAW_FEEDS,
    [
        "partition_date",
        "feed_name",
        "feed_url",
        "source",
        "fetch_status",
        "http_status",
        "error",
        "size_bytes",
        "elapsed_ms",
        "entry_count",
        "fetched_at",
    ],
)
FILTERED_COLS = _project(
    schemas.FILTERED_ARTICLES,
    [
        "partition_date",
        "entry_key",
        "article_id",
        "feed_name",
        "title",
        "url",
        "domain",
        "published_at",
        "word_count",
        "language",
        "clean_text",
        "passed_filter",
        "filter_reason",
        "duplicate_of",
    ],
)
SCORED_COLS = _project(
    schemas.SCORED_ARTICLES,
    [
        "partition_date",
        "entry_key",
        "is_advertisement",
        "ad_score",
        "ad_reason",
        "quality_score",
        "tech_relevance_score",
        "content_type",
        "topics",
        "cluster_id",
        "cluster_size",
        "is_canonical",
        "canonical_entry_key",
        "previously_sent",
        "final_score",
        "rank",
        "selected",
        "selection_reason",
    ],
)
ENHANCED_COLS = _project(
    schemas.ENHANCED_ARTICLES,
    [
        "partition_date",
        "entry_key",
        "article_id",
        "rank",
        "feed_name",
        "title",
        "url",
        "domain",
        "published_at",
        "content_type",
        "topics",
        "quality_score",
        "tech_relevance_score",
        "cluster_id",
        "also_covered_by",
        "image_url",
        "summary",
        "summary_source",
        "tags",
        "preview",
        "reading_time_minutes",
        "word_count",
        "llm_model",
    ],
)
NEWSLETTER_COLS = _project(
    schemas.NEWSLETTERS,
    [
        "partition_date",
        "newsletter_id",
        "subject_line",
        "subject_candidates",
        "preheader",
        "intro",
        "sections_json",
        "html",
        "text",
        "article_ids",
        "article_count",
        "html_bytes",
        "generated_at",
        "llm_cost_usd",
        "copy_source",
    ],
)
LLM_CALLS_COLS = _project(
    schemas.LLM_CALLS,
    [
        "partition_date",
        "call_id",
        "run_id",
        "purpose",
        "model",
        "prompt_version",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "cost_usd",
        "status",
        "error",
        "cache_hit",
        "attempt",
        "item_count",
        "called_at",
    ],
)
UPSTREAM_COLUMNS = {
    "raw_feeds": RAW_FEEDS_COLS,
    "filtered_articles": FILTERED_COLS,
    "scored_articles": SCORED_COLS,
    "enhanced_articles": ENHANCED_COLS,
    "newsletters": NEWSLETTER_COLS,
    "llm_calls": LLM_CALLS_COLS,
}

# SQL types of the seed-table columns the loader and the SQL export write (checked against the
# migrated database by the tests).
SEED_COLUMN_TYPES: dict[str, dict[str, str]] = {
    "pipeline_runs": {
        "id": "uuid",
        "dagster_run_id": "text",
        "job_name": "text",
        "started_at": "timestamp with time zone",
        "status": "character varying(20)",
    },
    "articles": {
        "id": "uuid",
        "pipeline_run_id": "uuid",
        "title": "text",
        "content": "text",
        "summary": "text",
        "url": "text",
        "feed_name": "text",
        "published_date": "timestamp with time zone",
        "quality_score": "numeric(4,2)",
        "content_type": "character varying(50)",
        "tech_relevance_score": "numeric(4,2)",
        "is_advertisement": "boolean",
        "partition_date": "date",
        "entry_key": "text",
        "article_id": "text",
        "newsletter_rank": "integer",
        "domain": "text",
        "image_url": "text",
        "preview": "text",
        "tags": "text[]",
        "topics": "text[]",
        "reading_time_minutes": "integer",
        "word_count": "integer",
        "summary_source": "text",
        "llm_model": "text",
        "cluster_id": "text",
        "also_covered_by": "jsonb",
    },
    "newsletters": {
        "id": "uuid",
        "pipeline_run_id": "uuid",
        "subject_line": "text",
        "html_content": "text",
        "text_content": "text",
        "article_ids": "uuid[]",
        "generated_at": "timestamp with time zone",
        "partition_date": "date",
        "preheader": "text",
        "subject_candidates": "text[]",
        "intro": "text",
        "sections_json": "jsonb",
        "article_count": "integer",
        "html_bytes": "bigint",
        "llm_cost_usd": "numeric(12,6)",
        "copy_source": "text",
    },
    "feed_statistics": {
        "id": "uuid",
        "pipeline_run_id": "uuid",
        "feed_name": "text",
        "feed_url": "text",
        "total_articles": "integer",
        "passed_content_filter": "integer",
        "passed_ad_detection": "integer",
        "passed_quality_scoring": "integer",
        "final_articles": "integer",
        "processing_time_seconds": "numeric(8,2)",
        "created_at": "timestamp with time zone",
        "partition_date": "date",
        "fetch_status": "text",
        "fetch_errors": "integer",
        "duplicates": "integer",
        "duplicate_rate": "numeric(5,4)",
        "advertisements": "integer",
        "ad_rate": "numeric(5,4)",
    },
}


class WarehouseLoadError(RuntimeError):
    """A day could not be loaded (bad input or a database error); the previous copy is intact."""


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


@dataclass(frozen=True)
class Thresholds:
    """Quality gates used to count ``passed_quality_scoring`` (curation.min_quality/min_relevance)."""

    min_quality: float = 3.0
    min_relevance: float = 4.0

    @classmethod
    def from_curation(cls, curation: dict[str, Any] | None) -> Thresholds:
        curation = curation or {}
        return cls(
            min_quality=float(curation.get("min_quality", cls.min_quality)),
            min_relevance=float(curation.get("min_relevance", cls.min_relevance)),
        )


def run_uuid(dagster_run_id: str) -> str:
    """``pipeline_runs.id`` for a Dagster run: its run id when that is a UUID, else a UUID5 of it."""
    try:
        return str(uuid.UUID(dagster_run_id))
    except ValueError:
        return str(uuid.uuid5(_RUN_NAMESPACE, dagster_run_id))


def entry_uuid(entry_key: str) -> str:
    """``articles.id`` for an entry: the 32-hex ``entry_key`` read as a UUID."""
    try:
        return str(uuid.UUID(hex=entry_key))
    except ValueError:
        return str(uuid.uuid5(_RUN_NAMESPACE, f"entry:{entry_key}"))


def _uuid_or_derived(value: str, kind: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(_RUN_NAMESPACE, f"{kind}:{value}"))


# ---------------------------------------------------------------- pure builders


def day_slice(df: pl.DataFrame | None, day: date, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Rows of ``df`` for ``day`` conformed to ``columns`` (missing columns become nulls; an absent or
    column-less frame gives an empty one)."""
    if df is None or "partition_date" not in df.columns:
        return pl.DataFrame(schema=columns)
    df = df.filter(pl.col("partition_date") == day)
    cols = []
    for name, dtype in columns.items():
        if name in df.columns and dtype == _ALSO_COVERED:
            cols.append(pl.col(name))  # nested: kept as given, stored as JSON
        elif name in df.columns:
            cols.append(pl.col(name).cast(dtype, strict=True))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)


def build_stg_feed_fetches(raw_feeds: pl.DataFrame) -> pl.DataFrame:
    return raw_feeds.select(list(RAW_FEEDS_COLS)).unique(["partition_date", "feed_name"], keep="last")


def build_stg_articles(
    filtered: pl.DataFrame,
    scored: pl.DataFrame,
    enhanced: pl.DataFrame,
    newsletter: pl.DataFrame,
    thresholds: Thresholds,
) -> pl.DataFrame:
    """Every entry of the day with each funnel decision: content filter -> ad detection ->
    quality gates -> selection -> newsletter."""
    in_newsletter: set[str] = set()
    for ids in newsletter["article_ids"].to_list():
        in_newsletter.update(ids or [])
    s = (
        scored.drop("partition_date")
        .rename({"rank": "selection_rank"})
        .with_columns(pl.lit(True).alias("scored"))
    )
    e = enhanced.select("entry_key", "tags", "summary_source")
    df = (
        filtered.drop("clean_text")
        .join(s, on="entry_key", how="left")
        .join(e, on="entry_key", how="left")
        .with_columns(pl.col("scored").fill_null(False), pl.col("selected").fill_null(False))
    )
    passed_ad = pl.col("passed_filter") & pl.col("scored") & ~pl.col("is_advertisement").fill_null(False)
    # Met the thresholds itself, or was picked: selection judges relevance per story (the best
    # article of the cluster), so a picked representative may score lower on its own.
    passed_quality = passed_ad & (
        pl.col("selected")
        | (
            (pl.col("quality_score") >= thresholds.min_quality).fill_null(False)
            & (pl.col("tech_relevance_score") >= thresholds.min_relevance).fill_null(False)
        )
    )
    is_dup = (pl.col("filter_reason") == "duplicate_url").fill_null(False) | (
        pl.col("scored") & (pl.col("is_canonical") == False).fill_null(False)  # noqa: E712
    )
    df = df.with_columns(
        passed_ad.alias("passed_ad_detection"),
        passed_quality.alias("passed_quality_scoring"),
        is_dup.alias("is_duplicate"),
        pl.col("entry_key").is_in(sorted(in_newsletter)).alias("in_newsletter"),
    )
    order = [
        "partition_date", "entry_key", "article_id", "feed_name", "title", "url", "domain",
        "published_at", "word_count", "language", "passed_filter", "filter_reason", "duplicate_of",
        "scored", "is_advertisement", "ad_score", "ad_reason", "passed_ad_detection", "quality_score",
        "tech_relevance_score", "passed_quality_scoring", "content_type", "topics", "cluster_id",
        "cluster_size", "is_canonical", "canonical_entry_key", "is_duplicate", "previously_sent",
        "final_score", "selection_rank", "selected", "selection_reason", "in_newsletter", "tags",
        "summary_source",
    ]  # fmt: skip
    return df.select(order).with_columns(pl.col("passed_filter").fill_null(False))


def build_stg_newsletters(newsletter: pl.DataFrame) -> pl.DataFrame:
    return newsletter.select(
        "partition_date", "newsletter_id", "subject_line", "preheader", "article_count", "html_bytes",
        "generated_at", "llm_cost_usd", "copy_source", "article_ids",
    )  # fmt: skip


def build_stg_loads(day: date, run: RunInfo | None, loaded_at: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "partition_date": [day],
            "pipeline_run_id": [run.pipeline_run_id if run else None],
            "dagster_run_id": [run.dagster_run_id if run else None],
            "job_name": [run.job_name if run else None],
            "run_started_at": [run.started_at if run else None],
            "days_in_run": [run.days_in_run if run else 1],
            "loaded_at": [loaded_at],
        },
        schema={
            "partition_date": pl.Date,
            "pipeline_run_id": pl.String,
            "dagster_run_id": pl.String,
            "job_name": pl.String,
            "run_started_at": UTC_TS,
            "days_in_run": pl.Int32,
            "loaded_at": UTC_TS,
        },
    )


def build_articles(
    enhanced: pl.DataFrame, filtered: pl.DataFrame, scored: pl.DataFrame, run: RunInfo | None
) -> pl.DataFrame:
    """The seed's ``articles`` rows: the day's picks with their text and scores."""
    content = filtered.select("entry_key", pl.col("clean_text").alias("content"))
    ads = scored.select("entry_key", "is_advertisement")
    df = enhanced.join(content, on="entry_key", how="left").join(ads, on="entry_key", how="left")
    return df.select(
        pl.col("entry_key").map_elements(entry_uuid, return_dtype=pl.String).alias("id"),
        pl.lit(run.pipeline_run_id if run else None, dtype=pl.String).alias("pipeline_run_id"),
        "title",
        "content",
        "summary",
        "url",
        "feed_name",
        pl.col("published_at").alias("published_date"),
        pl.col("quality_score").round(2),
        "content_type",
        pl.col("tech_relevance_score").round(2),
        pl.col("is_advertisement").fill_null(False),
        "partition_date",
        "entry_key",
        "article_id",
        pl.col("rank").alias("newsletter_rank"),
        "domain",
        "image_url",
        "preview",
        "tags",
        "topics",
        "reading_time_minutes",
        "word_count",
        "summary_source",
        "llm_model",
        "cluster_id",
        "also_covered_by",
    ).sort("newsletter_rank", nulls_last=True)


def build_newsletters(newsletter: pl.DataFrame, run: RunInfo | None) -> pl.DataFrame:
    """The seed's ``newsletters`` row; ``article_ids`` are the picks' UUIDs in newsletter order."""
    ids = [[entry_uuid(k) for k in (keys or [])] for keys in newsletter["article_ids"].to_list()]
    return newsletter.select(
        pl.col("newsletter_id")
        .map_elements(lambda v: _uuid_or_derived(v, "newsletter"), return_dtype=pl.String)
        .alias("id"),
        pl.lit(run.pipeline_run_id if run else None, dtype=pl.String).alias("pipeline_run_id"),
        "subject_line",
        pl.col("html").alias("html_content"),
        pl.col("text").alias("text_content"),
        pl.Series("article_ids", ids, dtype=_STR_LIST),
        "generated_at",
        "partition_date",
        "preheader",
        "subject_candidates",
        "intro",
        "sections_json",
        "article_count",
        "html_bytes",
        "llm_cost_usd",
        "copy_source",
    )


def build_day_tables(
    frames: dict[str, pl.DataFrame | None],
    day: date,
    *,
    run: RunInfo | None = None,
    thresholds: Thresholds | None = None,
    loaded_at: datetime | None = None,
) -> dict[str, pl.DataFrame]:
    """Staging and seed-table frames for ``day`` from the upstream frames (keyed by table name:
    raw_feeds, filtered_articles, scored_articles, enhanced_articles, newsletters, llm_calls; a
    missing or empty frame means the table has no rows that day)."""
    thresholds = thresholds or Thresholds()
    loaded_at = loaded_at or datetime.now(UTC)
    d = {name: day_slice(frames.get(name), day, cols) for name, cols in UPSTREAM_COLUMNS.items()}
    if d["newsletters"].height > 1:
        raise WarehouseLoadError(f"{day}: {d['newsletters'].height} newsletters rows; expected at most one")
    for name, key in (("filtered_articles", "entry_key"), ("enhanced_articles", "entry_key")):
        dupes = d[name].filter(pl.col(key).is_duplicated())[key].unique().to_list()
        if dupes:
            raise WarehouseLoadError(f"{day}: {name} has duplicate {key}s: {sorted(dupes)[:5]}")
    return {
        "stg_loads": build_stg_loads(day, run, loaded_at),
        "stg_feed_fetches": build_stg_feed_fetches(d["raw_feeds"]),
        "stg_articles": build_stg_articles(
            d["filtered_articles"], d["scored_articles"], d["enhanced_articles"], d["newsletters"], thresholds
        ),
        "stg_llm_calls": d["llm_calls"].unique(["call_id"], keep="last", maintain_order=True),
        "stg_newsletters": build_stg_newsletters(d["newsletters"]),
        "articles": build_articles(d["enhanced_articles"], d["filtered_articles"], d["scored_articles"], run),
        "newsletters": build_newsletters(d["newsletters"], run),
    }


# ---------------------------------------------------------------- loads


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


def load_day(
    conn: Any,
    day: date,
    tables: dict[str, pl.DataFrame],
    *,
    run: RunInfo | None = None,
    include_seed_tables: bool | None = None,
) -> dict[str, int]:
    """Replace ``day`` in every table of ``tables`` inside one transaction; return rows per table.

    Seed tables (``articles``, ``newsletters``) are written only to PostgreSQL (default) — pass
    ``include_seed_tables`` to override. Rows of another day are rejected before anything is written.
    """
    w = as_warehouse(conn)
    seed = w.dialect == "postgres" if include_seed_tables is None else include_seed_tables
    names = [t for t in LOAD_ORDER if t in tables and (seed or t not in SEED_DAY_TABLES)]
    unknown = set(tables) - set(LOAD_ORDER)
    if unknown:
        raise WarehouseLoadError(f"unknown warehouse tables: {sorted(unknown)}")
    for name in names:
        other = tables[name].filter(pl.col("partition_date") != day).height
        if other:
            raise WarehouseLoadError(f"{name}: {other} rows are not for {day}")
    counts: dict[str, int] = {}
    try:
        with w.transaction():
            if seed and run is not None:
                ensure_pipeline_run(w, run)
            for name in names:
                w.execute(f"DELETE FROM {ident(name)} WHERE partition_date = %s", [day])
                counts[name] = w.insert_frame(name, tables[name])
    except Exception as exc:
        raise WarehouseLoadError(
            f"loading {day} into {w.dialect} failed (previous copy kept): {type(exc).__name__}: {exc}"
        ) from exc
    log.info("loaded %s into %s: %s", day, w.dialect, counts)
    return counts


def load_days(
    conn: Any,
    frames: dict[str, pl.DataFrame | None],
    days: list[date],
    *,
    run: RunInfo | None = None,
    thresholds: Thresholds | None = None,
    include_seed_tables: bool | None = None,
) -> dict[date, dict[str, int]]:
    """Build and load each day in its own transaction (a failing day leaves earlier days loaded)."""
    out: dict[date, dict[str, int]] = {}
    for day in days:
        tables = build_day_tables(frames, day, run=run, thresholds=thresholds)
        out[day] = load_day(conn, day, tables, run=run, include_seed_tables=include_seed_tables)
    return out


def table_counts(conn: Any, day: date, tables: tuple[str, ...] = LOAD_ORDER) -> dict[str, int]:
    """Rows per table for ``day`` (tables that do not exist are skipped)."""
    w = as_warehouse(conn)
    return {
        t: int(w.scalar(f"SELECT count(*) FROM {ident(t)} WHERE partition_date = %s", [day]))
        for t in tables
        if w.table_exists(t)
    }


# ---------------------------------------------------------------- pipeline_runs

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
    ``partition_key``, ``partition_start``, ``partition_end``. Only the given fields are updated on
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
