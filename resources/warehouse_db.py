"""A small DB-API adapter so the same loader code writes to PostgreSQL and to DuckDB.

SQL in this package uses ``%s`` placeholders (psycopg2 style); the DuckDB adapter rewrites them to
``?``. Connections run in autocommit mode and :meth:`Warehouse.transaction` wraps a unit of work in
an explicit ``BEGIN``/``COMMIT`` (``ROLLBACK`` on any exception).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import polars as pl

Dialect = Literal["postgres", "duckdb"]
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def ident(name: str) -> str:
    """``name`` checked to be a plain lower-case SQL identifier (table and column names)."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")  # PostgreSQL text and jsonb cannot hold NUL
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def without_nul(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with NUL characters removed from text and list-of-text columns (PostgreSQL refuses
    them; the sanitiser removes them where data enters, this is the last line of defence)."""
    exprs = []
    for name, dtype in df.schema.items():
        if dtype == pl.String:
            exprs.append(pl.col(name).str.replace_all("\x00", "", literal=True))
        elif isinstance(dtype, pl.List) and dtype.inner == pl.String:
            exprs.append(pl.col(name).list.eval(pl.element().str.replace_all("\x00", "", literal=True)))
    return df.with_columns(exprs) if exprs else df


def structs_to_json(df: pl.DataFrame) -> pl.DataFrame:
    """Struct and list-of-struct columns as JSON text (stored as ``JSONB`` / ``JSON``)."""
    out = df
    for name, dtype in df.schema.items():
        nested = isinstance(dtype, pl.Struct) or (
            isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)
        )
        if nested:
            values = [None if v is None else json.dumps(_jsonable(v)) for v in df[name].to_list()]
            out = out.with_columns(pl.Series(name, values, dtype=pl.String))
    return out


class Warehouse:
    """A connection in autocommit mode with explicit transactions and frame inserts."""

    dialect: Dialect

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._in_tx = False

    # -- to implement
    def _exec(self, sql: str, params: Sequence[Any] | None) -> Any:  # pragma: no cover
        raise NotImplementedError

    def insert_frame(self, table: str, df: pl.DataFrame) -> int:  # pragma: no cover
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, str]:  # pragma: no cover
        """Column name -> SQL type of ``table`` (empty when the table does not exist)."""
        raise NotImplementedError

    # -- shared
    def _insertable(self, table: str, df: pl.DataFrame) -> tuple[dict[str, str], pl.DataFrame]:
        """``table``'s column types and ``df`` ready to insert (structs as JSON text, no NUL);
        refuses a missing table or columns the table does not have."""
        types = self.columns(table)
        if not types:
            raise LookupError(f"table {table!r} does not exist")
        unknown = [c for c in df.columns if c not in types]
        if unknown:
            raise KeyError(f"{table}: no such columns {unknown}")
        return types, without_nul(structs_to_json(df))

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self._exec(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        cur = self._exec(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self._exec(sql, params).fetchall()
        return rows[0][0] if rows else None

    @property
    def in_transaction(self) -> bool:
        return self._in_tx

    def table_exists(self, table: str) -> bool:
        return bool(self.columns(table))

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """One unit of work: committed when the block ends, rolled back on any exception."""
        if self._in_tx:
            raise RuntimeError("nested transactions are not supported")
        self._exec("BEGIN", None)
        self._in_tx = True
        try:
            yield self
        except BaseException:
            self._in_tx = False
            self._exec("ROLLBACK", None)
            raise
        self._in_tx = False
        self._exec("COMMIT", None)

    def close(self) -> None:
        self.raw.close()


class PostgresWarehouse(Warehouse):
    dialect: Dialect = "postgres"

    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        raw.autocommit = True

    def _exec(self, sql: str, params: Sequence[Any] | None) -> Any:
        cur = self.raw.cursor()
        cur.execute(sql, params)
        return cur

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            [ident(table)],
        )
        return {r["name"]: r["type"] for r in rows}

    def insert_frame(self, table: str, df: pl.DataFrame) -> int:
        from psycopg2.extras import Json, execute_values

        if df.height == 0:
            return 0
        types, df = self._insertable(table, df)
        cols = [ident(c) for c in df.columns]
        # Explicit casts let text carry uuid, uuid[], jsonb and numeric values.
        template = "(" + ", ".join(f"%s::{types[c]}" for c in cols) + ")"
        json_cols = {i for i, c in enumerate(cols) if types[c] in ("jsonb", "json")}
        rows = df.rows()
        if json_cols:
            rows = [
                tuple(Json(json.loads(v)) if i in json_cols and v is not None else v for i, v in enumerate(r))
                for r in rows
            ]
        execute_values(
            self.raw.cursor(),
            f"INSERT INTO {ident(table)} ({', '.join(cols)}) VALUES %s",
            rows,
            template=template,
            page_size=500,
        )
        return df.height


class DuckDBWarehouse(Warehouse):
    dialect: Dialect = "duckdb"

    def _exec(self, sql: str, params: Sequence[Any] | None) -> Any:
        if params is None:
            return self.raw.execute(sql)
        return self.raw.execute(sql.replace("%s", "?"), list(params))

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(
            "SELECT column_name AS name, data_type AS type FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = current_schema() ORDER BY ordinal_position",
            [ident(table)],
        )
        return {r["name"]: r["type"] for r in rows}

    def insert_frame(self, table: str, df: pl.DataFrame) -> int:
        if df.height == 0:
            return 0
        _, df = self._insertable(table, df)
        cols = ", ".join(ident(c) for c in df.columns)
        view = "__bitbybit_frame"
        self.raw.register(view, df.to_arrow())
        try:
            self.raw.execute(f"INSERT INTO {ident(table)} ({cols}) SELECT {cols} FROM {view}")
        finally:
            self.raw.unregister(view)
        return df.height


def as_warehouse(conn: Any) -> Warehouse:
    """Wrap a psycopg2 or DuckDB connection (a :class:`Warehouse` is returned unchanged)."""
    if isinstance(conn, Warehouse):
        return conn
    module = type(conn).__module__
    if module.startswith(("duckdb", "_duckdb")):
        return DuckDBWarehouse(conn)
    if module.startswith("psycopg2"):
        return PostgresWarehouse(conn)
    raise TypeError(f"unsupported connection type {type(conn)!r}")


def is_duckdb_lock_error(exc: BaseException) -> bool:
    """``exc`` is DuckDB refusing a file another process holds (one writer process at a time)."""
    return type(exc).__name__ == "IOException" and "lock" in str(exc).lower()


def connect_duckdb(path: str) -> DuckDBWarehouse:
    """Open (creating) the local DuckDB warehouse file."""
    import duckdb

    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return DuckDBWarehouse(duckdb.connect(path))
