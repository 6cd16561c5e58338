"""``deployment.gpu_runner: batch`` end to end against moto: the production ``dagster.yaml`` launcher
(``resources.batch.BatchGpuRunLauncher``) sends the real ``scoring`` run to the Batch GPU queue with
the GPU requirement, follows it through run monitoring's health check, surfaces a failed job with
its reason, and still launches every other run on ECS.

moto's simple Batch backend runs jobs without Docker: SUCCEEDED, or FAILED when
``MOTO_SIMPLE_BATCH_FAIL_AFTER`` is set (read by the server thread in this process).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import boto3
import pytest
import requests
from dagster import DagsterRunStatus
from dagster._core.launcher import WorkerStatus
from dagster._core.test_utils import in_process_test_workspace, instance_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from moto.batch.models import batch_backends
from render import render_instance

from bitbybit_assets.jobs import INGEST_JOB_NAME, SCORING_JOB_NAME, gpu_run_tags
from resources.batch import JOB_ID_TAG, JOB_QUEUE_TAG, RUNNER_TAG
from tests.deploy.conftest import ACCOUNT_ID, PROJECT_ROOT, REGION
from tests.deploy.test_ecs_launcher import EcsWorld, ecs_world  # noqa: F401  (fixture)

QUEUE = "bitbybit-gpu"
JOB_DEFINITION = "bitbybit-scoring-gpu"
PARTITION = "2026-08-04"


@pytest.fixture
def batch_world(ecs_world: EcsWorld, monkeypatch) -> None:  # noqa: F811
    """The Batch GPU compute environment, queue and job definition, and the variables the stack
    sets where ``batch: true`` (BITBYBIT_GPU_RUNNER=batch, queue, job definition, log group)."""
    requests.post(f"{os.environ['AWS_ENDPOINT_URL']}/moto-api/config", json={"batch": {"use_docker": False}},
                  timeout=10).raise_for_status()
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="bitbybit-batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="bitbybit-gpu")["InstanceProfile"]["Arn"]
    batch = boto3.client("batch")
    env = batch.create_compute_environment(
        computeEnvironmentName="bitbybit-gpu", type="MANAGED", state="ENABLED", serviceRole=role,
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 4, "instanceTypes": ["g4dn.xlarge"],
                          "subnets": [ecs_world.subnet_id], "securityGroupIds": [ecs_world.security_group_id],
                          "instanceRole": profile})
    batch.create_job_queue(jobQueueName=QUEUE, state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}])
    batch.register_job_definition(
        jobDefinitionName=JOB_DEFINITION, type="container",
        containerProperties={"image": "bitbybit:1.0.0-cuda", "command": ["dagster", "--version"],
                             "resourceRequirements": [{"type": "VCPU", "value": "4"},
                                                      {"type": "MEMORY", "value": "14336"},
                                                      {"type": "GPU", "value": "1"}]})
    monkeypatch.setenv("BITBYBIT_GPU_RUNNER", "batch")
    monkeypatch.setenv("BITBYBIT_BATCH_JOB_QUEUE", QUEUE)
    monkeypatch.setenv("BITBYBIT_BATCH_JOB_DEFINITION", JOB_DEFINITION)
    monkeypatch.setenv("BITBYBIT_BATCH_LOG_GROUP", "/ecs/bitbybit")
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", raising=False)


@pytest.fixture
def instance(batch_world) -> Iterator:
    launcher_config = render_instance(PROJECT_ROOT / "dagster.yaml")["run_launcher"]
    with instance_for_test(overrides={"run_launcher": launcher_config}) as inst:
        yield inst


@pytest.fixture
def workspace(instance) -> Iterator:
    origin = LoadableTargetOrigin(module_name="bitbybit_assets.definitions", working_directory=str(PROJECT_ROOT))
    with in_process_test_workspace(instance, origin, container_image="bitbybit:cpu") as ws:
        yield ws


def _launch(instance, workspace, job_name: str):
    from bitbybit_assets.definitions import build_definitions

    job_def = build_definitions().resolve_job_def(job_name)
    location = workspace.get_code_location(workspace.code_location_names[0])
    (repo,) = location.get_repositories().values()
    remote = repo.get_full_job(job_name)
    run = instance.create_run_for_job(
        job_def=job_def, remote_job_origin=remote.get_remote_origin(), job_code_origin=remote.get_python_origin(),
        tags={**job_def.tags, "dagster/partition": PARTITION},
    )
    instance.launch_run(run.run_id, workspace)
    return instance.get_run_by_id(run.run_id)


def _health_until_finished(instance, run, tries: int = 200):
    """Run monitoring's view of the run, polled until the Batch job is no longer running."""
    for _ in range(tries):
        result = instance.run_launcher.check_run_worker_health(run)
        if result.status != WorkerStatus.RUNNING:
            return result
        time.sleep(0.05)
    raise AssertionError(f"Batch job still running after {tries} polls: {result.msg}")


def test_scoring_run_is_a_batch_gpu_job_and_ingest_stays_on_ecs(instance, workspace):
    tags = gpu_run_tags()
    assert tags[RUNNER_TAG] == "batch"
    scoring = _launch(instance, workspace, SCORING_JOB_NAME)
    job_id = scoring.tags[JOB_ID_TAG]
    assert scoring.tags[JOB_QUEUE_TAG] == QUEUE and "ecs/task_arn" not in scoring.tags

    (job,) = boto3.client("batch").describe_jobs(jobs=[job_id])["jobs"]
    assert job["jobQueue"].endswith(f"job-queue/{QUEUE}")
    assert job["container"]["command"][:3] == ["dagster", "api", "execute_run"]
    assert job["tags"]["dagster/partition"] == PARTITION and job["tags"]["bitbybit/compute"] == "gpu"
    received = batch_backends[ACCOUNT_ID][REGION]._jobs[job_id].container_overrides  # not echoed by DescribeJobs
    requirements = {r["type"]: r["value"] for r in received["resourceRequirements"]}
    assert requirements == {"VCPU": str(int(tags["ecs/cpu"]) // 1024), "MEMORY": tags["ecs/memory"], "GPU": "1"}
    events = [e.message for e in instance.all_logs(scoring.run_id) if e.message]
    assert any(f"AWS Batch job {job_id}" in m for m in events)  # shown in the run's log in the UI

    assert _health_until_finished(instance, scoring).status == WorkerStatus.SUCCESS

    ingest = _launch(instance, workspace, INGEST_JOB_NAME)  # no Batch tag: the ECS path, unchanged
    assert ingest.tags.get(RUNNER_TAG) is None and "ecs/task_arn" in ingest.tags
    assert JOB_ID_TAG not in ingest.tags


def test_a_failed_batch_job_fails_the_run_health_check_with_its_reason(instance, workspace, monkeypatch):
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    scoring = _launch(instance, workspace, SCORING_JOB_NAME)
    result = _health_until_finished(instance, scoring)
    assert result.status == WorkerStatus.FAILED
    assert result.msg.startswith(f"Batch job {scoring.tags[JOB_ID_TAG]} FAILED")


def test_terminate_stops_the_batch_job(instance, workspace):
    scoring = _launch(instance, workspace, SCORING_JOB_NAME)
    assert instance.run_launcher.terminate(scoring.run_id) is True  # TerminateJob accepted by the API
    assert instance.get_run_by_id(scoring.run_id).status == DagsterRunStatus.CANCELING
