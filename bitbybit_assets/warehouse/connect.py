"""Open a warehouse database by target: ``postgres`` (the PostgreSQL resource) or ``duckdb`` (the local
DuckDB file, ``warehouse.config.duckdb_path()``). One short-lived connection, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bitbybit_assets.warehouse.config import duckdb_path
from resources.postgres import PostgresResource
from resources.warehouse_db import Warehouse, connect_duckdb


@contextmanager
def open_warehouse(target: str, postgres: PostgresResource) -> Iterator[Warehouse]:
    if target == "postgres":
        with postgres.warehouse() as w:
            yield w
        return
    w = connect_duckdb(str(duckdb_path()))
    try:
        yield w
    finally:
        w.close()
