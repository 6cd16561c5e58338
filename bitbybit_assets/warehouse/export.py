"""The seed's data export step: API JSON, SQL insert files and analytics JSON for one day.

* ``output/api/YYYY-MM-DD.json``: the newsletter and its articles (``api_newsletter.schema.json``);
* ``output/database/YYYY-MM-DD.sql``: replayable inserts of the day's ``articles``, ``newsletters``
  and ``feed_statistics`` rows (deletes the day first, one transaction). Safe to replay whatever the
  server's ``standard_conforming_strings``: every literal holding a backslash is an ``E''``
  escape-string literal (read the same under both settings, even when the whole file is sent as one
  query), the file also pins ``standard_conforming_strings`` and ``client_encoding`` for its
  transaction, and NUL characters (which PostgreSQL cannot store) are removed;
* ``output/api/analytics_YYYY-MM-DD.json``: the dbt analytics models for the day.

Builders are pure; :func:`~bitbybit_assets.output_files.write_text_atomic` writes through a temporary file and a rename.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl

from bitbybit_assets.warehouse.tables import SEED_COLUMN_TYPES
from bitbybit_base.text_safety import remove_unencodable
from resources.warehouse_db import as_warehouse, ident

API_SCHEMA_PATH = Path(__file__).resolve().parent / "api_newsletter.schema.json"
API_SCHEMA_VERSION = "1.0"
ANALYTICS_MODELS = (
    "daily_pipeline_metrics",
    "feed_statistics",
    "content_type_mix",
    "topic_trends",
    "feed_yield_30d",
)


class ExportValidationError(ValueError):
    """An export payload does not match its JSON Schema."""


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: dates/datetimes as ISO 8601 (UTC ``Z``), Decimal as float, UUID as str."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# ---------------------------------------------------------------- API JSON


@cache
def api_schema() -> dict:
    return json.loads(API_SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_api_payload(payload: dict) -> None:
    """Raise :class:`ExportValidationError` listing every schema violation."""
    validator = jsonschema.Draft202012Validator(api_schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:20]]
        raise ExportValidationError(
            "API payload does not match api_newsletter.schema.json:\n" + "\n".join(lines)
        )


def _sections(sections_json: str | None, key_to_id: dict[str, str]) -> list[dict]:
    if not sections_json:
        return []
    try:
        raw = json.loads(sections_json)
    except json.JSONDecodeError:
        return []
    out = []
    for s in raw if isinstance(raw, list) else []:
        if not isinstance(s, dict):
            continue
        keys = s.get("entry_keys") or []
        out.append(
            {
                "key": str(s.get("key", "")),
                "title": str(s.get("title", "")),
                "article_ids": [key_to_id[k] for k in keys if k in key_to_id],
            }
        )
    return out


def build_api_payload(
    day: date, articles: pl.DataFrame, newsletters: pl.DataFrame, *, exported_at: datetime | None = None
) -> dict:
    """The API document for ``day`` from the seed-table frames of :func:`loads.build_day_tables`
    (``articles`` and ``newsletters``)."""
    arts = []
    key_to_id: dict[str, str] = {}
    for r in articles.sort("newsletter_rank", nulls_last=True).iter_rows(named=True):
        key_to_id[r["entry_key"]] = r["id"]
        arts.append(
            {
                "id": r["id"],
                "entry_key": r["entry_key"],
                "article_id": r["article_id"],
                "rank": r["newsletter_rank"],
                "title": r["title"],
                "url": r["url"],
                "domain": r["domain"],
                "feed_name": r["feed_name"],
                "published_at": r["published_date"],
                "summary": r["summary"],
                "summary_source": r["summary_source"],
                "preview": r["preview"],
                "tags": r["tags"] or [],
                "topics": r["topics"] or [],
                "content_type": r["content_type"],
                "quality_score": r["quality_score"],
                "tech_relevance_score": r["tech_relevance_score"],
                "reading_time_minutes": r["reading_time_minutes"],
                "word_count": r["word_count"],
                "image_url": r["image_url"],
                "cluster_id": r["cluster_id"],
                "original_title": r["original_title"],
                "original_language": r["original_language"],
                "translated_by": r["translated_by"],
                "also_covered_by": [
                    {"feed_name": c.get("feed_name"), "title": c.get("title"), "url": c.get("url")}
                    for c in (r["also_covered_by"] or [])
                ],
            }
        )
    newsletter = None
    if newsletters.height:
        n = newsletters.row(0, named=True)
        newsletter = {
            "id": n["id"],
            "subject_line": n["subject_line"],
            "subject_candidates": n["subject_candidates"] or [],
            "preheader": n["preheader"],
            "intro": n["intro"],
            "article_ids": n["article_ids"] or [],
            "article_count": n["article_count"] if n["article_count"] is not None else len(arts),
            "sections": _sections(n["sections_json"], key_to_id),
            "html": n["html_content"] or "",
            "text": n["text_content"] or "",
            "html_bytes": n["html_bytes"],
            "generated_at": n["generated_at"],
            "llm_cost_usd": n["llm_cost_usd"],
        }
    return to_jsonable(
        {
            "schema_version": API_SCHEMA_VERSION,
            "date": day,
            "exported_at": exported_at or datetime.now(UTC),
            "newsletter": newsletter,
            "articles": arts,
        }
    )


# ---------------------------------------------------------------- SQL inserts


def pg_text(text: str) -> str:
    """``text`` as PostgreSQL can store it: NUL and lone surrogates removed."""
    return remove_unencodable(text.replace("\x00", ""))


def _pg_json(value: Any) -> Any:
    if isinstance(value, str):
        return pg_text(value)
    if isinstance(value, dict):
        return {pg_text(str(k)): _pg_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_pg_json(v) for v in value]
    return value


def _quote(text: str) -> str:
    """A string literal that means the same with ``standard_conforming_strings`` on or off: plain
    ``'...'`` without backslashes, else an ``E'...'`` escape string with every backslash doubled."""
    text = pg_text(text).replace("'", "''")
    if "\\" in text:
        return "E'" + text.replace("\\", "\\\\") + "'"
    return "'" + text + "'"


def sql_literal(value: Any, sql_type: str) -> str:
    """A PostgreSQL literal for ``value`` stored in a column of ``sql_type``."""
    if value is None:
        return "NULL"
    t = sql_type.lower()
    if t.endswith("[]"):
        inner = t[:-2]
        items = ", ".join(sql_literal(v, inner) for v in value)
        return f"ARRAY[{items}]::{t}"
    if t == "boolean":
        return "TRUE" if value else "FALSE"
    if t in ("integer", "bigint", "smallint"):
        return str(int(value))
    if t.startswith(("numeric", "decimal", "double", "real")):
        f = float(value)
        if f != f or f in (float("inf"), float("-inf")):
            return "NULL"
        return repr(f)
    if t in ("jsonb", "json"):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return f"{_quote(value)}::{t}"
        text = json.dumps(_pg_json(to_jsonable(value)))  # no \u0000 escapes: jsonb refuses them
        return f"{_quote(text)}::{t}"
    if t in ("uuid", "date") or t.startswith("timestamp"):
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        return f"{_quote(text)}::{t}"
    return _quote(str(value))


def _insert_sql(table: str, rows: list[dict], types: dict[str, str]) -> list[str]:
    if not rows:
        return []
    cols = [c for c in rows[0] if c in types]
    head = f"INSERT INTO {ident(table)} ({', '.join(cols)}) VALUES"
    values = ["    (" + ", ".join(sql_literal(r[c], types[c]) for c in cols) + ")" for r in rows]
    return [head, ",\n".join(values) + ";"]


def render_sql_inserts(
    day: date,
    tables: dict[str, pl.DataFrame | list[dict]],
    *,
    pipeline_runs: list[dict] | None = None,
) -> str:
    """A SQL file that replaces ``day`` of the seed tables in ``tables`` (articles, newsletters,
    feed_statistics) in one transaction. ``pipeline_runs`` rows (``id``, ``dagster_run_id``,
    ``started_at``, ``status``) referenced by those rows are inserted when missing."""
    order = [t for t in ("articles", "newsletters", "feed_statistics") if t in tables]
    out = [
        f"-- bitbybit export for {day.isoformat()}: {', '.join(order)} (PostgreSQL, schema migrations 0001-0002, 0010).",
        "-- Replays idempotently: the day's rows are deleted and re-inserted in one transaction.",
        "BEGIN;",
        # literals are written to mean the same under both settings; pinned anyway for the transaction
        "SET LOCAL standard_conforming_strings = on;",
        "SET LOCAL client_encoding = 'UTF8';",
    ]
    for run in pipeline_runs or []:
        types = SEED_COLUMN_TYPES["pipeline_runs"]
        cols = [c for c in ("id", "dagster_run_id", "job_name", "started_at", "status") if c in run]
        out.append(
            f"INSERT INTO pipeline_runs ({', '.join(cols)}) VALUES ("
            + ", ".join(sql_literal(run[c], types[c]) for c in cols)
            + ") ON CONFLICT DO NOTHING;"
        )
    for table in order:
        out.append(f"DELETE FROM {ident(table)} WHERE partition_date = DATE '{day.isoformat()}';")
    for table in order:
        value = tables[table]
        rows = value.to_dicts() if isinstance(value, pl.DataFrame) else list(value)
        rows = [r for r in rows if r.get("partition_date", day) == day]
        out.extend(_insert_sql(table, rows, SEED_COLUMN_TYPES[table]))
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- analytics


def read_analytics(conn: Any, day: date, *, top_n: int = 20) -> dict[str, list[dict]]:
    """The dbt models' rows for ``day`` (models not built yet give empty lists)."""
    w = as_warehouse(conn)
    out: dict[str, list[dict]] = {}
    queries = {
        "daily_pipeline_metrics": "SELECT * FROM daily_pipeline_metrics WHERE partition_date = %s",
        "feed_statistics": "SELECT * FROM feed_statistics WHERE partition_date = %s ORDER BY feed_name",
        "content_type_mix": (
            "SELECT * FROM content_type_mix WHERE partition_date = %s ORDER BY scored_articles DESC, content_type"
        ),
        "topic_trends": (
            "SELECT * FROM topic_trends WHERE partition_date = %s ORDER BY kind, article_count DESC, label"
        ),
        "feed_yield_30d": (
            "SELECT * FROM feed_yield_30d WHERE partition_date = %s ORDER BY yield_rate DESC NULLS LAST, feed_name"
        ),
        "cost_per_newsletter": "SELECT * FROM cost_per_newsletter WHERE partition_date = %s",
    }
    for model, sql in queries.items():
        out[model] = w.query(sql, [day]) if w.table_exists(model) else []
    topics = [r for r in out["topic_trends"] if r["kind"] == "topic"][:top_n]
    tags = [r for r in out["topic_trends"] if r["kind"] == "tag"][:top_n]
    out["topic_trends"] = topics + tags
    return out


