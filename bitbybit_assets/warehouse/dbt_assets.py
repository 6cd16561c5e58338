"""dagster-dbt wiring: the dbt models as daily-partitioned assets after the staging tables.

Sources (``source('warehouse', 'stg_*')``) map to the asset keys ``warehouse/stg_*`` produced by
``warehouse_load``, models to ``warehouse/<model>``; all in group ``warehouse``. A run for day(s)
passes the day(s) in ``BITBYBIT_DBT_DAY`` (``BITBYBIT_DBT_START_DAY``/``BITBYBIT_DBT_END_DAY`` for a
range; macro ``day_bounds``) and ``--target local`` (DuckDB) or ``prod`` (PostgreSQL, when
``BITBYBIT_ENV=prod``). dbt tests become asset checks; they test whole tables, so the per-day jobs
leave them to the ``warehouse_tests`` job (``bitbybit_assets.jobs``).

Start-up cost per invocation is kept low: dbt runs in this process (``WarehouseDbtResource``,
:mod:`bitbybit_assets.warehouse.dbt_inprocess`), the day is not a ``--vars`` (a value that changes every
day voids dbt's partial parsing), ``partial_parse.msgpack`` is kept between runs in ``<data dir>/dbt/``,
and the dbt version comes from the installed dbt-core instead of a ``dbt --version`` subprocess.

The manifest is produced by ``dbt parse`` (offline) when missing or older than the project files;
deployments run it at image build time (``dbt parse --project-dir dbt_project --profiles-dir dbt_project``).
"""

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from importlib.metadata import version as package_version
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

from bitbybit_assets.partitions import DAILY, days_in_context
from bitbybit_assets.warehouse.config import dbt_target, duckdb_path
from bitbybit_assets.warehouse.dbt_inprocess import echo_to_log, exported, in_process_invocations
from bitbybit_base import settings
from bitbybit_base.settings import CostSettings, Settings, WarehouseSettings
from resources.settings import RunSettings

DBT_PROJECT_DIR = settings.PROJECT_ROOT / "dbt_project"
GROUP = "warehouse"
KEY_PREFIX = "warehouse"
PARTIAL_PARSE = "partial_parse.msgpack"
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


