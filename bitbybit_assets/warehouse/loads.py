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
from bitbybit_assets.warehouse.pipeline_runs import RUN_NAMESPACE, RunInfo, ensure_pipeline_run
from bitbybit_assets.warehouse.tables import (
    LOAD_ORDER,
    RAW_FEEDS_COLS,
    SEED_COLUMN_TYPES,
    SEED_DAY_TABLES,
    UPSTREAM_COLUMNS,
)
from resources.warehouse_db import as_warehouse, ident

log = logging.getLogger(__name__)

_STR_LIST = pl.List(pl.String)
_ALSO_COVERED = schemas.SCORED_ARTICLES["also_covered_by"]


class WarehouseLoadError(RuntimeError):
    """A day could not be loaded (bad input or a database error); the previous copy is intact."""


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


def entry_uuid(entry_key: str) -> str:
    """``articles.id`` for an entry: the 32-hex ``entry_key`` read as a UUID."""
    try:
        return str(uuid.UUID(hex=entry_key))
    except ValueError:
        return str(uuid.uuid5(RUN_NAMESPACE, f"entry:{entry_key}"))


def _uuid_or_derived(value: str, kind: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(RUN_NAMESPACE, f"{kind}:{value}"))


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
    derived = {
        "id": pl.col("entry_key").map_elements(entry_uuid, return_dtype=pl.String),
        "pipeline_run_id": pl.lit(run.pipeline_run_id if run else None, dtype=pl.String),
        "published_date": pl.col("published_at"),
        "quality_score": pl.col("quality_score").round(2),
        "tech_relevance_score": pl.col("tech_relevance_score").round(2),
        "is_advertisement": pl.col("is_advertisement").fill_null(False),
        "newsletter_rank": pl.col("rank"),
    }
    return df.select(_seed_columns("articles", derived)).sort("newsletter_rank", nulls_last=True)


def build_newsletters(newsletter: pl.DataFrame, run: RunInfo | None) -> pl.DataFrame:
    """The seed's ``newsletters`` row; ``article_ids`` are the picks' UUIDs in newsletter order."""
    ids = [[entry_uuid(k) for k in (keys or [])] for keys in newsletter["article_ids"].to_list()]
    derived = {
        "id": pl.col("newsletter_id").map_elements(
            lambda v: _uuid_or_derived(v, "newsletter"), return_dtype=pl.String
        ),
        "pipeline_run_id": pl.lit(run.pipeline_run_id if run else None, dtype=pl.String),
        "html_content": pl.col("html"),
        "text_content": pl.col("text"),
        "article_ids": pl.Series("article_ids", ids, dtype=_STR_LIST),
    }
    return newsletter.select(_seed_columns("newsletters", derived))


def _seed_columns(table: str, derived: dict[str, pl.Expr | pl.Series]) -> list[pl.Expr | pl.Series]:
    """The seed table's columns in :data:`SEED_COLUMN_TYPES` order (the one declaration of what
    the loader and the SQL export write): ``derived`` where given, else the same-named column."""
    return [derived[name].alias(name) if name in derived else pl.col(name) for name in SEED_COLUMN_TYPES[table]]


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
