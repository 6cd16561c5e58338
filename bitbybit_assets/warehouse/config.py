"""The warehouse locations, from the ``warehouse:`` settings (:class:`bitbybit_base.settings.WarehouseSettings`).

Everything is read at call time. Environment variables win over the file:
``BITBYBIT_DUCKDB_PATH`` (the local DuckDB warehouse file) and ``BITBYBIT_DBT_TARGET`` (``local`` or
``prod``; default ``prod`` when ``BITBYBIT_ENV=prod``, else ``local``).
"""

from __future__ import annotations

import os
from pathlib import Path

from bitbybit_base import settings
from bitbybit_base.settings import DbtTarget, WarehouseSettings


def duckdb_path(cfg: WarehouseSettings | None = None) -> Path:
    """The local DuckDB warehouse file (``<data dir>/warehouse.duckdb`` by default)."""
    env = os.environ.get("BITBYBIT_DUCKDB_PATH")
    if env:
        return Path(env).expanduser().resolve()
    configured = (cfg or settings.runtime_settings().warehouse).duckdb_path
    if configured:
        p = Path(configured).expanduser()
        return p if p.is_absolute() else (settings.data_dir() / p).resolve()
    return settings.data_dir() / "warehouse.duckdb"


def dbt_target(cfg: WarehouseSettings | None = None) -> DbtTarget:
    """The dbt target (and analytics database): ``prod`` = PostgreSQL, ``local`` = DuckDB."""
    env = os.environ.get("BITBYBIT_DBT_TARGET", "").strip().lower()
    if env:
        if env not in ("local", "prod"):
            raise settings.SettingsError(f"BITBYBIT_DBT_TARGET={env!r} is not one of local, prod")
        return env  # type: ignore[return-value]
    configured = (cfg or settings.runtime_settings().warehouse).dbt_target
    if configured:
        return configured
    return "prod" if settings.environment() == "prod" else "local"
