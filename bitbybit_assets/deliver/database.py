"""Where the delivery (and desk) tables live: in the analytics database dbt builds on.

``dbt_target()`` = ``prod`` (always so with ``BITBYBIT_ENV=prod``): PostgreSQL, shared by the desk,
the sensors and every run task. ``local`` (the demo, a developer machine): the local DuckDB warehouse
``data/warehouse.duckdb`` (one writer at a time: connections are short-lived), even when a
PostgreSQL DSN is also configured for warehouse loads. Either way the dbt model
``delivery_statistics`` reads the same ledger the sends write. Migrations are applied on open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bitbybit_assets.deliver.store import DeliveryStore
from bitbybit_assets.warehouse.config import dbt_target
from bitbybit_assets.warehouse.connect import open_warehouse
from bitbybit_assets.warehouse.migrate import migrate
from resources.postgres import PostgresResource


def delivery_target(postgres: PostgresResource) -> str:
    """``postgres`` or ``duckdb`` (``postgres`` needs a DSN: a clear error otherwise)."""
    if dbt_target() != "prod":
        return "duckdb"
    postgres.resolved_dsn()  # raises PostgresUnavailableError naming the missing settings
    return "postgres"


@contextmanager
def open_store(postgres: PostgresResource) -> Iterator[DeliveryStore]:
    """A :class:`DeliveryStore` on the delivery database (closed afterwards)."""
    with open_warehouse(delivery_target(postgres), postgres) as w:
        migrate(w)
        yield DeliveryStore(w)