def build_analytics_payload(
    day: date, models: dict[str, list[dict]], *, exported_at: datetime | None = None
) -> dict:
    """The analytics document for ``day`` from :func:`read_analytics`."""
    metrics = models.get("daily_pipeline_metrics") or []
    trends = models.get("topic_trends") or []
    drop = {"id", "created_at"}
    return to_jsonable(
        {
            "schema_version": API_SCHEMA_VERSION,
            "date": day,
            "exported_at": exported_at or datetime.now(UTC),
            "pipeline": metrics[0] if metrics else None,
            "feeds": [
                {k: v for k, v in r.items() if k not in drop} for r in models.get("feed_statistics") or []
            ],
            "content_types": models.get("content_type_mix") or [],
            "topics": [r for r in trends if r["kind"] == "topic"],
            "tags": [r for r in trends if r["kind"] == "tag"],
            "feed_yield": models.get("feed_yield_30d") or [],
            "cost": (models.get("cost_per_newsletter") or [None])[0],
        }
    )


def export_paths(output_dir: Path, day: date) -> dict[str, Path]:
    d = day.isoformat()
    return {
        "api": output_dir / "api" / f"{d}.json",
        "analytics": output_dir / "api" / f"analytics_{d}.json",
        "sql": output_dir / "database" / f"{d}.sql",
    }


def dumps(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
