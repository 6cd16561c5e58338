"""The CloudFormation templates and deploy/aws documents rendered from infra/: pinned (the committed
files are the snapshots), linted, consistent with config/production.yaml, and the resources moto's
CloudFormation implements created from them."""

from __future__ import annotations

import json
import re
import warnings

import boto3
import pytest
from moto import mock_aws

from bitbybit_base.settings import runtime_settings
from infra.__main__ import CFN_DIR, cfn_lint, consistency_errors
from infra.documents import fragments, task_definition
from infra.template import environment_template

REGION = "us-east-1"


def test_committed_files_are_the_rendered_ones(files):
    """Snapshot: every committed template and document is exactly what infra/ renders now
    (after a change: ``python -m infra render`` and review the diff)."""
    stale = [str(p) for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    assert not stale, f"re-render with `python -m infra render`: {stale}"
    assert {p.name for p in files if p.parent == CFN_DIR} == {"bootstrap.json", "staging.json", "prod.json"}


def test_rendering_is_deterministic(envs):
    deploy = runtime_settings().deployment
    first = json.dumps(environment_template(envs["prod"], deploy.gpu_task_cpu, deploy.gpu_task_memory))
    second = json.dumps(environment_template(envs["prod"], deploy.gpu_task_cpu, deploy.gpu_task_memory))
    assert first == second


def test_cfn_lint_passes_every_template(files, tmp_path):
    paths = []
    for path, text in files.items():
        if path.parent == CFN_DIR:
            (tmp_path / path.name).write_text(text)
            paths.append(tmp_path / path.name)
    code, output = cfn_lint(paths)
    assert code == 0, output


def test_cfn_lint_catches_a_broken_template(envs, tmp_path):
    """The gate is real: an invalid property fails the check."""
    deploy = runtime_settings().deployment
    template = environment_template(envs["staging"], deploy.gpu_task_cpu, deploy.gpu_task_memory)
    template["Resources"]["LogGroup"]["Properties"]["RetentionInDays"] = 31  # not an allowed value
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(template))
    code, output = cfn_lint([path])
    assert code != 0 and "E3030:31 is not one of" in output


def test_environments_differ_where_configured(envs):
    deploy = runtime_settings().deployment
    staging = environment_template(envs["staging"], deploy.gpu_task_cpu, deploy.gpu_task_memory)["Resources"]
    prod = environment_template(envs["prod"], deploy.gpu_task_cpu, deploy.gpu_task_memory)["Resources"]
    assert prod["Database"]["Properties"]["MultiAZ"] is True
    assert staging["Database"]["Properties"]["MultiAZ"] is False
    assert prod["Database"]["Properties"]["DeletionProtection"] is True
    assert "BatchJobQueue" in staging and "BatchJobQueue" not in prod
    assert "EcrApiEndpoint" in prod and "EcrApiEndpoint" not in staging
    assert staging["Vpc"]["Properties"]["CidrBlock"] != prod["Vpc"]["Properties"]["CidrBlock"]


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_every_taggable_resource_is_tagged(envs, env_name):
    """Cost allocation: ``project`` and ``environment`` on everything that takes tags."""
    deploy = runtime_settings().deployment
    resources = environment_template(envs[env_name], deploy.gpu_task_cpu, deploy.gpu_task_memory)["Resources"]
    untagged_types = {  # these resource types have no Tags property
        "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::Route",
        "AWS::EC2::VPCEndpoint", "AWS::EC2::SecurityGroupIngress", "AWS::S3::BucketPolicy",
        "AWS::IAM::InstanceProfile", "AWS::EC2::LaunchTemplate", "AWS::ECS::ClusterCapacityProviderAssociations",
        "AWS::ServiceDiscovery::Service", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription",
        "AWS::SQS::QueuePolicy", "AWS::SES::ConfigurationSet", "AWS::SES::ConfigurationSetEventDestination",
        "AWS::Events::Rule", "AWS::Logs::MetricFilter", "AWS::CloudWatch::Alarm", "AWS::Budgets::Budget",
        "AWS::CloudWatch::Dashboard", "AWS::RDS::DBProxyTargetGroup",
    }
    for logical, resource in resources.items():
        if resource["Type"] in untagged_types:
            continue
        props = resource["Properties"]
        found = props.get("Tags") or props.get("ComputeResources", {}).get("Tags")
        assert found, f"{logical} has no tags"
        pairs = found if isinstance(found, dict) else {t["Key"]: t["Value"] for t in found}
        assert pairs.get("project") == "bitbybit" and pairs.get("environment") == env_name, logical
    # what the GPU instances and the tasks they run carry (the launch template tags them)
    spec = resources["GpuLaunchTemplate"]["Properties"]["LaunchTemplateData"]["TagSpecifications"]
    assert {t["Key"] for t in spec[0]["Tags"]} >= {"project", "environment"}


