"""The ``warehouse:`` section of ``config/production.yaml`` and the warehouse locations.

Everything is read at call time. Environment variables win over the file:
``BITBYBIT_DUCKDB_PATH`` (the local DuckDB warehouse file) and ``BITBYBIT_DBT_TARGET`` (``local`` or
``prod``; default ``prod`` when ``BITBYBIT_ENV=prod``, else ``local``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bitbybit_assets import settings

DbtTarget = Literal["local", "prod"]


class PostgresSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect_attempts: int = Field(4, ge=1, le=20)
    backoff_seconds: float = Field(1.0, ge=0)
    max_backoff_seconds: float = Field(30.0, ge=0)
    connect_timeout_seconds: int = Field(10, ge=1)
    statement_timeout_seconds: int = Field(300, ge=0)  # 0: no timeout


class WarehouseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duckdb_path: str | None = None  # relative paths are under the data dir
    dbt_target: DbtTarget | None = None
    load_postgres_when_local: bool = True  # local runs also load Postgres when a DSN is configured
    feed_yield_window_days: int = Field(30, ge=1, le=366)
    trend_window_days: int = Field(7, ge=1, le=366)
    analytics_top_n: int = Field(20, ge=1)
    postgres: PostgresSettings = PostgresSettings()


def warehouse_settings() -> WarehouseSettings:
    try:
        return WarehouseSettings.model_validate(settings.load_settings().warehouse or {})
    except ValueError as exc:
        raise settings.SettingsError(f"warehouse settings: {exc}") from exc


def duckdb_path() -> Path:
    """The local DuckDB warehouse file (``<data dir>/warehouse.duckdb`` by default)."""
    env = os.environ.get("BITBYBIT_DUCKDB_PATH")
    if env:
        return Path(env).expanduser().resolve()
    configured = warehouse_settings().duckdb_path
    if configured:
        p = Path(configured).expanduser()
        return p if p.is_absolute() else (settings.data_dir() / p).resolve()
    return settings.data_dir() / "warehouse.duckdb"


def dbt_target() -> DbtTarget:
    """The dbt target (and analytics database): ``prod`` = PostgreSQL, ``local`` = DuckDB."""
    env = os.environ.get("BITBYBIT_DBT_TARGET", "").strip().lower()
    if env:
        if env not in ("local", "prod"):
            raise settings.SettingsError(f"BITBYBIT_DBT_TARGET={env!r} is not one of local, prod")
        return env  # type: ignore[return-value]
    configured = warehouse_settings().dbt_target
    if configured:
        return configured
    return "prod" if settings.environment() == "prod" else "local"
