"""Hardening fixtures: a throw-away PostgreSQL database (migrated) per module, and the hypothesis
profiles: ``ci`` (default: 30 examples, fixed seed, so CI is fast and repeatable) and ``explore``
(``BITBYBIT_HYPOTHESIS_PROFILE=explore``: 500 random examples, to hunt for new bad inputs; add
what it finds to ``tests/fixtures/hostile/``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg2
import pytest
from hypothesis import HealthCheck, settings

from bitbybit_assets.warehouse.migrate import migrate
from resources.warehouse_db import PostgresWarehouse
from tests.support.postgres import create_database, drop_database

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci", max_examples=30, deadline=None, database=None, derandomize=True, suppress_health_check=_SLOW_OK
)
settings.register_profile("explore", parent=settings.get_profile("ci"), max_examples=500, derandomize=False)
settings.load_profile(os.environ.get("BITBYBIT_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def migrated_pg() -> Iterator[str]:
    """DSN of a fresh database with the warehouse migrations applied (dropped afterwards)."""
    name, dsn = create_database("bitbybit_hardening")
    conn = psycopg2.connect(dsn)
    try:
        migrate(PostgresWarehouse(conn))
    finally:
        conn.close()
    try:
        yield dsn
    finally:
        drop_database(name)