def test_gpu_task_is_sized_by_the_deployment_settings(envs):
    deploy = runtime_settings().deployment
    resources = environment_template(envs["prod"], deploy.gpu_task_cpu, deploy.gpu_task_memory)["Resources"]
    gpu = resources["RunGpuTaskDefinition"]["Properties"]
    assert (gpu["Cpu"], gpu["Memory"]) == (deploy.gpu_task_cpu, deploy.gpu_task_memory)
    assert gpu["ContainerDefinitions"][0]["ResourceRequirements"] == [{"Type": "GPU", "Value": "1"}]
    assert gpu["RequiresCompatibilities"] == ["EC2"]
    assert resources["GpuCapacityProvider"]["Properties"]["Name"] == deploy.gpu_capacity_provider
    assert gpu["Family"] == deploy.gpu_task_definition
    assert consistency_errors(envs, deploy.gpu_capacity_provider, deploy.gpu_task_definition) == []
    assert consistency_errors(envs, "other-gpu", deploy.gpu_task_definition)  # a mismatch is refused


def test_every_placeholder_becomes_a_reference(envs):
    """No ``${NAME}`` of the manual documents survives into a template."""
    deploy = runtime_settings().deployment
    for env in envs.values():
        text = json.dumps(environment_template(env, deploy.gpu_task_cpu, deploy.gpu_task_memory))
        assert not re.findall(r"\$\{[A-Z][A-Z0-9_]*\}", text)


