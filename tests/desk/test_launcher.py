"""desk.launcher: the detached ``bitbybit`` process (with a stand-in interpreter) and the GraphQL
submission (with a stand-in client); the real CLI launch is exercised in test_send_flow/test_browser."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from desk import launcher as launcher_mod
from desk.launcher import GraphQLLauncher, LaunchError, SubprocessLauncher, dagster_ui_url, launcher_from_env

DAY = date(2026, 8, 5)


def _fake_python(tmp_path: Path, exit_code: int) -> str:
    """An executable that stands in for ``python``: it writes its arguments and exits."""
    script = tmp_path / "fake-python"
    script.write_text(f'#!/bin/sh\necho "args: $*"\necho "home: $DAGSTER_HOME"\nexit {exit_code}\n')
    script.chmod(0o755)
    return str(script)


def _wait_exit(launcher: SubprocessLauncher, run_id: str) -> int:
    for _ in range(100):
        code = launcher.exit_code(run_id)
        if code is not None:
            return code
        time.sleep(0.05)
    raise AssertionError("the launched process did not end")


def test_subprocess_launch_runs_the_cli_detached_with_a_chosen_run_id(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    launcher = SubprocessLauncher(tmp_path / "logs", python=_fake_python(tmp_path, 3))
    launch = launcher.launch("delivery", DAY, "ann")
    assert launch.error is None and launch.pid and launch.via == "subprocess"
    assert (launch.kind, launch.job_name, launch.requested_by) == ("delivery", "deliver_newsletter", "desk:ann")
    assert _wait_exit(launcher, launch.run_id) == 3
    out = Path(launch.log_path).read_text()
    assert f"args: -m bitbybit_assets.cli send --day 2026-08-05 --by desk:ann --run-id {launch.run_id}" in out
    assert f"home: {tmp_path / 'home'}" in out
    assert launcher.command("pipeline", DAY, "ann", "R")[-7:] == [
        "run", "--start", "2026-08-05", "--run-id", "R", "--trigger", "desk"]
    assert launcher.exit_code("unknown") is None and launcher.final_job("pipeline") is None


def test_subprocess_launch_refuses_without_dagster_home(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    launch = SubprocessLauncher(tmp_path / "logs", python=_fake_python(tmp_path, 0)).launch("pipeline", DAY, "ann")
    assert "DAGSTER_HOME is not set" in launch.error and launch.pid is None


class FakeClient:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail = fail

    def submit_job_execution(self, job_name, run_config=None, tags=None):
        if self.fail:
            raise RuntimeError("PipelineNotFoundError")
        self.calls.append((job_name, run_config, tags))
        return "run-123"


def test_graphql_launch_submits_the_scheduled_job_with_the_partition_tag():
    client = FakeClient()
    local = GraphQLLauncher("http://dagster:3000", env="local", client_factory=lambda: client)
    launch = local.launch("pipeline", DAY, "ann")
    assert (launch.run_id, launch.job_name, launch.via, launch.error) == ("run-123", "daily_pipeline", "graphql", None)
    job, config, tags = client.calls[0]
    assert config is None and tags == {"dagster/partition": "2026-08-05", "bitbybit/trigger": "desk",
                                       "bitbybit/requested_by": "desk:ann"}
    local.launch("delivery", DAY, "ann")
    job, config, _ = client.calls[1]
    assert job == "deliver_newsletter"
    assert config["ops"]["newsletter_deliveries"]["config"]["requested_by"] == "desk:ann"
    # production: the first of the three chained jobs; the launch ends with publish
    prod = GraphQLLauncher("https://dagster.internal/prefix", env="prod", client_factory=lambda: client)
    assert prod.launch("pipeline", DAY, "ann").job_name == "ingest" and prod.final_job("pipeline") == "publish"
    assert prod.final_job("delivery") is None


def test_graphql_errors_become_a_recorded_failed_launch():
    launch = GraphQLLauncher("http://dagster:3000", client_factory=lambda: FakeClient(fail=True)).launch(
        "pipeline", DAY, "ann")
    assert launch.error.startswith("Dagster refused the run: PipelineNotFoundError")
    assert launch.run_id.startswith("failed-")
    with pytest.raises(LaunchError):
        GraphQLLauncher("dagster:3000")


def test_graphql_client_is_built_from_the_url():
    client = GraphQLLauncher("https://dagster.example.org:8443/ops").client()
    assert client._url == "https://dagster.example.org:8443/ops/graphql"


def test_choice_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(launcher_mod.DAGSTER_URL_ENV, raising=False)
    monkeypatch.delenv(launcher_mod.DAGSTER_UI_URL_ENV, raising=False)
    assert isinstance(launcher_from_env(tmp_path, env="local"), SubprocessLauncher)
    assert dagster_ui_url() == "http://127.0.0.1:3000"
    monkeypatch.setenv(launcher_mod.DAGSTER_URL_ENV, "http://webserver:3000/")
    assert isinstance(launcher_from_env(tmp_path, env="prod"), GraphQLLauncher)
    assert dagster_ui_url() == "http://webserver:3000"
    monkeypatch.setenv(launcher_mod.DAGSTER_UI_URL_ENV, "https://dagster.example.org")
    assert dagster_ui_url() == "https://dagster.example.org"
