"""The production run launcher puts the scoring run on a GPU task and every other run on Fargate.

Against moto's ECS API served on loopback (the way dagster-aws's own launcher tests build an
``EcsRunLauncher`` inside ``instance_for_test``): the cluster, the GPU capacity provider and the task
definitions from ``deploy/aws/ecs`` are registered, the launcher is configured from the repository's
``dagster.yaml``, and runs of the real ``scoring`` and ``ingest`` jobs (their tags from
``bitbybit_assets/jobs.py``) are launched. What ECS was asked for is read back from moto's tasks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from dagster._core.test_utils import in_process_test_workspace, instance_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_aws.ecs import EcsRunLauncher
from render import render_instance, render_json

from bitbybit_assets.jobs import INGEST_JOB_NAME, SCORING_JOB_NAME, gpu_run_tags
from tests.deploy.conftest import ACCOUNT_ID, DEPLOY_AWS, PROJECT_ROOT, REGION, template_values

CLUSTER = "bitbybit"
GPU_PROVIDER = "bitbybit-gpu"
PARTITION = "2026-08-04"


@dataclass
class EcsWorld:
    ecs: object
    subnet_id: str
    security_group_id: str
    task_definitions: dict[str, dict]


@pytest.fixture
def ecs_world(aws: str, monkeypatch) -> EcsWorld:
    """VPC, cluster with FARGATE + a GPU EC2 capacity provider (one g4dn instance registered),
    and the four task definitions rendered from deploy/aws/ecs."""
    ec2 = boto3.resource("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")
    # awsvpc tasks (and interface VPC endpoints) need DNS hostnames in the VPC
    ec2.meta.client.modify_vpc_attribute(VpcId=vpc.id, EnableDnsHostnames={"Value": True})
    subnet = vpc.create_subnet(CidrBlock="10.20.1.0/24")
    sg = vpc.create_security_group(GroupName="bitbybit-runs", Description="run tasks")
    ecs = boto3.client("ecs")
    ecs.create_capacity_provider(
        name=GPU_PROVIDER,
        autoScalingGroupProvider={
            "autoScalingGroupArn": (
                f"arn:aws:autoscaling:{REGION}:{ACCOUNT_ID}:autoScalingGroup:"
                "0f0f0f0f-0000-4000-8000-000000000000:autoScalingGroupName/bitbybit-gpu"
            ),
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
                               "maximumScalingStepSize": 1},
            "managedTerminationProtection": "DISABLED",
        },
    )
    ecs.create_cluster(
        clusterName=CLUSTER,
        capacityProviders=["FARGATE", GPU_PROVIDER],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    image_id = ec2.meta.client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    (gpu_host,) = ec2.create_instances(
        ImageId=image_id, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1, SubnetId=subnet.id
    )
    ecs.register_container_instance(
        cluster=CLUSTER,
        instanceIdentityDocument=json.dumps({"instanceId": gpu_host.id, "instanceType": "g4dn.xlarge"}),
    )
    values = template_values(SUBNETS=subnet.id, RUN_SECURITY_GROUP=sg.id)
    registered = {}
    for name in ("run-cpu", "run-gpu", "daemon", "webserver"):
        doc = render_json(DEPLOY_AWS / "ecs" / f"{name}.json", values)
        registered[name] = ecs.register_task_definition(**doc)["taskDefinition"]
    monkeypatch.setenv("DAGSTER_ECS_TASK_DEFINITION", "bitbybit-run-cpu")
    monkeypatch.setenv("DAGSTER_ECS_CONTAINER_NAME", "run")
    monkeypatch.setenv("DAGSTER_ECS_CLUSTER", CLUSTER)
    monkeypatch.setenv("DAGSTER_ECS_SUBNETS", subnet.id)
    monkeypatch.setenv("DAGSTER_ECS_SECURITY_GROUPS", sg.id)
    return EcsWorld(ecs, subnet.id, sg.id, registered)


@pytest.fixture
def instance(ecs_world: EcsWorld) -> Iterator:
    """A test instance whose run launcher is the production one from dagster.yaml."""
    launcher_config = render_instance(PROJECT_ROOT / "dagster.yaml")["run_launcher"]
    with instance_for_test(overrides={"run_launcher": launcher_config}) as inst:
        yield inst


@pytest.fixture
def workspace(instance) -> Iterator:
    origin = LoadableTargetOrigin(
        module_name="bitbybit_assets.definitions", working_directory=str(PROJECT_ROOT)
    )
    with in_process_test_workspace(instance, origin, container_image="bitbybit:cpu") as ws:
        yield ws


def _remote_job(workspace, job_name: str):
    location = workspace.get_code_location(workspace.code_location_names[0])
    (repo,) = location.get_repositories().values()
    return repo.get_full_job(job_name)


def _launch(instance, workspace, job_name: str, extra_tags: dict[str, str] | None = None) -> dict:
    """Create a run of ``job_name`` with its definition's tags, launch it, return moto's task."""
    from bitbybit_assets.definitions import build_definitions

    job_def = build_definitions().resolve_job_def(job_name)
    remote = _remote_job(workspace, job_name)
    tags = {**job_def.tags, "dagster/partition": PARTITION, **(extra_tags or {})}
    run = instance.create_run_for_job(
        job_def=job_def,
        remote_job_origin=remote.get_remote_origin(),
        job_code_origin=remote.get_python_origin(),
        tags=tags,
    )
    instance.launch_run(run.run_id, workspace)
    run = instance.get_run_by_id(run.run_id)
    task_arn = run.tags["ecs/task_arn"]
    ecs = boto3.client("ecs")
    (task,) = ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn], include=["TAGS"])["tasks"]
    return task


def _ecs_tags(task: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in task.get("tags", [])}


def test_dagster_yaml_configures_the_ecs_launcher(instance, ecs_world: EcsWorld):
    launcher = instance.run_launcher
    assert isinstance(launcher, EcsRunLauncher)
    assert launcher.task_definition == ecs_world.task_definitions["run-cpu"]["taskDefinitionArn"]
    assert launcher.container_name == "run"
    assert launcher.use_current_ecs_task_config is False
    assert launcher.include_sidecars is False
    assert launcher.run_task_kwargs["cluster"] == CLUSTER
    assert launcher.run_task_kwargs["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": [ecs_world.subnet_id],
        "securityGroups": [ecs_world.security_group_id],
        "assignPublicIp": "DISABLED",
    }


def test_scoring_run_requests_a_gpu_and_ingest_does_not(instance, workspace, ecs_world: EcsWorld):
    scoring_tags = gpu_run_tags()
    scoring = _launch(instance, workspace, SCORING_JOB_NAME)
    ingest = _launch(instance, workspace, INGEST_JOB_NAME)

    # scoring: one GPU on the run container, the larger size, the GPU (EC2) capacity provider
    (s_container,) = scoring["overrides"]["containerOverrides"]
    assert s_container["name"] == "run"
    assert s_container["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert s_container["cpu"] == int(scoring_tags["ecs/cpu"])
    assert s_container["memory"] == int(scoring_tags["ecs/memory"])
    assert scoring["overrides"]["cpu"] == scoring_tags["ecs/cpu"]
    assert scoring["overrides"]["memory"] == scoring_tags["ecs/memory"]
    assert scoring["capacityProviderName"] == GPU_PROVIDER
    assert scoring["containerInstanceArn"]  # placed on the registered GPU instance, not Fargate
    assert s_container["command"][:3] == ["dagster", "api", "execute_run"]
    assert _ecs_tags(scoring)["bitbybit/compute"] == "gpu"
    assert _ecs_tags(scoring)["dagster/job_name"] == SCORING_JOB_NAME
    assert _ecs_tags(scoring)["dagster/partition"] == PARTITION

    # ingest: no GPU, no size override (the CPU task definition's 1 vCPU / 4 GiB), Fargate
    (i_container,) = ingest["overrides"]["containerOverrides"]
    assert i_container["name"] == "run"
    assert "resourceRequirements" not in i_container
    assert "cpu" not in i_container and "memory" not in i_container
    assert "cpu" not in ingest["overrides"] and "memory" not in ingest["overrides"]
    assert ingest["capacityProviderName"] == "FARGATE"
    assert not ingest.get("containerInstanceArn")
    assert ingest["taskDefinitionArn"] == ecs_world.task_definitions["run-cpu"]["taskDefinitionArn"]
    assert i_container["command"][:3] == ["dagster", "api", "execute_run"]
    assert _ecs_tags(ingest)["bitbybit/compute"] == "cpu"

    cpu_td = ecs_world.task_definitions["run-cpu"]
    assert int(scoring_tags["ecs/cpu"]) > int(cpu_td["cpu"])
    assert int(scoring_tags["ecs/memory"]) > int(cpu_td["memory"])
    for task in (scoring, ingest):
        assert task["clusterArn"].endswith(f":cluster/{CLUSTER}")
        attachment = task["attachments"][0]
        details = {d["name"]: d["value"] for d in attachment["details"]}
        assert details["subnetId"] == ecs_world.subnet_id


def test_run_task_kwargs_tag_can_select_the_gpu_task_definition(instance, workspace, ecs_world: EcsWorld):
    """The mechanism DEPLOYMENT.md relies on for the CUDA image: a ``taskDefinition`` inside the
    ``ecs/run_task_kwargs`` run tag replaces the launcher's task definition for that run only."""
    tags = gpu_run_tags()
    kwargs = json.loads(tags["ecs/run_task_kwargs"])
    kwargs["taskDefinition"] = "bitbybit-run-gpu"
    task = _launch(instance, workspace, SCORING_JOB_NAME, {"ecs/run_task_kwargs": json.dumps(kwargs)})
    assert task["taskDefinitionArn"] == ecs_world.task_definitions["run-gpu"]["taskDefinitionArn"]
    assert task["capacityProviderName"] == GPU_PROVIDER
    (container,) = task["overrides"]["containerOverrides"]
    assert container["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    gpu_td = ecs_world.task_definitions["run-gpu"]
    (td_container,) = gpu_td["containerDefinitions"]
    assert td_container["name"] == "run"
    assert td_container["image"].endswith("-cuda")
    assert {"type": "GPU", "value": "1"} in td_container["resourceRequirements"]
    assert gpu_td["requiresCompatibilities"] == ["EC2"]
    # the next ingest run still uses the launcher's CPU task definition
    ingest = _launch(instance, workspace, INGEST_JOB_NAME)
    assert ingest["taskDefinitionArn"] == ecs_world.task_definitions["run-cpu"]["taskDefinitionArn"]


def test_scoring_job_runs_the_cuda_task_definition(instance, workspace, ecs_world: EcsWorld):
    task = _launch(instance, workspace, SCORING_JOB_NAME)
    assert task["taskDefinitionArn"] == ecs_world.task_definitions["run-gpu"]["taskDefinitionArn"]
