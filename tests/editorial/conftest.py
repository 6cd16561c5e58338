"""Editorial fixtures: the overrides store on DuckDB and on a throw-away PostgreSQL database, and a
small scored day."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from bitbybit_assets.editorial.store import EditorialStore
from bitbybit_assets.warehouse.migrate import migrate
from resources.warehouse_db import PostgresWarehouse, connect_duckdb
from tests.support.postgres import create_database, drop_database

DAY = date(2026, 8, 5)


def scored_day(n: int = 10, picks: int = 4, day: date = DAY, overrides: dict | None = None) -> pl.DataFrame:
    """``n`` candidates k00..k{n-1}, ranked in order, the first ``picks`` selected, one story each;
    ``overrides`` maps an entry_key to column values to change."""
    rows = []
    for i in range(n):
        key = f"k{i:02d}"
        row = {
            "partition_date": day,
            "entry_key": key,
            "article_id": f"a{i:02d}",
            "feed_name": f"feed{i % 3}",
            "title": f"Story {i}",
            "url": f"https://example.com/{i}",
            "passed_filter": True,
            "is_advertisement": False,
            "ad_reason": None,
            "previously_sent": False,
            "cluster_id": f"c{i:02d}",
            "final_score": 10.0 - i * 0.5,
            "rank": i + 1,
            "selected": i < picks,
            "selection_reason": f"selected: rank {i + 1}" if i < picks else f"not selected: rank {i + 1}",
            **(overrides or {}).get(key, {}),
        }
        rows.append(row)
    return pl.DataFrame(rows, schema_overrides={"rank": pl.Int32, "ad_reason": pl.String})


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path):
    """The editorial store on both databases."""
    if request.param == "duckdb":
        w = connect_duckdb(str(tmp_path / "w.duckdb"))
        migrate(w)
        yield EditorialStore(w)
        w.close()
        return
    import psycopg2

    name, dsn = create_database("bitbybit_editorial")
    w = PostgresWarehouse(psycopg2.connect(dsn))
    migrate(w)
    try:
        yield EditorialStore(w)
    finally:
        w.close()
        drop_database(name)


@pytest.fixture
def pg_dsn():
    name, dsn = create_database("bitbybit_editorial")
    try:
        yield dsn
    finally:
        drop_database(name)
