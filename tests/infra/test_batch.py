"""The Batch GPU option against moto's Batch API served on loopback (jobs run without Docker:
moto's simple Batch backend moves them to SUCCEEDED, or FAILED with MOTO_SIMPLE_BATCH_FAIL_AFTER)."""

from __future__ import annotations

import boto3
import pytest
import requests
from moto.batch.models import batch_backends

from resources.batch import BatchClient, BatchJobError, JobState, failure_message, gpu_spec_for_run
from tests.support.moto_server import ACCOUNT_ID, REGION, moto_endpoint, use_moto_account  # noqa: F401  (fixture)


@pytest.fixture
def batch(moto_endpoint, monkeypatch):  # noqa: F811  (the imported fixture)
    """A GPU compute environment, queue and job definition as the staging stack creates them."""
    use_moto_account(moto_endpoint, monkeypatch)
    requests.post(f"{moto_endpoint}/moto-api/config", json={"batch": {"use_docker": False}},
                  timeout=10).raise_for_status()
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", raising=False)
    ec2 = boto3.client("ec2", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.41.0.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName="bitbybit-gpu-instance", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="gpu")["InstanceProfile"]["Arn"]
    client = boto3.client("batch", region_name=REGION)
    env = client.create_compute_environment(
        computeEnvironmentName="bitbybit-gpu", type="MANAGED", state="ENABLED", serviceRole=role,
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 4, "instanceTypes": ["g4dn.xlarge"],
                          "subnets": [subnet], "securityGroupIds": [sg], "instanceRole": profile})
    client.create_job_queue(jobQueueName="bitbybit-gpu", state="ENABLED", priority=1,
                            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}])
    client.register_job_definition(
        jobDefinitionName="bitbybit-scoring-gpu", type="container",
        containerProperties={"image": "bitbybit:1.0.0-cuda", "command": ["dagster", "--version"],
                             "resourceRequirements": [{"type": "VCPU", "value": "4"},
                                                      {"type": "MEMORY", "value": "14336"},
                                                      {"type": "GPU", "value": "1"}]})
    return client


def _spec(**overrides):
    args = dict(run_id="0123456789abcdef", job_name="scoring", command=["dagster", "api", "execute_run", "{}"],
                queue="bitbybit-gpu", definition="bitbybit-scoring-gpu",
                tags={"ecs/cpu": "4096", "ecs/memory": "14336", "dagster/partition": "2026-08-05"},
                timeout_seconds=600, attempts=2)
    args.update(overrides)
    return gpu_spec_for_run(**args)


class _Clock:
    """A clock the wait loop advances itself (no real waiting, no timing in the assertions)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_job_is_submitted_with_the_gpu_requirement_and_followed_to_success(batch):
    client = BatchClient(log_group="/ecs/bitbybit")
    job_id = client.submit(_spec())
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    # DescribeJobs in moto does not echo resourceRequirements: read what its API received
    received = batch_backends[ACCOUNT_ID][REGION]._jobs[job_id].container_overrides
    requirements = {r["type"]: r["value"] for r in received["resourceRequirements"]}
    assert requirements == {"VCPU": "4", "MEMORY": "14336", "GPU": "1"}
    assert job["container"]["command"][:3] == ["dagster", "api", "execute_run"]
    assert job["jobQueue"].endswith("job-queue/bitbybit-gpu")
    assert job["timeout"]["attemptDurationSeconds"] == 600

    seen: list[str] = []
    clock = _Clock()
    state = client.wait(job_id, poll_seconds=0.5, timeout_seconds=3600, on_change=lambda s: seen.append(s.status),
                        clock=clock, sleep=lambda s: (clock.sleep(s), __import__("time").sleep(0.05)))
    assert state.status == "SUCCEEDED" and state.finished
    assert seen[-1] == "SUCCEEDED" and len(seen) == len(set(seen))  # each status change reported once


def test_a_failed_job_is_surfaced_with_its_reason(batch, monkeypatch):
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # read by moto's server in this process
    client = BatchClient(log_group="/ecs/bitbybit")
    job_id = client.submit(_spec())
    clock = _Clock()
    with pytest.raises(BatchJobError) as err:
        client.wait(job_id, poll_seconds=0.5, timeout_seconds=3600, clock=clock,
                    sleep=lambda s: (clock.sleep(s), __import__("time").sleep(0.05)))
    assert f"Batch job {job_id} FAILED" in str(err.value)
    assert client.state(job_id).status == "FAILED"


def test_unknown_job_and_failure_message():
    msg = failure_message(JobState("j-1", "FAILED", "Essential container in task exited", 137, 2, "s"),
                          ["Traceback ...", "CUDA out of memory"])
    assert msg.startswith("Batch job j-1 FAILED after 2 attempt(s), exit code 137: Essential container")
    assert msg.endswith("CUDA out of memory")


def test_spec_sizes_from_the_run_tags():
    spec = _spec(tags={"ecs/cpu": "8192", "ecs/memory": "30000"})
    kwargs = spec.submit_kwargs()
    reqs = {r["type"]: r["value"] for r in kwargs["containerOverrides"]["resourceRequirements"]}
    assert reqs == {"VCPU": "8", "MEMORY": "30000", "GPU": "1"}
    assert kwargs["jobName"] == "scoring-01234567"
    assert kwargs["retryStrategy"] == {"attempts": 2} and kwargs["propagateTags"] is True
    assert kwargs["tags"] == {"dagster/run_id": "0123456789abcdef", "dagster/job_name": "scoring",
                              "bitbybit/compute": "gpu"}