def test_documents_are_the_task_definitions_the_template_deploys(envs):
    deploy = runtime_settings().deployment
    docs = fragments(envs["prod"], deploy.gpu_task_cpu, deploy.gpu_task_memory)
    run = task_definition(envs["prod"], "run-cpu", deploy.gpu_task_cpu, deploy.gpu_task_memory)
    assert docs["ecs/run-cpu.json"] == run
    resources = environment_template(envs["prod"], deploy.gpu_task_cpu, deploy.gpu_task_memory)["Resources"]
    cfn = resources["RunCpuTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert [e["Name"] for e in cfn["Environment"]] == [e["name"] for e in run["containerDefinitions"][0]["environment"]]


def test_bucket_settings_match_the_documents(envs):
    """The bucket the stack creates carries the settings apply_lifecycle.py applies to a bucket made by
    hand (deploy/aws/s3): versioning, public access block, every lifecycle rule."""
    from infra.documents import bucket_lifecycle, public_access_block

    deploy = runtime_settings().deployment
    bucket = environment_template(envs["prod"], deploy.gpu_task_cpu, deploy.gpu_task_memory)[
        "Resources"]["LakehouseBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == public_access_block()
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert set(rules) == {r["ID"] for r in bucket_lifecycle()["Rules"]}
    assert rules["raw-feeds-to-cheaper-tiers"]["Transitions"] == [
        {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30},
        {"StorageClass": "GLACIER_IR", "TransitionInDays": 365}]
    assert rules["expire-compute-logs"]["ExpirationInDays"] == 90
    assert "Prefix" not in rules["abort-incomplete-multipart-uploads"]


# ---------------------------------------------------------------- moto's CloudFormation

_REF = re.compile(r'"Ref": "([A-Za-z0-9]+)"|"Fn::GetAtt": \["([A-Za-z0-9]+)"|\$\{([A-Za-z0-9]+)[.}]')


def _moto_subset(template: dict) -> dict:
    """The resources moto's CloudFormation implements, minus those that reference one it does not
    (transitively): what can really be created offline."""
    from moto.cloudformation.parsing import get_model_map

    supported = set(get_model_map())
    params = set(template["Parameters"])
    keep = {k for k, r in template["Resources"].items() if r["Type"] in supported}
    # moto cannot resolve these attributes of RDS instances
    keep -= {k for k, r in template["Resources"].items() if "Database.Endpoint" in json.dumps(r)}
    changed = True
    while changed:
        changed = False
        for key in sorted(keep):
            refs = {a or b or c for a, b, c in _REF.findall(json.dumps(template["Resources"][key]))}
            refs -= params | {"AWS"}
            if refs - keep:
                keep.discard(key)
                changed = True
    if "BatchComputeEnvironment" in keep:  # moto requires a service role; AWS uses its service-linked one
        props = template["Resources"]["BatchComputeEnvironment"]["Properties"]
        props["ServiceRole"] = {"Fn::GetAtt": ["GpuInstanceRole", "Arn"]}
    return {"AWSTemplateFormatVersion": template["AWSTemplateFormatVersion"], "Parameters": template["Parameters"],
            "Conditions": template["Conditions"],
            "Resources": {k: v for k, v in template["Resources"].items() if k in keep}}


@mock_aws
def test_supported_resources_deploy_in_moto(envs, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    deploy = runtime_settings().deployment
    template = _moto_subset(environment_template(envs["staging"], deploy.gpu_task_cpu, deploy.gpu_task_memory))
    assert {"Vpc", "PrivateSubnet1", "LakehouseBucket", "RunTaskRole", "LogGroup", "Cluster", "AlertTopic",
            "FeedbackQueue", "NatGateway", "S3GatewayEndpoint"} <= set(template["Resources"])
    cf = boto3.client("cloudformation", region_name=REGION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf.create_stack(StackName="bitbybit-staging", TemplateBody=json.dumps(template),
                        Parameters=[{"ParameterKey": "ImageTag", "ParameterValue": "1.0.0"}],
                        Capabilities=["CAPABILITY_NAMED_IAM"])
    stack = cf.describe_stacks(StackName="bitbybit-staging")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"

    s3 = boto3.client("s3", region_name=REGION)
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if not b["Name"].startswith("bitbybit-logs")]
    # moto's bucket model takes encryption and tags from CloudFormation (versioning, lifecycle and the
    # public access block are pinned by the snapshot and test_bucket_settings_match_the_documents)
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["environment"] == "staging"

    iam = boto3.client("iam", region_name=REGION)
    policy = iam.get_role_policy(RoleName="bitbybit-run-task", PolicyName="run-task-role-policy")["PolicyDocument"]
    resources = json.dumps(policy)
    assert f"arn:aws:s3:::{bucket}/lakehouse/*" in resources  # the Fn::Sub resolved to this bucket
    assert "batch:SubmitJob" in resources  # staging runs the Batch option

    ec2 = boto3.client("ec2", region_name=REGION)
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:environment", "Values": ["staging"]}])["Subnets"]
    assert len(subnets) == 4 and not any(s["MapPublicIpOnLaunch"] for s in subnets)
    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    assert any(e["ServiceName"].endswith(".s3") and e["VpcEndpointType"] == "Gateway" for e in endpoints)
    assert boto3.client("logs", region_name=REGION).describe_log_groups(
        logGroupNamePrefix="/ecs/bitbybit")["logGroups"][0]["retentionInDays"] == 30
