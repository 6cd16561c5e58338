"""dagster-dbt wiring: the dbt models as daily-partitioned assets after the staging tables.

Sources (``source('warehouse', 'stg_*')``) map to the asset keys ``warehouse/stg_*`` produced by
``warehouse_load``, models to ``warehouse/<model>``; all in group ``warehouse``. A run for day(s)
passes ``--vars '{"day": "YYYY-MM-DD"}'`` (``start_day``/``end_day`` for a range) and
``--target local`` (DuckDB) or ``prod`` (PostgreSQL, when ``BITBYBIT_ENV=prod``). dbt tests become
asset checks.

The manifest is produced by ``dbt parse`` (offline) when missing or older than the project files;
deployments run it at image build time (``dbt parse --project-dir dbt_project --profiles-dir dbt_project``).
"""

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from bitbybit_assets import settings
from bitbybit_assets.partitions import daily_partitions, days_in_context
from bitbybit_assets.warehouse.config import dbt_target, duckdb_path, warehouse_settings

DBT_PROJECT_DIR = settings.PROJECT_ROOT / "dbt_project"
GROUP = "warehouse"
KEY_PREFIX = "warehouse"
POOL = "warehouse"  # one writer at a time on the warehouse (DuckDB allows a single writer process)
RETRY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """dbt sources and models -> ``warehouse/<table>`` keys in group ``warehouse``. Source ``delivery``:
    ``send_ledger`` is what ``newsletter_deliveries`` writes (so dbt runs after it), other tables
    ``delivery/<table>`` (declared in ``bitbybit_assets.deliver.assets``)."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            if dbt_resource_props.get("source_name") == "delivery":
                name = dbt_resource_props["name"]
                return dg.AssetKey(["newsletter_deliveries"] if name == "send_ledger" else ["delivery", name])
            return dg.AssetKey([KEY_PREFIX, dbt_resource_props["name"]])
        return dg.AssetKey([KEY_PREFIX, dbt_resource_props.get("alias") or dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP


def dbt_executable() -> str:
    """The ``dbt`` next to this interpreter (a venv's bin), else ``dbt`` on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else "dbt"


def dbt_project(project_dir: Path = DBT_PROJECT_DIR) -> DbtProject:
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


def dbt_resource(project_dir: Path = DBT_PROJECT_DIR) -> DbtCliResource:
    """The ``dbt`` resource (resource key ``dbt``); the target is passed per invocation."""
    return DbtCliResource(
        project_dir=str(project_dir), profiles_dir=str(project_dir), dbt_executable=dbt_executable()
    )


def _newest_source_mtime(project_dir: Path) -> float:
    files = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for sub in ("models", "macros", "tests"):
        files.extend(p for p in (project_dir / sub).rglob("*") if p.is_file())
    return max((p.stat().st_mtime for p in files if p.exists()), default=0.0)


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """``target/manifest.json``, re-parsed (offline, ``dbt parse``) when missing or stale. The new
    manifest is parsed into a temporary folder and renamed into place, so concurrent loaders never
    read a half-written file."""
    project = dbt_project(project_dir)
    manifest = project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".parse-", dir=manifest.parent))
    try:
        with dbt_env("local"):
            dbt_resource(project_dir).cli(["parse", "--quiet"], target_path=tmp).wait()
        os.replace(tmp / "manifest.json", manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def postgres_env_from_dsn(dsn: str | None) -> dict[str, str]:
    """``POSTGRES_*`` variables for the dbt ``prod`` profile from a DSN (URI or key=value)."""
    if not dsn:
        return {}
    from psycopg2.extensions import parse_dsn

    parts = parse_dsn(dsn)
    mapping = {"host": "POSTGRES_HOST", "port": "POSTGRES_PORT", "user": "POSTGRES_USER",
               "password": "POSTGRES_PASSWORD", "dbname": "POSTGRES_DB"}  # fmt: skip
    return {env: str(parts[k]) for k, env in mapping.items() if parts.get(k)}


def dbt_env_vars(target: str) -> dict[str, str]:
    """Variables the dbt profile reads, resolved from our settings at call time."""
    env = {"BITBYBIT_DUCKDB_PATH": str(duckdb_path()), "BITBYBIT_DBT_TARGET": target}
    if target == "prod":
        env.update(postgres_env_from_dsn(settings.postgres_dsn()))
    return env


@contextmanager
def dbt_env(target: str) -> Iterator[None]:
    """Temporarily export :func:`dbt_env_vars` (dbt subprocesses copy ``os.environ`` when started)."""
    new = dbt_env_vars(target)
    old = {k: os.environ.get(k) for k in new}
    os.environ.update(new)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def dbt_vars(days: list[date]) -> dict[str, Any]:
    """``--vars`` for a run over ``days`` (one day: ``day``; a range: ``start_day``/``end_day``)."""
    cfg = warehouse_settings()
    out: dict[str, Any] = {
        "yield_window_days": cfg.feed_yield_window_days,
        "trend_window_days": cfg.trend_window_days,
    }
    if len(days) == 1:
        out["day"] = days[0].isoformat()
    else:
        out["start_day"], out["end_day"] = min(days).isoformat(), max(days).isoformat()
    return out


def build_dbt_assets(project_dir: Path = DBT_PROJECT_DIR) -> dg.AssetsDefinition:
    """The ``@dbt_assets`` definition (call when building Definitions, not at import)."""
    project = dbt_project(project_dir)
    manifest = ensure_manifest(project_dir)

    @dbt_assets(
        manifest=manifest,
        project=project,
        name="warehouse_dbt",
        dagster_dbt_translator=WarehouseDbtTranslator(),
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
        pool=POOL,
    )
    def warehouse_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        days = days_in_context(context)
        target = dbt_target()
        args = ["build", "--target", target, "--vars", json.dumps(dbt_vars(days))]
        context.log.info(f"dbt {' '.join(args)}")
        with dbt_env(target):
            invocation = dbt.cli(args, context=context)
        yield from invocation.stream()

    return warehouse_dbt
