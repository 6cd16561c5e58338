"""The production ``dagster.yaml`` (and the compose one) load as real Dagster instances.

The production file is rendered the way the container entrypoint does it, validated against
Dagster's instance schema, then instantiated for real: Postgres storage on the local server (a
throwaway database), the ECS run launcher and S3 compute logs against moto on loopback.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import psycopg2
import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_postgres import PostgresRunStorage
from render import RenderError, render_instance, render_json

from tests.deploy.conftest import BUCKET, DEPLOY_AWS, PROJECT_ROOT, template_values
from tests.support.postgres import ADMIN_DSN, create_database, drop_database

PROD_YAML = PROJECT_ROOT / "dagster.yaml"
COMPOSE_YAML = PROJECT_ROOT / "deploy" / "compose" / "dagster.yaml"
EXPECTED_LIMITS = [
    {"key": "bitbybit/concurrency", "value": "feed_fetch", "limit": 1},
    {"key": "bitbybit/concurrency", "value": "llm", "limit": 1},
    {"key": "bitbybit/compute", "value": "gpu", "limit": 1},
]


@pytest.fixture
def ecs_env(monkeypatch) -> dict[str, str]:
    env = {
        "DAGSTER_ECS_TASK_DEFINITION": "bitbybit-run-cpu",
        "DAGSTER_ECS_CONTAINER_NAME": "run",
        "DAGSTER_ECS_CLUSTER": "bitbybit",
        "DAGSTER_ECS_SUBNETS": "subnet-0a, subnet-0b",
        "DAGSTER_ECS_SECURITY_GROUPS": "sg-0123",
        "DAGSTER_COMPUTE_LOG_BUCKET": BUCKET,
        "DAGSTER_COMPUTE_LOG_PREFIX": "dagster/compute-logs",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def _write_home(tmp_path: Path, config: dict) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return home


def _validate_class_config(section: dict) -> object:
    """Resolve a configurable-class section the way the instance does (``{env: ...}`` included)."""
    cls = getattr(importlib.import_module(section["module"]), section["class"])
    result = process_config(dg.Field(cls.config_type()).config_type, section.get("config") or {})
    assert result.success, result.errors
    return result.value


def test_production_yaml_renders_and_matches_the_instance_schema(tmp_path, ecs_env, monkeypatch):
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "x" if name != "DAGSTER_PG_PORT" else "5432")
    config = render_instance(PROD_YAML)
    home = _write_home(tmp_path, config)
    validated, custom_class = dagster_instance_config(str(home))
    assert custom_class is None
    assert validated["run_launcher"]["class"] == "BatchGpuRunLauncher"  # an EcsRunLauncher + Batch
    assert validated["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert validated["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert validated["telemetry"]["enabled"] is False

    launcher = _validate_class_config(config["run_launcher"])
    assert launcher["task_definition"] == {"env": "DAGSTER_ECS_TASK_DEFINITION"}
    assert launcher["container_name"] == "run"
    assert launcher["include_sidecars"] is False
    assert launcher["use_current_ecs_task_config"] is False
    assert launcher["run_task_kwargs"]["cluster"] == "bitbybit"
    assert launcher["run_task_kwargs"]["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [
        "subnet-0a",
        "subnet-0b",
    ]
    coordinator = _validate_class_config(config["run_coordinator"])
    assert coordinator["tag_concurrency_limits"] == EXPECTED_LIMITS
    assert coordinator["max_concurrent_runs"] >= 3  # ingest, scoring, publish of one day can queue
    logs = _validate_class_config(config["compute_logs"])
    assert logs["bucket"] == BUCKET and logs["prefix"] == "dagster/compute-logs"


def test_production_yaml_refuses_to_render_without_the_network(monkeypatch):
    monkeypatch.delenv("DAGSTER_ECS_SUBNETS", raising=False)
    monkeypatch.setenv("DAGSTER_ECS_SECURITY_GROUPS", "sg-1")
    with pytest.raises(RenderError, match="DAGSTER_ECS_SUBNETS"):
        render_instance(PROD_YAML)


def test_entrypoint_renders_the_instance_into_dagster_home(tmp_path, ecs_env):
    if not shutil.which("sh"):
        pytest.skip("no POSIX shell")
    home = tmp_path / "home"
    env = {**os.environ, "DAGSTER_HOME": str(home), "BITBYBIT_APP_DIR": str(PROJECT_ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(
        ["sh", str(PROJECT_ROOT / "deploy" / "docker" / "entrypoint.sh"), "render-instance"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert out.stdout.strip() == str(home / "dagster.yaml")
    rendered = yaml.safe_load((home / "dagster.yaml").read_text())
    assert rendered["run_launcher"]["config"]["run_task_kwargs"]["networkConfiguration"]["awsvpcConfiguration"][
        "securityGroups"
    ] == ["sg-0123"]
    assert rendered["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    passthrough = subprocess.run(
        ["sh", str(PROJECT_ROOT / "deploy" / "docker" / "entrypoint.sh"), "python", "-c", "print('run task')"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert passthrough.stdout.strip() == "run task"


@pytest.fixture
def pg_database(monkeypatch) -> Iterator[str]:
    """A throwaway database on the local server; the DAGSTER_PG_* variables point at it."""
    name, _ = create_database(prefix="bitbybit_deploy")
    parts = psycopg2.extensions.parse_dsn(ADMIN_DSN)
    monkeypatch.setenv("DAGSTER_PG_HOST", parts.get("host", "127.0.0.1"))
    monkeypatch.setenv("DAGSTER_PG_PORT", str(parts.get("port", "5432")))
    monkeypatch.setenv("DAGSTER_PG_USER", parts.get("user", "postgres"))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", parts.get("password", ""))
    monkeypatch.setenv("DAGSTER_PG_DB", name)
    try:
        yield name
    finally:
        drop_database(name)


@dg.op
def _noop() -> None:
    return None


@dg.job
def deploy_smoke_job() -> None:
    _noop()


@pytest.mark.integration
def test_production_instance_runs_on_postgres_with_the_ecs_launcher(tmp_path, aws, ecs_env, pg_database):
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="bitbybit")
    doc = render_json(DEPLOY_AWS / "ecs" / "run-cpu.json", template_values())
    td_arn = ecs.register_task_definition(**doc)["taskDefinition"]["taskDefinitionArn"]
    boto3.client("s3").create_bucket(Bucket=BUCKET)

    home = _write_home(tmp_path, render_instance(PROD_YAML))
    instance = DagsterInstance.from_config(str(home))
    try:
        launcher = instance.run_launcher
        assert isinstance(launcher, EcsRunLauncher)
        assert launcher.task_definition == td_arn
        assert launcher.run_task_kwargs["cluster"] == "bitbybit"
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        limits = coordinator.get_run_queue_config().tag_concurrency_limits
        assert [dict(limit) for limit in limits] == EXPECTED_LIMITS
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        assert isinstance(instance.run_storage, PostgresRunStorage)

        run = instance.create_run_for_job(deploy_smoke_job, tags={"bitbybit/compute": "cpu"})
        assert instance.get_run_by_id(run.run_id).tags["bitbybit/compute"] == "cpu"
    finally:
        instance.dispose()

    # the run is in Postgres: read it back with a plain connection
    parts = psycopg2.extensions.parse_dsn(ADMIN_DSN)
    parts["dbname"] = pg_database
    with psycopg2.connect(**parts) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, pipeline_name FROM runs")
        assert cur.fetchall() == [(run.run_id, "deploy_smoke_job")]
    conn.close()


def test_compose_instance_matches_the_schema(tmp_path, monkeypatch):
    for name, value in {
        "DAGSTER_PG_HOST": "postgres", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "u",
        "DAGSTER_PG_PASSWORD": "p", "DAGSTER_PG_DB": "dagster", "DAGSTER_COMPUTE_LOG_BUCKET": "bitbybit",
        "DAGSTER_COMPUTE_LOG_PREFIX": "dagster/compute-logs", "AWS_ENDPOINT_URL": "http://s3:8333",
    }.items():
        monkeypatch.setenv(name, value)
    config = yaml.safe_load(COMPOSE_YAML.read_text())
    home = _write_home(tmp_path, config)
    validated, _ = dagster_instance_config(str(home))
    assert validated["run_launcher"]["class"] == DefaultRunLauncher.__name__
    assert _validate_class_config(config["run_coordinator"])["tag_concurrency_limits"] == EXPECTED_LIMITS
    assert _validate_class_config(config["compute_logs"])["endpoint_url"] == "http://s3:8333"
    # the compose stack shares production's storage section: one place to change the database
    assert config["storage"] == yaml.safe_load(PROD_YAML.read_text())["storage"]
