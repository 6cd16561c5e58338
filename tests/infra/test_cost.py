"""Cost in the infrastructure: the cost allocation tags on every resource CloudFormation can tag
(taggability from the resource schemas cfn-lint ships), on the run tasks and Batch jobs, and a
dashboard whose custom metrics are the ones something publishes, with the permission to publish."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from bitbybit_base.settings import runtime_settings
from infra.__main__ import CFN_DIR, ROOT, tagging_errors
from infra.config import COST_TAG_KEYS, load_environments
from infra.documents import dagster_services_policy
from infra.stack_monitoring import CUSTOM_NAMESPACE
from infra.tagging import tag_errors, tag_property
from infra.template import environment_template
from sensors.run_metrics import METRIC_NAMES


def _template(envs, name: str) -> dict:
    deploy = runtime_settings().deployment
    return environment_template(envs[name], deploy.gpu_task_cpu, deploy.gpu_task_memory)


def test_taggability_comes_from_the_resource_schemas():
    assert tag_property("AWS::CloudWatch::Alarm") == "Tags"
    assert tag_property("AWS::Budgets::Budget") == "ResourceTags"
    assert tag_property("AWS::EC2::VPCEndpoint") == "Tags"
    assert tag_property("AWS::Logs::MetricFilter") is None  # no tags in CloudFormation
    assert tag_property("AWS::SNS::Subscription") is None
    assert tag_property("AWS::RDS::DBProxyTargetGroup") is None  # not taggable at creation


def test_every_taggable_resource_carries_the_cost_tags(files, envs):
    assert tagging_errors(files, envs) == []
    for name, env in envs.items():
        tags = env.resource_tags()
        assert set(COST_TAG_KEYS) <= set(tags) and tags["environment"] == name
    bootstrap = json.loads(files[CFN_DIR / "bootstrap.json"])
    repo = {t["Key"]: t["Value"] for t in bootstrap["Resources"]["Repository"]["Properties"]["Tags"]}
    assert {"project", "cost-center"} <= set(repo) and "environment" not in repo  # shared by both


def test_the_tag_check_catches_a_missing_or_wrong_tag(envs):
    template = _template(envs, "prod")
    required = {k: envs["prod"].resource_tags()[k] for k in COST_TAG_KEYS}
    broken = copy.deepcopy(template)
    del broken["Resources"]["FailedRunAlarm"]["Properties"]["Tags"]
    broken["Resources"]["MonthlyBudget"]["Properties"]["ResourceTags"] = [{"Key": "project", "Value": "other"}]
    errors = tag_errors(broken, required)
    assert len(errors) == 2
    assert errors[0].startswith("FailedRunAlarm (AWS::CloudWatch::Alarm)")
    assert errors[1].startswith("MonthlyBudget (AWS::Budgets::Budget): ResourceTags lacks")


def test_environments_need_a_cost_center(tmp_path):
    path = tmp_path / "environments.yaml"
    path.write_text("defaults: {project: bitbybit, repository: bitbybit, gpu_instance_types: [g4dn.xlarge]}\n"
                    "environments:\n  prod: {name: bitbybit, vpc_cidr: 10.40.0.0/16}\n")
    with pytest.raises(ValueError, match="cost-center"):
        load_environments(path)


def test_compute_launched_at_run_time_is_tagged(envs):
    """Run tasks (EcsRunLauncher) inherit the task definition's tags; Batch jobs propagate theirs;
    GPU instances get them from the launch template and the compute environment."""
    launcher = yaml.safe_load((ROOT / "dagster.yaml").read_text())["run_launcher"]["config"]
    assert launcher["run_task_kwargs"]["propagateTags"] == "TASK_DEFINITION"
    resources = _template(envs, "staging")["Resources"]
    for logical in ("RunCpuTaskDefinition", "RunGpuTaskDefinition"):
        tags = {t["Key"]: t["Value"] for t in resources[logical]["Properties"]["Tags"]}
        assert set(COST_TAG_KEYS) <= set(tags), logical
    assert resources["BatchJobDefinition"]["Properties"]["PropagateTags"] is True
    assert set(COST_TAG_KEYS) <= set(resources["BatchComputeEnvironment"]["Properties"]["ComputeResources"]["Tags"])


def _dashboard_metrics(template: dict) -> list[list]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return [m for w in json.loads(body)["widgets"] for m in w["properties"]["metrics"]]


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_dashboard_plots_only_published_metrics(envs, env_name):
    template = _template(envs, env_name)
    log_metrics = {r["Properties"]["MetricTransformations"][0]["MetricName"]
                   for r in template["Resources"].values() if r["Type"] == "AWS::Logs::MetricFilter"}
    custom = {m[1] for m in _dashboard_metrics(template) if isinstance(m[0], str) and m[0] == CUSTOM_NAMESPACE}
    assert custom, "the dashboard plots custom metrics"
    assert custom <= set(METRIC_NAMES) | log_metrics, custom - set(METRIC_NAMES) - log_metrics
    # the cost widget adds compute and LLM spend per day
    assert {"ComputeCostUsd", "LlmCostUsd", "GpuHours", "RunSeconds", "Articles", "EmailsSent"} <= custom


def test_metrics_namespace_and_permission_match_the_settings(envs):
    assert runtime_settings().operations.metrics.namespace == CUSTOM_NAMESPACE
    statements = {s.get("Sid"): s for s in dagster_services_policy(envs["prod"])["Statement"]}
    put = statements["PublishRunMetrics"]
    assert put["Action"] == ["cloudwatch:PutMetricData"]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": CUSTOM_NAMESPACE}}


def test_committed_policy_document_has_the_metrics_permission():
    doc = json.loads(Path(ROOT / "deploy/aws/iam/dagster-services-role-policy.json").read_text())
    assert any(s.get("Sid") == "PublishRunMetrics" for s in doc["Statement"])
