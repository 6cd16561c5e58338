"""PostgreSQL: the warehouse connection, with bounded retries, timeouts and a clear error.

The DSN is read at call time from ``bitbybit_base.settings.postgres_dsn()`` (``BITBYBIT_POSTGRES_DSN``
or ``POSTGRES_HOST``/``POSTGRES_PORT``/``POSTGRES_USER``/``POSTGRES_PASSWORD``/``POSTGRES_DB``) unless
``dsn`` is set on the resource. Connection errors are retried with exponential backoff; after the
last attempt :class:`PostgresUnavailableError` names the host, port and database.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field

from bitbybit_base.settings import postgres_dsn, runtime_settings
from bitbybit_base.text_safety import redact_secrets
from resources.warehouse_db import PostgresWarehouse

log = logging.getLogger(__name__)


class PostgresUnavailableError(ConnectionError):
    """PostgreSQL could not be reached (or no DSN is configured)."""


def describe_dsn(dsn: str) -> dict[str, str]:
    """host, port, dbname and user of ``dsn`` (URI or key=value form), never the password."""
    from psycopg2.extensions import parse_dsn

    try:
        parts = parse_dsn(dsn)
    except Exception:  # a malformed DSN still gets a readable error
        return {"host": "?", "port": "?", "dbname": "?", "user": "?"}
    return {
        "host": parts.get("host") or "localhost",
        "port": str(parts.get("port") or 5432),
        "dbname": parts.get("dbname") or parts.get("user") or "?",
        "user": parts.get("user") or "?",
    }


def _password_of(dsn: str) -> str | None:
    from psycopg2.extensions import parse_dsn

    try:
        return parse_dsn(dsn).get("password")
    except Exception:  # noqa: BLE001 - a malformed DSN: mask what looks like the password
        found = re.search(r"://[^:/@]*:(.*)@", dsn) or re.search(r"password\s*=\s*'?([^' ]*)", dsn)
        return found.group(1) if found else None


def redact_dsn_error(text: str, dsn: str) -> str:
    """An error message about ``dsn`` with its password (plain or percent-encoded) masked."""
    return redact_secrets(text, [_password_of(dsn)])


def connect_with_retry(
    dsn: str,
    *,
    attempts: int = 4,
    backoff_seconds: float = 1.0,
    max_backoff_seconds: float = 30.0,
    connect_timeout_seconds: int = 10,
    statement_timeout_seconds: int | None = 300,
    application_name: str = "bitbybit",
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """A psycopg2 connection; connection errors are retried ``attempts`` times in all with
    exponential backoff, then raised as :class:`PostgresUnavailableError`."""
    import psycopg2

    where = describe_dsn(dsn)
    options = (
        f"-c statement_timeout={int(statement_timeout_seconds * 1000)}" if statement_timeout_seconds else None
    )
    last: Exception | None = None
    for attempt in range(1, max(1, attempts) + 1):
        try:
            kwargs: dict[str, Any] = {
                "connect_timeout": connect_timeout_seconds,
                "application_name": application_name,
            }
            if options:
                kwargs["options"] = options
            return psycopg2.connect(dsn, **kwargs)
        except psycopg2.ProgrammingError as exc:  # a malformed DSN: retrying cannot help
            # libpq quotes the offending piece of the DSN, which may be part of the password
            reason = re.sub(r'"[^"]*"', '"…"', str(exc).strip().splitlines()[0])
            raise PostgresUnavailableError(
                f"invalid PostgreSQL DSN ({reason}); percent-encode special characters in a URI DSN"
            ) from None  # the driver's message quotes the DSN, password included
        except psycopg2.OperationalError as exc:
            last = exc
            if attempt >= attempts:
                break
            delay = min(max_backoff_seconds, backoff_seconds * 2 ** (attempt - 1))
            log.warning(
                "PostgreSQL at %s:%s unreachable (attempt %d/%d): %s; retrying in %.1fs",
                where["host"], where["port"], attempt, attempts, redact_dsn_error(str(exc).strip(), dsn), delay,
            )  # fmt: skip
            sleep(delay)
    reason = redact_dsn_error(str(last).strip().splitlines()[0], dsn) if last else "unknown error"
    error = PostgresUnavailableError(
        f"PostgreSQL at {where['host']}:{where['port']} (database {where['dbname']!r}, user "
        f"{where['user']!r}) is unreachable after {attempts} attempts: {reason}"
    )
    if last is not None and redact_dsn_error(str(last), dsn) != str(last):
        raise error from None  # the driver's own message quotes the password: do not chain it
    raise error from last


class PostgresResource(dg.ConfigurableResource):
    """The warehouse database. Opens connections lazily (nothing happens at definition load).

    Unset fields fall back, at call time, to ``warehouse.postgres`` in ``config/production.yaml``.
    """

    dsn: str | None = Field(
        default=None, description="Override; default: settings.postgres_dsn() read at call time."
    )
    connect_attempts: int | None = Field(default=None, description="Connection attempts in all.")
    backoff_seconds: float | None = Field(default=None, description="First retry delay (doubles).")
    max_backoff_seconds: float | None = None
    connect_timeout_seconds: int | None = None
    statement_timeout_seconds: int | None = Field(default=None, description="0 disables the timeout.")
    application_name: str = "bitbybit"

    def _limits(self) -> dict[str, Any]:
        base = runtime_settings().warehouse.postgres
        names = (
            "connect_attempts",
            "backoff_seconds",
            "max_backoff_seconds",
            "connect_timeout_seconds",
            "statement_timeout_seconds",
        )
        return {n: getattr(self, n) if getattr(self, n) is not None else getattr(base, n) for n in names}

    def resolved_dsn(self) -> str:
        dsn = self.dsn or postgres_dsn()
        if not dsn:
            raise PostgresUnavailableError(
                "no PostgreSQL configured: set BITBYBIT_POSTGRES_DSN or POSTGRES_HOST "
                "(with POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB)"
            )
        return dsn

    def is_configured(self) -> bool:
        return bool(self.dsn or postgres_dsn())

    def describe(self) -> dict[str, str]:
        return describe_dsn(self.resolved_dsn())

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A psycopg2 connection (closed afterwards)."""
        limits = self._limits()
        conn = connect_with_retry(
            self.resolved_dsn(),
            attempts=limits["connect_attempts"],
            backoff_seconds=limits["backoff_seconds"],
            max_backoff_seconds=limits["max_backoff_seconds"],
            connect_timeout_seconds=limits["connect_timeout_seconds"],
            statement_timeout_seconds=limits["statement_timeout_seconds"] or None,
            application_name=self.application_name,
        )
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def warehouse(self) -> Iterator[Any]:
        """The connection wrapped as a :class:`resources.warehouse_db.PostgresWarehouse`
        (autocommit, explicit transactions)."""
        with self.connect() as conn:
            yield PostgresWarehouse(conn)
