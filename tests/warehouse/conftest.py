"""Warehouse fixtures: a throw-away PostgreSQL database per test module on the real local server.

The server is ``BITBYBIT_TEST_POSTGRES_ADMIN_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
trust auth; ``.ci/run`` starts it). Each module gets ``bitbybit_test_<random>``, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from resources.warehouse_db import PostgresWarehouse
from tests.support.postgres import ADMIN_DSN, create_database, drop_database, pg_env  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """DSN of a fresh, empty database for this test module."""
    name, dsn = create_database()
    try:
        yield dsn
    finally:
        drop_database(name)


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    """DSN of a fresh database for one test."""
    name, dsn = create_database()
    try:
        yield dsn
    finally:
        drop_database(name)


@pytest.fixture
def pg(pg_database: str) -> Iterator[PostgresWarehouse]:
    conn = psycopg2.connect(pg_database)
    w = PostgresWarehouse(conn)
    try:
        yield w
    finally:
        conn.close()


