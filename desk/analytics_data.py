"""The figures behind the desk's Analytics and Feeds pages, read from the analytics database.

That is the database dbt builds on (:func:`~bitbybit_assets.warehouse.config.dbt_target`): ``prod``
= PostgreSQL, ``local`` = the DuckDB file :func:`~bitbybit_assets.warehouse.config.duckdb_path`.
Each query function takes an open :class:`~resources.warehouse_db.Warehouse` and a window of
days and returns JSON-ready rows (dates as ``YYYY-MM-DD``, numbers as int/float); a table that does
not exist yet (a fresh install) raises :class:`MissingTable`. :func:`analytics_report` and
:func:`feeds_report` open the database once, run their queries, and turn missing tables into empty
sections with a note and a busy database into ``unavailable``: the pages never answer 500 for those.

The queries themselves are in :mod:`desk.analytics_queries`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bitbybit_assets.deliver.database import delivery_target
from bitbybit_assets.warehouse.config import dbt_target, duckdb_path
from desk.analytics_queries import (
    MissingTable,
    Row,
    Window,
    ad_rate,
    deliveries,
    feed_health,
    feed_yield,
    fetch_outcomes,
    funnel,
    llm_cost,
    topic_trends,
    with_configured,
)
from resources.postgres import PostgresResource, PostgresUnavailableError
from resources.warehouse_db import DuckDBWarehouse, Warehouse, is_duckdb_lock_error

log = logging.getLogger("bitbybit")

DEFAULT_DAYS = 30
MAX_DAYS = 366


class AnalyticsUnavailable(RuntimeError):
    """The analytics database cannot be read right now (a run holds the local DuckDB file, or
    PostgreSQL is unreachable)."""


@dataclass
class Report:
    """What a page shows: sections of rows by name, notes about what is missing, or why nothing
    could be read (``unavailable``)."""

    window: Window
    sections: dict[str, list[Row]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unavailable: str | None = None
    source: str = ""

    def rows(self, name: str) -> list[Row]:
        return self.sections.get(name, [])


# ---------------------------------------------------------------- connection


def _is_config_clash(exc: Exception) -> bool:
    return type(exc).__name__ == "ConnectionException" and "different configuration" in str(exc)


def connect_duckdb_readonly(path: Path, read_only: bool = True) -> DuckDBWarehouse:
    """The local warehouse opened for reading (never created). ``read_only`` falls back to the
    default configuration when this process already holds the file that way: DuckDB refuses two
    configurations of one file in a process. :class:`AnalyticsUnavailable` when another process (a
    run) holds the write lock."""
    import duckdb

    try:
        try:
            return DuckDBWarehouse(duckdb.connect(str(path), read_only=read_only))
        except Exception as exc:
            if not (read_only and _is_config_clash(exc)):
                raise
            return DuckDBWarehouse(duckdb.connect(str(path)))
    except Exception as exc:
        if is_duckdb_lock_error(exc):
            raise AnalyticsUnavailable(
                "the local warehouse is in use by a pipeline run; try again in a moment"
            ) from exc
        raise


@contextmanager
def open_analytics(postgres: PostgresResource) -> Iterator[Warehouse | None]:
    """The analytics database, closed afterwards; ``None`` when the local DuckDB file does not exist
    yet. Locally the file is opened read-only unless the desk's own database is that same file (then
    with the desk's configuration, see :func:`connect_duckdb_readonly`)."""
    if dbt_target() == "prod":
        try:
            with postgres.warehouse() as w:
                yield w
        except PostgresUnavailableError as exc:
            raise AnalyticsUnavailable(str(exc)) from exc
        return
    path = duckdb_path()
    if not path.is_file():
        yield None
        return
    w = connect_duckdb_readonly(path, read_only=delivery_target(postgres) == "postgres")
    try:
        yield w
    finally:
        w.close()


def latest_day(w: Warehouse) -> date | None:
    """The last loaded day (``stg_loads``), ``None`` before the first load."""
    if not w.table_exists("stg_loads"):
        return None
    value = w.scalar("SELECT max(partition_date) FROM stg_loads")
    return value if isinstance(value, date) else None


def window(days: int = DEFAULT_DAYS, end: date | None = None, latest: date | None = None) -> Window:
    """``days`` days ending at ``end``, else at the last loaded day, else today (UTC)."""
    days = max(1, min(int(days), MAX_DAYS))
    last = end or latest or datetime.now(UTC).date()
    return Window(last - timedelta(days=days - 1), last)


# ---------------------------------------------------------------- reports

Section = Callable[[Warehouse, Window], list[Row]]
ANALYTICS_SECTIONS: dict[str, Section] = {
    "funnel": funnel,
    "ad_rate": ad_rate,
    "topics": topic_trends,
    "llm_cost": llm_cost,
    "feed_yield": feed_yield,
    "fetch_outcomes": fetch_outcomes,
    "deliveries": deliveries,
    "feed_health": feed_health,
}
FEEDS_SECTIONS: dict[str, Section] = {"feed_health": feed_health, "fetch_outcomes": fetch_outcomes}
EMPTY_NOTE = (
    "No analytics yet: the local warehouse {path} does not exist. Run the pipeline "
    "(`make demo`), which loads the warehouse and builds the dbt models."
)


def _source() -> str:
    return (
        "PostgreSQL (dbt target prod)"
        if dbt_target() == "prod"
        else f"DuckDB {duckdb_path()} (dbt target local)"
    )


def build_report(
    postgres: PostgresResource,
    sections: dict[str, Section],
    days: int = DEFAULT_DAYS,
    end: date | None = None,
) -> Report:
    """Run ``sections`` over one connection. A missing table empties its sections with one note
    each; a busy or unreachable database sets ``unavailable``."""
    try:
        with open_analytics(postgres) as w:
            if w is None:
                return Report(
                    window(days, end), notes=[EMPTY_NOTE.format(path=duckdb_path())], source=_source()
                )
            report = Report(window(days, end, latest_day(w)), source=_source())
            missing: set[str] = set()
            for name, fn in sections.items():
                try:
                    report.sections[name] = fn(w, report.window)
                except MissingTable as exc:
                    report.sections[name] = []
                    missing.add(exc.table)
            report.notes += [
                f"Table {t} does not exist yet: run the pipeline and dbt (warehouse_load, the "
                "dbt models) to fill it."
                for t in sorted(missing)
            ]
            return report
    except AnalyticsUnavailable as exc:
        log.info("analytics unavailable: %s", exc)
        return Report(window(days, end), unavailable=str(exc), source=_source())


def analytics_report(postgres: PostgresResource, days: int = DEFAULT_DAYS, end: date | None = None) -> Report:
    """Every section of the Analytics page."""
    return build_report(postgres, ANALYTICS_SECTIONS, days, end)


def feeds_report(
    postgres: PostgresResource, days: int = DEFAULT_DAYS, end: date | None = None, feeds: Iterable[Any] = ()
) -> Report:
    """The Feeds page: health per feed (with the configured ``feeds`` merged in) and fetch outcomes."""
    report = build_report(postgres, FEEDS_SECTIONS, days, end)
    if report.unavailable is None:
        report.sections["feed_health"] = with_configured(report.rows("feed_health"), feeds, report.window.end)
    return report
