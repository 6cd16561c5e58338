"""Versioned SQL migrations, applied once each, every file inside one transaction.

Files are ``migrations/NNNN_name.sql``. The first line may restrict the dialects a file applies to
(``-- dialects: postgres duckdb``; default ``postgres``): the seed tables live in PostgreSQL only,
the staging tables also in the local DuckDB warehouse. Applied versions are recorded in
``schema_migrations`` with the file's checksum; editing an applied file is an error (add a new one).
On PostgreSQL an advisory lock serialises concurrent migrators.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resources.warehouse_db import as_warehouse

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DIALECTS = re.compile(r"^--\s*dialects:\s*(.+)$", re.IGNORECASE)
_LOCK_KEY = 0x6269_7462  # "bitb": pg_advisory_xact_lock key for migrations

SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
)
"""


class MigrationError(RuntimeError):
    """A migration file is malformed, was edited after being applied, or failed to apply."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str
    dialects: frozenset[str]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in ``directory``, ordered by version."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_snake.sql")
        sql = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        first = sql.split("\n", 1)[0].strip()
        d = _DIALECTS.match(first)
        dialects = frozenset(d.group(1).replace(",", " ").split()) if d else frozenset({"postgres"})
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migration files have version {version:04d}")
        found[version] = Migration(
            version=version,
            name=m.group(2),
            sql=sql,
            checksum=hashlib.sha256(sql.encode("utf-8")).hexdigest(),
            dialects=dialects,
        )
    return [found[v] for v in sorted(found)]


def applied_migrations(conn: Any) -> dict[int, str]:
    """Applied version -> checksum (empty before the first migration)."""
    w = as_warehouse(conn)
    if not w.table_exists("schema_migrations"):
        return {}
    return {r["version"]: r["checksum"] for r in w.query("SELECT version, checksum FROM schema_migrations")}


def migrate(conn: Any, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every pending migration for the connection's dialect; return the versions applied.

    Idempotent: a second call applies nothing. Each file and its ``schema_migrations`` row are
    committed together, so a failing file leaves the database at the previous version.
    """
    w = as_warehouse(conn)
    migrations = [m for m in discover(directory) if w.dialect in m.dialects]
    with w.transaction():
        if w.dialect == "postgres":
            w.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        w.execute(SCHEMA_MIGRATIONS_DDL)
    done: list[int] = []
    for mig in migrations:
        with w.transaction():
            if w.dialect == "postgres":
                w.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            applied = applied_migrations(w)
            if mig.version in applied:
                if applied[mig.version] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.version:04d}_{mig.name} was edited after it was applied "
                        "(checksum differs); add a new migration instead"
                    )
                continue
            try:
                w.execute(mig.sql)
            except Exception as exc:
                raise MigrationError(f"migration {mig.version:04d}_{mig.name} failed: {exc}") from exc
            w.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                [mig.version, mig.name, mig.checksum],
            )
            done.append(mig.version)
            log.info("applied migration %04d_%s (%s)", mig.version, mig.name, w.dialect)
    return done


def current_version(conn: Any) -> int:
    """The highest applied version (0 for an empty database)."""
    return max(applied_migrations(conn), default=0)