class WarehouseDbtResource(DbtCliResource):
    """``DbtCliResource`` without the per-run start-up costs: dbt runs in this process
    (``in_process``, :mod:`bitbybit_assets.warehouse.dbt_inprocess`) rather than a new interpreter per
    invocation, the dbt version comes from the installed dbt-core package instead of a ``dbt --version``
    subprocess, and no second dbt adapter is set up in this process for column metadata (unused)."""

    in_process: bool = True

    @property
    def _cli_version(self) -> Any:  # dagster-dbt's cached_property; a packaging Version
        from packaging.version import Version

        return Version(package_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None  # dagster-dbt uses it only to fetch column metadata / row counts, which we do not

    def cli(self, args: Sequence[str], **kwargs: Any) -> Any:
        if not self.in_process:
            return super().cli(args, **kwargs)
        with in_process_invocations():
            return super().cli(args, **kwargs)


def dbt_resource(project_dir: Path = DBT_PROJECT_DIR) -> DbtCliResource:
    """The ``dbt`` resource (resource key ``dbt``); the target is passed per invocation."""
    return WarehouseDbtResource(
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
        with dbt_env("local"):  # the runs' --vars, so its partial_parse.msgpack serves them
            dbt_resource(project_dir).cli(["parse", "--quiet", "--vars", json.dumps(dbt_vars())],
                                          target_path=tmp).wait()
        if (tmp / PARTIAL_PARSE).exists():
            os.replace(tmp / PARTIAL_PARSE, manifest.parent / PARTIAL_PARSE)
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


def cost_env(cost: CostSettings) -> str:
    """``BITBYBIT_DBT_COST``: the ``cost:`` settings as JSON, what ``cost_per_newsletter`` prices with
    (macro ``cost_setting``); handed to every dbt invocation so the prices are written in one place."""
    return json.dumps(cost.model_dump(mode="json"), sort_keys=True)


def dbt_env_vars(target: str, cfg: Settings | None = None) -> dict[str, str]:
    """Variables the dbt profile and models read, resolved from ``cfg`` (default: the settings file)."""
    cfg = cfg or settings.runtime_settings()
    env = {"BITBYBIT_DUCKDB_PATH": str(duckdb_path(cfg.warehouse)), "BITBYBIT_DBT_TARGET": target,
           "BITBYBIT_DBT_COST": cost_env(cfg.cost)}
    if target == "prod":
        env.update(postgres_env_from_dsn(settings.postgres_dsn()))
    return env


@contextmanager
def dbt_env(target: str, extra: Mapping[str, str] | None = None, cfg: Settings | None = None) -> Iterator[None]:
    """Temporarily export :func:`dbt_env_vars` and ``extra`` (dbt subprocesses copy ``os.environ``
    when started)."""
    with exported({**dbt_env_vars(target, cfg), **(extra or {})}):
        yield


def dbt_vars(cfg: WarehouseSettings | None = None) -> dict[str, Any]:
    """``--vars`` of every invocation: the settings' windows, the same from day to day (dbt re-parses
    the whole project when the vars change)."""
    cfg = cfg or settings.runtime_settings().warehouse
    return {"yield_window_days": cfg.feed_yield_window_days, "trend_window_days": cfg.trend_window_days}


def dbt_day_env(days: list[date]) -> dict[str, str]:
    """The days of a run for macro ``day_bounds``: ``BITBYBIT_DBT_DAY`` for one day, else
    ``BITBYBIT_DBT_START_DAY``/``BITBYBIT_DBT_END_DAY``; empty strings clear the others."""
    keys = ("BITBYBIT_DBT_DAY", "BITBYBIT_DBT_START_DAY", "BITBYBIT_DBT_END_DAY")
    if not days:
        return dict.fromkeys(keys, "")
    if len(days) == 1:
        return dict(zip(keys, (days[0].isoformat(), "", ""), strict=True))
    return dict(zip(keys, ("", min(days).isoformat(), max(days).isoformat()), strict=True))


def partial_parse_store(target: str) -> Path:
    """Where dbt's parse state for ``target`` is kept between runs (``<data dir>/dbt/``)."""
    return settings.data_dir() / "dbt" / f"{target}-{PARTIAL_PARSE}"


@contextmanager
def invocation_target(target: str, run_id: str, project_dir: Path = DBT_PROJECT_DIR) -> Iterator[Path]:
    """A fresh dbt target folder for one invocation under ``<data dir>/dbt/runs``, seeded with the kept
    parse state (else the one ``ensure_manifest`` left in the project's ``target/``). On success the
    new parse state replaces the kept one and the folder goes; after a failure it stays for its logs."""
    store = partial_parse_store(target)
    runs = store.parent / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"warehouse_dbt-{run_id[:8]}-", dir=runs))
    seed = store if store.exists() else dbt_project(project_dir).manifest_path.parent / PARTIAL_PARSE
    if seed.exists():
        shutil.copyfile(seed, path / PARTIAL_PARSE)
    yield path
    if (path / PARTIAL_PARSE).exists():
        tmp = store.with_name(f".{store.name}.{os.getpid()}")
        shutil.copyfile(path / PARTIAL_PARSE, tmp)
        os.replace(tmp, store)
    shutil.rmtree(path, ignore_errors=True)


def build_dbt_assets(project_dir: Path = DBT_PROJECT_DIR) -> dg.AssetsDefinition:
    """The ``@dbt_assets`` definition (call when building Definitions, not at import)."""
    project = dbt_project(project_dir)
    manifest = ensure_manifest(project_dir)

    @dbt_assets(
        manifest=manifest,
        project=project,
        name="warehouse_dbt",
        dagster_dbt_translator=WarehouseDbtTranslator(),
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
        pool=POOL,
    )
    def warehouse_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: RunSettings) -> Iterator[Any]:
        # a run of the dbt tests alone (warehouse_tests) has no partition: they read whole tables
        days = days_in_context(context) if context.has_partition_key or context.has_partition_key_range else []
        target = dbt_target(settings.warehouse)
        # --no-write-json: no manifest.json/run_results.json per run (~0.5 s); events carry the results
        args = ["build", "--target", target, "--vars", json.dumps(dbt_vars(settings.warehouse)), "--no-write-json"]
        day_env = dbt_day_env(days)
        context.log.info(f"dbt {' '.join(args)} ({', '.join(f'{k}={v}' for k, v in day_env.items() if v)})")
        with invocation_target(target, context.run_id) as target_path, dbt_env(target, day_env, settings):
            invocation = dbt.cli(args, context=context, target_path=target_path)
            yield from echo_to_log(invocation.stream(), context.log.debug)  # dbt's lines: the UI, `-v`

    return warehouse_dbt
