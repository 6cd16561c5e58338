"""CloudFormation building blocks for :mod:`infra.template`: intrinsic functions, tags, the
``${NAME}`` substitutions of :mod:`infra.documents` and the base of the stack builder.

:class:`StackBuilder` holds the resources in insertion order (the order of the committed JSON); the
sections (:mod:`infra.stack_network`, :mod:`infra.stack_data`, :mod:`infra.stack_compute`,
:mod:`infra.stack_monitoring`) are its subclasses, combined in :mod:`infra.template`. No Dagster, no boto3.
"""

from __future__ import annotations

import re
from typing import Any

from infra.config import Environment

FORMAT_VERSION = "2010-09-09"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def get_att(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def sub(text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"Fn::Sub": [text, variables] if variables else text}


def tags(env: Environment, name: str | None = None, key: str = "Key", value: str = "Value") -> list[dict]:
    """The resource tags (``project``, ``environment``, ...; ``Name`` when given)."""
    pairs = ({"Name": name} if name else {}) | env.resource_tags()
    return [{key: k, value: v} for k, v in pairs.items()]


class _Sub:
    """``${NAME}`` placeholders of :mod:`infra.documents` -> CloudFormation expressions."""

    def __init__(self, env: Environment) -> None:
        image = f"${{AWS::AccountId}}.dkr.ecr.${{AWS::Region}}.${{AWS::URLSuffix}}/{env.repository}:${{ImageTag}}"
        self.text = {
            "AWS_ACCOUNT_ID": "${AWS::AccountId}",
            "AWS_REGION": "${AWS::Region}",
            "BUCKET": "${LakehouseBucket}",
            "DB_HOST": "${DatabaseProxy.Endpoint}" if env.rds_proxy else "${Database.Endpoint.Address}",
            "PG_SECRET_ARN": "${PostgresSecret}",
            "LLM_SECRET_ARN": "${LlmSecret}",
            "SECRET_KEY_ARN": "${SecretKeySecret}",
            "IMAGE_CPU": f"{image}-cpu",
            "IMAGE_GPU": f"{image}-cuda",
            "LLM_BASE_URL": "${LlmBaseUrl}",
            "LLM_MODEL": "${LlmModel}",
            "DESK_PUBLIC_URL": "${DeskPublicUrl}",
            "DAGSTER_URL": f"http://webserver.{env.name}.local:3000",
            "DAGSTER_UI_URL": "${DagsterUiUrl}",
            "MAIL_FROM": "${MailFrom}",
            "RUN_SECURITY_GROUP": "${TaskSecurityGroup.GroupId}",
            "SUBNETS": "${PrivateSubnetIds}",
        }
        self.variables = {
            "PrivateSubnetIds": {"Fn::Join": [",", [ref(f"PrivateSubnet{i + 1}")
                                                    for i in range(env.availability_zones)]]},
        }

    def __call__(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {k: self(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self(v) for v in node]
        if isinstance(node, str) and PLACEHOLDER.search(node):
            text = PLACEHOLDER.sub(lambda m: self.text[m.group(1)], node)
            used = {k: v for k, v in self.variables.items() if f"${{{k}}}" in text}
            return sub(text, used) if "${" in text else text
        return node


class StackBuilder:
    """The resources of one environment's stack, added in order; the sections add to it."""

    def __init__(self, env: Environment, gpu_cpu: str, gpu_memory: str) -> None:
        self.env = env
        self.gpu_cpu, self.gpu_memory = gpu_cpu, gpu_memory
        self.subst = _Sub(env)
        self.resources: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}

    def add(self, logical_id: str, kind: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
        if logical_id in self.resources:
            raise ValueError(f"duplicate logical id {logical_id}")
        self.resources[logical_id] = {"Type": kind, **extra, "Properties": properties}
        return ref(logical_id)

    @property
    def azs(self) -> range:
        return range(self.env.availability_zones)

    def private_subnets(self) -> list[dict[str, str]]:
        return [ref(f"PrivateSubnet{i + 1}") for i in self.azs]
