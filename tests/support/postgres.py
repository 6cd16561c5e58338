"""A throw-away PostgreSQL database on the real local server, for tests.

The server is ``BITBYBIT_TEST_POSTGRES_ADMIN_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
trust auth; ``.ci/run`` starts it).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg2
import pytest
import yaml
from psycopg2 import sql

ADMIN_DSN = os.environ.get(
    "BITBYBIT_TEST_POSTGRES_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)



def _admin():
    try:
        conn = psycopg2.connect(ADMIN_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL test server not reachable at {ADMIN_DSN} (start it with .ci/run): {exc}")
    conn.autocommit = True
    return conn


def _dsn_for(dbname: str) -> str:
    base = psycopg2.extensions.parse_dsn(ADMIN_DSN)
    base["dbname"] = dbname
    return psycopg2.extensions.make_dsn(**base)


def create_database(prefix: str = "bitbybit_test") -> tuple[str, str]:
    """Create an empty database with a random name; returns (name, DSN)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    return name, _dsn_for(name)


def drop_database(name: str) -> None:
    admin = _admin()
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


def pg_env(monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    """Point settings.postgres_dsn() and the dbt prod profile at ``dsn``."""
    parts = psycopg2.extensions.parse_dsn(dsn)
    monkeypatch.setenv("BITBYBIT_POSTGRES_DSN", dsn)
    monkeypatch.setenv("POSTGRES_HOST", parts.get("host", "127.0.0.1"))
    monkeypatch.setenv("POSTGRES_PORT", str(parts.get("port", 5432)))
    monkeypatch.setenv("POSTGRES_USER", parts.get("user", "postgres"))
    monkeypatch.setenv("POSTGRES_DB", parts["dbname"])
    monkeypatch.setenv("POSTGRES_PASSWORD", parts.get("password", ""))


def dagster_pg_storage() -> dict:
    """The ``storage:`` section of the repository's production dagster.yaml, as written there."""
    path = Path(__file__).resolve().parents[2] / "dagster.yaml"
    return {"storage": yaml.safe_load(path.read_text())["storage"]}


def dagster_pg_env(monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    """Point the DAGSTER_PG_* variables that dagster.yaml reads at ``dsn``."""
    parts = psycopg2.extensions.parse_dsn(dsn)
    monkeypatch.setenv("DAGSTER_PG_HOST", parts.get("host", "127.0.0.1"))
    monkeypatch.setenv("DAGSTER_PG_PORT", str(parts.get("port", 5432)))
    monkeypatch.setenv("DAGSTER_PG_USER", parts.get("user", "postgres"))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", parts.get("password", "unused-with-trust-auth"))
    monkeypatch.setenv("DAGSTER_PG_DB", parts["dbname"])
