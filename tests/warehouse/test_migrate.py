"""Migrations: from an empty database, re-applied (idempotent), edited files refused, DuckDB subset."""

from __future__ import annotations

import shutil

import psycopg2
import pytest

from bitbybit_assets.warehouse.migrate import (
    MIGRATIONS_DIR,
    MigrationError,
    applied_migrations,
    current_version,
    discover,
    migrate,
)
from bitbybit_assets.warehouse.tables import SEED_COLUMN_TYPES, STAGING_TABLES
from resources.warehouse_db import PostgresWarehouse, connect_duckdb

pytestmark = pytest.mark.integration

SEED_TABLES = ("pipeline_runs", "articles", "feed_statistics", "newsletters")

# The seed's DDL, column by column (SEED.md "Database Schema"): name -> (type, nullable, default).
SEED_COLUMNS = {
    "pipeline_runs": {
        "id": ("uuid", False, "gen_random_uuid()"),
        "started_at": ("timestamp with time zone", False, None),
        "completed_at": ("timestamp with time zone", True, None),
        "status": ("character varying(20)", False, None),
        "total_articles_input": ("integer", True, None),
        "articles_output": ("integer", True, None),
        "processing_time_seconds": ("integer", True, None),
        "s3_output_path": ("text", True, None),
        "error_message": ("text", True, None),
        "created_at": ("timestamp with time zone", True, "now()"),
    },
    "articles": {
        "id": ("uuid", False, "gen_random_uuid()"),
        "pipeline_run_id": ("uuid", True, None),
        "title": ("text", False, None),
        "content": ("text", True, None),
        "summary": ("text", True, None),
        "url": ("text", True, None),
        "feed_name": ("text", True, None),
        "published_date": ("timestamp with time zone", True, None),
        "quality_score": ("numeric(4,2)", True, None),
        "content_type": ("character varying(50)", True, None),
        "tech_relevance_score": ("numeric(4,2)", True, None),
        "is_advertisement": ("boolean", True, "false"),
        "created_at": ("timestamp with time zone", True, "now()"),
    },
    "feed_statistics": {
        "id": ("uuid", False, "gen_random_uuid()"),
        "pipeline_run_id": ("uuid", True, None),
        "feed_name": ("text", False, None),
        "feed_url": ("text", True, None),
        "total_articles": ("integer", True, None),
        "passed_content_filter": ("integer", True, None),
        "passed_ad_detection": ("integer", True, None),
        "passed_quality_scoring": ("integer", True, None),
        "final_articles": ("integer", True, None),
        "processing_time_seconds": ("numeric(8,2)", True, None),
        "created_at": ("timestamp with time zone", True, "now()"),
    },
    "newsletters": {
        "id": ("uuid", False, "gen_random_uuid()"),
        "pipeline_run_id": ("uuid", True, None),
        "subject_line": ("text", True, None),
        "html_content": ("text", True, None),
        "text_content": ("text", True, None),
        "article_ids": ("uuid[]", True, None),
        "generated_at": ("timestamp with time zone", True, "now()"),
    },
}


def _columns(w: PostgresWarehouse, table: str) -> dict[str, tuple[str, bool, str | None]]:
    rows = w.query(
        "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable, "
        "pg_get_expr(d.adbin, d.adrelid) AS dflt FROM pg_attribute a "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
        [table],
    )
    return {r["name"]: (r["type"], r["nullable"], r["dflt"]) for r in rows}


def _fks(w: PostgresWarehouse, table: str) -> set[str]:
    rows = w.query(
        "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'f'",
        [table],
    )
    return {r["d"] for r in rows}


def test_migrations_from_empty_then_reapplied(fresh_pg):
    conn = psycopg2.connect(fresh_pg)
    w = PostgresWarehouse(conn)
    try:
        assert applied_migrations(w) == {}
        versions = [m.version for m in discover() if "postgres" in m.dialects]
        assert migrate(w) == versions
        assert current_version(w) == max(versions)

        for table, expected in SEED_COLUMNS.items():
            actual = _columns(w, table)
            for col, spec in expected.items():
                assert actual[col] == spec, (table, col)
            # every column the loader / export writes exists with the declared type
            for col, sql_type in SEED_COLUMN_TYPES[table].items():
                assert actual[col][0] == sql_type, (table, col)
            if table != "pipeline_runs":
                assert _fks(w, table) == {"FOREIGN KEY (pipeline_run_id) REFERENCES pipeline_runs(id)"}
        for table in STAGING_TABLES:
            assert w.table_exists(table)

        # re-applied: nothing to do, nothing recorded twice
        assert migrate(w) == []
        assert migrate(w) == []
        assert w.scalar("SELECT count(*) FROM schema_migrations") == len(versions)
    finally:
        conn.close()


def test_edited_migration_is_refused(fresh_pg, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    conn = psycopg2.connect(fresh_pg)
    w = PostgresWarehouse(conn)
    try:
        migrate(w, folder)
        first = sorted(folder.glob("0001_*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="edited after it was applied"):
            migrate(w, folder)
    finally:
        conn.close()


def test_failing_migration_rolls_back_alone(fresh_pg, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    (folder / "0900_broken.sql").write_text(
        "CREATE TABLE half_done (x int);\nINSERT INTO no_such_table VALUES (1);\n"
    )
    conn = psycopg2.connect(fresh_pg)
    w = PostgresWarehouse(conn)
    try:
        with pytest.raises(MigrationError, match="0900_broken"):
            migrate(w, folder)
        applied = applied_migrations(w)
        assert 900 not in applied and set(applied) == {m.version for m in discover() if "postgres" in m.dialects}
        assert not w.table_exists("half_done")  # the file's transaction rolled back whole
    finally:
        conn.close()


def test_duckdb_gets_the_staging_tables_only(tmp_path):
    w = connect_duckdb(str(tmp_path / "wh.duckdb"))
    try:
        applied = migrate(w)
        assert applied == [m.version for m in discover() if "duckdb" in m.dialects]
        assert migrate(w) == []
        for table in STAGING_TABLES:
            assert w.table_exists(table)
        for table in SEED_TABLES:
            assert not w.table_exists(table)
    finally:
        w.close()
