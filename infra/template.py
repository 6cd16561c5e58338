"""The CloudFormation templates: the bootstrap stack (once per account) and one stack per environment.

Built as plain dicts in a fixed order (the building blocks in :mod:`infra.cfn`, the sections in
``infra/stack_*.py``); :func:`render` turns one into the JSON that is committed
under ``deploy/aws/cloudformation`` and deployed. The documents inside (task definitions, IAM
policies, bucket settings) come from :mod:`infra.documents`; their ``${NAME}`` placeholders become
``Fn::Sub`` references to the stack's own resources and parameters here. No Dagster, no boto3.
"""

from __future__ import annotations

import json
from typing import Any

from infra.cfn import FORMAT_VERSION, get_att, ref, sub
from infra.config import Environment
from infra.stack_compute import ComputeSection
from infra.stack_data import DataSection
from infra.stack_monitoring import MonitoringSection
from infra.stack_network import NetworkSection

GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"


class _Builder(NetworkSection, DataSection, ComputeSection, MonitoringSection):
    """One environment's stack: every section, then the parameters and outputs."""

    def template(self) -> dict[str, Any]:
        env = self.env
        self.network()
        self.storage()
        self.secrets()
        self.database()
        self.roles()
        self.compute()
        self.batch()
        self.monitoring()
        outputs = {
            "LakehouseBucketName": ref("LakehouseBucket"),
            "LakehouseRoot": sub("s3://${LakehouseBucket}/lakehouse"),
            "DatabaseEndpoint": get_att("Database", "Endpoint.Address"),
            "DatabaseAdminSecretArn": get_att("Database", "MasterUserSecret.SecretArn"),
            "PostgresSecretArn": ref("PostgresSecret"),
            "LlmSecretArn": ref("LlmSecret"),
            "ClusterName": ref("Cluster"),
            "AlertTopicArn": ref("AlertTopic"),
            "FeedbackQueueUrl": ref("FeedbackQueue"),
            "PrivateSubnetIds": {"Fn::Join": [",", self.private_subnets()]},
            "TaskSecurityGroupId": get_att("TaskSecurityGroup", "GroupId"),
            "ImageTag": ref("ImageTag"),
        }
        if env.rds_proxy:
            outputs["DatabaseProxyEndpoint"] = get_att("DatabaseProxy", "Endpoint")
        if env.batch:
            outputs["BatchJobQueue"] = ref("BatchJobQueue")
        return {
            "AWSTemplateFormatVersion": FORMAT_VERSION,
            "Description": f"bitbybit {env.env}: network, lakehouse bucket, PostgreSQL, ECS (Fargate + GPU), "
                           f"{'Batch GPU queue, ' if env.batch else ''}alerts, dashboard (rendered by infra/)",
            "Parameters": {
                "ImageTag": {"Type": "String", "AllowedPattern": "^[A-Za-z0-9_.-]{1,100}$",
                             "Description": "the image version to run (<tag>-cpu and <tag>-cuda in ECR)"},
                "GpuAmiId": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                             "Default": GPU_AMI_PARAMETER, "Description": "ECS-optimized GPU AMI"},
                "LlmBaseUrl": {"Type": "String", "Default": "https://api.openai.com/v1"},
                "LlmModel": {"Type": "String", "Default": "gpt-4o-mini"},
                "DeskPublicUrl": {"Type": "String", "Default": "https://desk.example.com",
                                  "Description": "the desk's public address (unsubscribe links)"},
                "DagsterUiUrl": {"Type": "String", "Default": "http://localhost:3000",
                                 "Description": "where editors open the Dagster UI (links in alerts)"},
                "MailFrom": {"Type": "String", "Default": "bitbybit <news@news.example.com>"},
                "AlertEmail": {"Type": "String", "Default": "", "Description": "subscribed to the alert topic"},
            },
            "Conditions": {"HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlertEmail"), ""]}]}},
            "Resources": self.resources,
            "Outputs": {k: {"Value": v, "Export": {"Name": sub(f"${{AWS::StackName}}-{k}")}}
                        for k, v in outputs.items()},
        }


def environment_template(env: Environment, gpu_cpu: str, gpu_memory: str) -> dict[str, Any]:
    """The stack of one environment; the GPU task sized by ``deployment.gpu_task_cpu/memory``."""
    return _Builder(env, gpu_cpu, gpu_memory).template()


def bootstrap_template(env: Environment) -> dict[str, Any]:
    """Once per account: the image repository both environments' stacks pull from (promotion moves a
    tag, not an image) and the alerts of the deploy pipeline itself."""
    return {
        "AWSTemplateFormatVersion": FORMAT_VERSION,
        "Description": "bitbybit bootstrap: the ECR repository (rendered by infra/)",
        "Resources": {
            "Repository": {"Type": "AWS::ECR::Repository", "DeletionPolicy": "Retain",
                           "UpdateReplacePolicy": "Retain", "Properties": {
                "RepositoryName": env.repository,
                "ImageTagMutability": "IMMUTABLE",
                "ImageScanningConfiguration": {"ScanOnPush": True},
                "EncryptionConfiguration": {"EncryptionType": "AES256"},
                "LifecyclePolicy": {"LifecyclePolicyText": json.dumps({"rules": [{
                    "rulePriority": 1, "description": "keep the newest 20 images (10 releases x cpu+cuda)",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20},
                    "action": {"type": "expire"}}]}, separators=(",", ":"))},
                "Tags": [{"Key": k, "Value": v} for k, v in {"project": env.project, **env.tags}.items()
                         if k != "environment"]}}},
        "Outputs": {"RepositoryUri": {"Value": get_att("Repository", "RepositoryUri")}},
    }


def render(template: dict[str, Any]) -> str:
    """The committed text of a template: 2-space JSON, keys in construction order, newline at the end."""
    return json.dumps(template, indent=2, ensure_ascii=False) + "\n"
