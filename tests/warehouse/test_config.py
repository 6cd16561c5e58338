"""Warehouse settings: the production.yaml section, environment overrides, dbt vars and env."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bitbybit_assets.warehouse.config import dbt_target, duckdb_path
from bitbybit_assets.warehouse.dbt_assets import dbt_day_env, dbt_env, dbt_vars, postgres_env_from_dsn
from bitbybit_base.settings import SettingsError, load_settings


def test_production_yaml_section_validates():
    cfg = load_settings().warehouse
    assert cfg.feed_yield_window_days == 30 and cfg.postgres.connect_attempts >= 1


def test_locations_and_target(monkeypatch, tmp_path):
    monkeypatch.delenv("BITBYBIT_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("BITBYBIT_DBT_TARGET", raising=False)
    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BITBYBIT_ENV", "local")
    assert duckdb_path() == tmp_path / "warehouse.duckdb"
    assert dbt_target() == "local"
    monkeypatch.setenv("BITBYBIT_ENV", "prod")
    assert dbt_target() == "prod"
    monkeypatch.setenv("BITBYBIT_DBT_TARGET", "local")
    assert dbt_target() == "local"
    monkeypatch.setenv("BITBYBIT_DBT_TARGET", "oracle")
    with pytest.raises(SettingsError):
        dbt_target()
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(tmp_path / "x" / "w.duckdb"))
    assert duckdb_path() == Path(tmp_path / "x" / "w.duckdb")


def test_dbt_vars_stay_the_same_and_days_go_in_the_environment():
    assert dbt_vars() == {"yield_window_days": 30, "trend_window_days": 7}  # no day: partial parsing holds
    assert dbt_day_env([date(2026, 7, 18)]) == {
        "BITBYBIT_DBT_DAY": "2026-07-18", "BITBYBIT_DBT_START_DAY": "", "BITBYBIT_DBT_END_DAY": ""}
    r = dbt_day_env([date(2026, 7, 19), date(2026, 7, 18), date(2026, 7, 20)])
    assert (r["BITBYBIT_DBT_DAY"], r["BITBYBIT_DBT_START_DAY"], r["BITBYBIT_DBT_END_DAY"]) == (
        "", "2026-07-18", "2026-07-20")


def test_dbt_env_from_dsn_is_temporary(monkeypatch):
    monkeypatch.setenv("BITBYBIT_POSTGRES_DSN", "postgresql://app:pw@db.internal:6543/wh")
    monkeypatch.delenv("POSTGRES_HOST", raising=False)
    assert postgres_env_from_dsn("postgresql://app:pw@db.internal:6543/wh") == {
        "POSTGRES_HOST": "db.internal", "POSTGRES_PORT": "6543", "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "wh",
    }  # fmt: skip
    import os

    with dbt_env("prod"):
        assert os.environ["POSTGRES_HOST"] == "db.internal" and os.environ["BITBYBIT_DBT_TARGET"] == "prod"
    assert "POSTGRES_HOST" not in os.environ
