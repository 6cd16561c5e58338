"""The desk's database: the delivery database (PostgreSQL, or the local DuckDB warehouse) opened
once per unit of work, with the delivery store, the desk users and the run launches on one connection.

Locally DuckDB lets one process at a time open the file: while a run (a send, the warehouse load)
holds it, :class:`DatabaseBusy` is raised and the desk answers "busy, retry" instead of an error
page. Production uses PostgreSQL, where this never happens.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bitbybit_assets.deliver.database import delivery_target
from bitbybit_assets.deliver.store import DeliveryStore
from bitbybit_assets.warehouse.config import duckdb_path
from bitbybit_assets.warehouse.connect import open_warehouse
from bitbybit_assets.warehouse.migrate import migrate
from desk.launches import LaunchStore
from desk.users import UserStore
from resources.postgres import PostgresResource, PostgresUnavailableError
from resources.warehouse_db import is_duckdb_lock_error

DB_IN_USE = ("a run launched from this desk is using the local database (DuckDB admits one process at a "
             "time); this works again when the run ends")


class DatabaseBusy(RuntimeError):
    """The database cannot be opened right now (another process holds the local DuckDB file, or
    PostgreSQL is unreachable)."""


@dataclass
class DeskDB:
    store: DeliveryStore
    users: UserStore
    launches: LaunchStore


_migrated: set[str] = set()  # databases this process already brought to the latest migration
_migrate_lock = threading.Lock()


def _where(postgres: PostgresResource) -> str:
    if delivery_target(postgres) == "postgres":
        return "postgres:" + postgres.resolved_dsn()
    return "duckdb:" + str(duckdb_path())


@contextmanager
def open_desk(postgres: PostgresResource) -> Iterator[DeskDB]:
    """Stores on one connection to the delivery database (closed afterwards). The first open in
    this process applies pending migrations (as :func:`~bitbybit_assets.deliver.database.open_store`
    does on every open); later ones skip that."""
    try:
        with open_warehouse(delivery_target(postgres), postgres) as w:
            key = _where(postgres)
            if key not in _migrated:
                with _migrate_lock:
                    migrate(w)
                    _migrated.add(key)
            yield DeskDB(store=DeliveryStore(w), users=UserStore(w), launches=LaunchStore(w))
    except PostgresUnavailableError as exc:
        raise DatabaseBusy(str(exc)) from exc
    except Exception as exc:
        if is_duckdb_lock_error(exc):
            raise DatabaseBusy("the local database is in use by a run; retry in a moment") from exc
        raise
