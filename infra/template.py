"""The CloudFormation templates: the bootstrap stack (once per account) and one stack per environment.

Built as plain dicts in a fixed order; :func:`render` turns one into the JSON that is committed
under ``deploy/aws/cloudformation`` and deployed. The documents inside (task definitions, IAM
policies, bucket settings) come from :mod:`infra.documents`; their ``${NAME}`` placeholders become
``Fn::Sub`` references to the stack's own resources and parameters here. No Dagster, no boto3.
"""

from __future__ import annotations

import json
import re
from typing import Any

from infra import documents as docs
from infra.config import Environment

FORMAT_VERSION = "2010-09-09"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
CUSTOM_NAMESPACE = docs.METRICS_NAMESPACE  # the pipeline's metrics: log metric filters and resources/metrics.py
# the interface endpoints that keep image pulls, secrets and logs off the NAT gateway
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "secretsmanager", "logs")


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


def _pascal(node: Any, verbatim: bool = False) -> Any:
    """API shape (camelCase keys) -> CloudFormation shape (PascalCase); maps of user keys (log
    driver options) keep theirs."""
    if isinstance(node, dict):
        return {(k if verbatim else k[:1].upper() + k[1:]): _pascal(v, k == "options") for k, v in node.items()}
    if isinstance(node, list):
        return [_pascal(v) for v in node]
    return node


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A ``PutBucketLifecycleConfiguration`` rule in CloudFormation's shape."""
    out: dict[str, Any] = {"Id": rule["ID"], "Status": rule["Status"]}
    prefix = rule.get("Filter", {}).get("Prefix")
    if prefix:
        out["Prefix"] = prefix
    if "Transitions" in rule:
        out["Transitions"] = [{"StorageClass": t["StorageClass"], "TransitionInDays": t["Days"]}
                              for t in rule["Transitions"]]
    expiration = rule.get("Expiration", {})
    if "Days" in expiration:
        out["ExpirationInDays"] = expiration["Days"]
    if "ExpiredObjectDeleteMarker" in expiration:
        out["ExpiredObjectDeleteMarker"] = expiration["ExpiredObjectDeleteMarker"]
    for key in ("NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
        if key in rule:
            out[key] = rule[key]
    return out


class _Builder:
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

    # ------------------------------------------------------------ network

    def network(self) -> None:
        env = self.env
        self.add("Vpc", "AWS::EC2::VPC", {"CidrBlock": env.vpc_cidr, "EnableDnsHostnames": True,
                                          "EnableDnsSupport": True, "Tags": tags(env, env.name)})
        self.add("InternetGateway", "AWS::EC2::InternetGateway", {"Tags": tags(env, env.name)})
        self.add("VpcGatewayAttachment", "AWS::EC2::VPCGatewayAttachment",
                 {"VpcId": ref("Vpc"), "InternetGatewayId": ref("InternetGateway")})
        private, public = env.subnet_cidrs()
        for kind, cidrs in (("Public", public), ("Private", private)):
            self.add(f"{kind}RouteTable", "AWS::EC2::RouteTable",
                     {"VpcId": ref("Vpc"), "Tags": tags(env, f"{env.name}-{kind.lower()}")})
            for i, cidr in enumerate(cidrs):
                self.add(f"{kind}Subnet{i + 1}", "AWS::EC2::Subnet", {
                    "VpcId": ref("Vpc"), "CidrBlock": cidr,
                    "AvailabilityZone": {"Fn::Select": [i, {"Fn::GetAZs": ""}]},
                    "MapPublicIpOnLaunch": False,
                    "Tags": tags(env, f"{env.name}-{kind.lower()}-{i + 1}"),
                })
                self.add(f"{kind}Subnet{i + 1}RouteTableAssociation", "AWS::EC2::SubnetRouteTableAssociation",
                         {"SubnetId": ref(f"{kind}Subnet{i + 1}"), "RouteTableId": ref(f"{kind}RouteTable")})
        self.add("PublicDefaultRoute", "AWS::EC2::Route",
                 {"RouteTableId": ref("PublicRouteTable"), "DestinationCidrBlock": "0.0.0.0/0",
                  "GatewayId": ref("InternetGateway")}, DependsOn="VpcGatewayAttachment")
        self.add("NatEip", "AWS::EC2::EIP", {"Domain": "vpc", "Tags": tags(env, f"{env.name}-nat")},
                 DependsOn="VpcGatewayAttachment")
        self.add("NatGateway", "AWS::EC2::NatGateway", {
            "AllocationId": get_att("NatEip", "AllocationId"), "SubnetId": ref("PublicSubnet1"),
            "Tags": tags(env, f"{env.name}-nat")})
        self.add("PrivateDefaultRoute", "AWS::EC2::Route",
                 {"RouteTableId": ref("PrivateRouteTable"), "DestinationCidrBlock": "0.0.0.0/0",
                  "NatGatewayId": ref("NatGateway")})
        # S3 (the lakehouse, and ECR's image layers) through the free gateway endpoint
        self.add("S3GatewayEndpoint", "AWS::EC2::VPCEndpoint", {
            "VpcId": ref("Vpc"), "VpcEndpointType": "Gateway",
            "ServiceName": sub("com.amazonaws.${AWS::Region}.s3"),
            "RouteTableIds": [ref("PrivateRouteTable")], "Tags": tags(env, f"{env.name}-s3")})
        self.add("TaskSecurityGroup", "AWS::EC2::SecurityGroup", {
            "GroupDescription": f"{env.name} ECS tasks, Batch jobs and GPU instances",
            "VpcId": ref("Vpc"),
            "SecurityGroupEgress": [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0",
                                     "Description": "feeds, LLM API, AWS APIs"}],
            "Tags": tags(env, f"{env.name}-tasks")})
        self.add("TaskSecurityGroupWebserverIngress", "AWS::EC2::SecurityGroupIngress", {
            "GroupId": get_att("TaskSecurityGroup", "GroupId"), "IpProtocol": "tcp", "FromPort": 3000,
            "ToPort": 3000, "SourceSecurityGroupId": get_att("TaskSecurityGroup", "GroupId"),
            "Description": "the desk reaches the Dagster webserver (GraphQL)"})
        self.add("DatabaseSecurityGroup", "AWS::EC2::SecurityGroup", {
            "GroupDescription": f"{env.name} PostgreSQL", "VpcId": ref("Vpc"),
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                                      "SourceSecurityGroupId": get_att("TaskSecurityGroup", "GroupId"),
                                      "Description": "tasks to PostgreSQL"}],
            "Tags": tags(env, f"{env.name}-db")})
        if env.rds_proxy:
            self.add("DatabaseSecurityGroupProxyIngress", "AWS::EC2::SecurityGroupIngress", {
                "GroupId": get_att("DatabaseSecurityGroup", "GroupId"), "IpProtocol": "tcp", "FromPort": 5432,
                "ToPort": 5432, "SourceSecurityGroupId": get_att("DatabaseSecurityGroup", "GroupId"),
                "Description": "RDS Proxy to the instance"})
        if env.interface_endpoints:
            self.add("EndpointSecurityGroup", "AWS::EC2::SecurityGroup", {
                "GroupDescription": f"{env.name} interface endpoints", "VpcId": ref("Vpc"),
                "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                          "SourceSecurityGroupId": get_att("TaskSecurityGroup", "GroupId"),
                                          "Description": "HTTPS from the tasks"}],
                "Tags": tags(env, f"{env.name}-endpoints")})
            for service in INTERFACE_ENDPOINTS:
                logical = "".join(p.capitalize() for p in service.split(".")) + "Endpoint"
                self.add(logical, "AWS::EC2::VPCEndpoint", {
                    "VpcId": ref("Vpc"), "VpcEndpointType": "Interface", "PrivateDnsEnabled": True,
                    "ServiceName": sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                    "SubnetIds": self.private_subnets(),
                    "SecurityGroupIds": [get_att("EndpointSecurityGroup", "GroupId")],
                    "Tags": tags(env, f"{env.name}-{service}")})

    # ------------------------------------------------------------ storage

    def storage(self) -> None:
        env = self.env
        encryption = {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": r["ApplyServerSideEncryptionByDefault"]}
            for r in docs.bucket_encryption()["Rules"]]}
        self.add("LogsBucket", "AWS::S3::Bucket", {
            "BucketName": sub(f"{env.name}-logs-${{AWS::AccountId}}-${{AWS::Region}}"),
            "BucketEncryption": encryption,
            "PublicAccessBlockConfiguration": docs.public_access_block(),
            "VersioningConfiguration": {"Status": "Enabled"},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "expire-access-logs", "Status": "Enabled", "ExpirationInDays": 90,
                 "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}]},
            "Tags": tags(env)}, DeletionPolicy="Retain", UpdateReplacePolicy="Retain")
        self.add("LogsBucketPolicy", "AWS::S3::BucketPolicy", {"Bucket": ref("LogsBucket"), "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Sid": "S3ServerAccessLogs", "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
                "Resource": sub("${LogsBucket.Arn}/s3-access/*"),
                "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}}]}})
        self.add("LakehouseBucket", "AWS::S3::Bucket", {
            "BucketName": sub(f"{env.name}-${{AWS::AccountId}}-${{AWS::Region}}"),
            "BucketEncryption": encryption,
            "PublicAccessBlockConfiguration": docs.public_access_block(),
            "VersioningConfiguration": {"Status": "Enabled"},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {
                "Rules": [_lifecycle_rule(r) for r in docs.bucket_lifecycle()["Rules"]],
                "TransitionDefaultMinimumObjectSize": "all_storage_classes_128K"},
            "LoggingConfiguration": {"DestinationBucketName": ref("LogsBucket"), "LogFilePrefix": "s3-access/"},
            "Tags": tags(env)}, DeletionPolicy="Retain", UpdateReplacePolicy="Retain")
        self.add("LakehouseBucketPolicy", "AWS::S3::BucketPolicy",
                 {"Bucket": ref("LakehouseBucket"), "PolicyDocument": self.subst(docs.bucket_policy())})

    # ------------------------------------------------------------ database and secrets

    def secrets(self) -> None:
        env = self.env
        prefix = env.secrets_prefix
        self.add("PostgresSecret", "AWS::SecretsManager::Secret", {
            "Name": f"{prefix}/postgres",
            "Description": "application role of the dagster and bitbybit databases (create it: DEPLOYMENT.md)",
            "GenerateSecretString": {"SecretStringTemplate": json.dumps({"username": "bitbybit"}),
                                     "GenerateStringKey": "password", "PasswordLength": 40,
                                     "ExcludePunctuation": True},
            "Tags": tags(env)})
        self.add("LlmSecret", "AWS::SecretsManager::Secret", {
            "Name": f"{prefix}/llm",
            "Description": "api_key of the OpenAI-compatible endpoint (put-secret-value after the first deploy)",
            "GenerateSecretString": {"SecretStringTemplate": json.dumps({"placeholder": True}),
                                     "GenerateStringKey": "api_key", "PasswordLength": 16},
            "Tags": tags(env)})
        self.add("SecretKeySecret", "AWS::SecretsManager::Secret", {
            "Name": f"{prefix}/secret-key",
            "Description": "signs unsubscribe/confirm links and desk sessions",
            "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
            "Tags": tags(env)})

    def database(self) -> None:
        env = self.env
        self.add("DatabaseSubnetGroup", "AWS::RDS::DBSubnetGroup", {
            "DBSubnetGroupDescription": f"{env.name} private subnets", "SubnetIds": self.private_subnets(),
            "Tags": tags(env)})
        self.add("Database", "AWS::RDS::DBInstance", {
            "DBInstanceIdentifier": env.name,
            "Engine": "postgres", "EngineVersion": env.db_engine_version,
            "DBInstanceClass": env.db_instance_class,
            "AllocatedStorage": str(env.db_allocated_storage_gib),
            "MaxAllocatedStorage": env.db_max_allocated_storage_gib,
            "StorageType": "gp3", "StorageEncrypted": True,
            "MasterUsername": "bitbybit_admin", "ManageMasterUserPassword": True,
            "DBName": "dagster",
            "DBSubnetGroupName": ref("DatabaseSubnetGroup"),
            "VPCSecurityGroups": [get_att("DatabaseSecurityGroup", "GroupId")],
            "BackupRetentionPeriod": env.db_backup_retention_days,
            "MultiAZ": env.db_multi_az,
            "PubliclyAccessible": False,
            "DeletionProtection": env.db_deletion_protection,
            "CopyTagsToSnapshot": True,
            "AutoMinorVersionUpgrade": True,
            "EnableCloudwatchLogsExports": ["postgresql"],
            "Tags": tags(env)}, DeletionPolicy="Snapshot", UpdateReplacePolicy="Snapshot")
        if env.rds_proxy:
            self.add("DatabaseProxyRole", "AWS::IAM::Role", {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]},
                "Policies": [{"PolicyName": "read-postgres-secret", "PolicyDocument": {
                    "Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                        "Resource": ref("PostgresSecret")}]}}],
                "Tags": tags(env)})
            self.add("DatabaseProxy", "AWS::RDS::DBProxy", {
                "DBProxyName": env.name, "EngineFamily": "POSTGRESQL", "RequireTLS": True,
                "Auth": [{"AuthScheme": "SECRETS", "SecretArn": ref("PostgresSecret"), "IAMAuth": "DISABLED"}],
                "RoleArn": get_att("DatabaseProxyRole", "Arn"),
                "VpcSubnetIds": self.private_subnets(),
                "VpcSecurityGroupIds": [get_att("DatabaseSecurityGroup", "GroupId")],
                "Tags": tags(env)})
            self.add("DatabaseProxyTargetGroup", "AWS::RDS::DBProxyTargetGroup", {
                "DBProxyName": ref("DatabaseProxy"), "TargetGroupName": "default",
                "DBInstanceIdentifiers": [ref("Database")],
                "ConnectionPoolConfigurationInfo": {"MaxConnectionsPercent": 90,
                                                    "MaxIdleConnectionsPercent": 30}})

    # ------------------------------------------------------------ IAM

    def roles(self) -> None:
        env = self.env
        trust = self.subst(docs.ecs_tasks_trust_policy())
        logical = {"task-execution": "TaskExecutionRole", "run-task": "RunTaskRole",
                   "dagster": "DagsterRole", "desk": "DeskRole"}
        for key, (stem, policy) in docs.role_policies(env).items():
            policies = [{"PolicyName": stem, "PolicyDocument": self.subst(policy)}]
            if key == "dagster":  # aws ecs execute-command into the daemon/webserver
                policies.append({"PolicyName": "ecs-exec", "PolicyDocument": {
                    "Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Resource": "*",
                        "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                                   "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]}]}})
            self.add(logical[key], "AWS::IAM::Role", {
                "RoleName": docs.role_name(env, key), "AssumeRolePolicyDocument": trust,
                "Policies": policies, "Tags": tags(env)})
        self.add("GpuInstanceRole", "AWS::IAM::Role", {
            "RoleName": docs.role_name(env, "gpu-instance"),
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [
                sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"),
                sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore")],
            "Tags": tags(env)})
        self.add("GpuInstanceProfile", "AWS::IAM::InstanceProfile", {"Roles": [ref("GpuInstanceRole")]})

    # ------------------------------------------------------------ ECS

    def compute(self) -> None:
        env = self.env
        self.add("LogGroup", "AWS::Logs::LogGroup", {
            "LogGroupName": env.log_group, "RetentionInDays": env.log_retention_days, "Tags": tags(env)})
        self.add("Cluster", "AWS::ECS::Cluster", {
            "ClusterName": env.name, "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
            "Tags": tags(env, key="Key", value="Value")})
        user_data = "\n".join([
            "#!/bin/bash",
            f"echo ECS_CLUSTER={env.name} >> /etc/ecs/ecs.config",
            "echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config",
            "echo ECS_IMAGE_PULL_BEHAVIOR=prefer-cached >> /etc/ecs/ecs.config",
            "",
        ])
        self.add("GpuLaunchTemplate", "AWS::EC2::LaunchTemplate", {
            "LaunchTemplateName": f"{env.name}-gpu",
            "LaunchTemplateData": {
                "ImageId": ref("GpuAmiId"),
                "InstanceType": env.gpu_instance_types[0],
                "IamInstanceProfile": {"Arn": get_att("GpuInstanceProfile", "Arn")},
                "SecurityGroupIds": [get_att("TaskSecurityGroup", "GroupId")],
                "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
                    "VolumeSize": env.gpu_root_volume_gib, "VolumeType": "gp3", "Encrypted": True,
                    "DeleteOnTermination": True}}],
                "UserData": {"Fn::Base64": user_data},
                "TagSpecifications": [{"ResourceType": t, "Tags": tags(env, f"{env.name}-gpu")}
                                      for t in ("instance", "volume")],
            }})
        on_demand = 0 if env.gpu_spot else 100
        self.add("GpuAutoScalingGroup", "AWS::AutoScaling::AutoScalingGroup", {
            "AutoScalingGroupName": f"{env.name}-gpu",
            "MinSize": "0", "MaxSize": str(env.gpu_max_instances),
            "VPCZoneIdentifier": self.private_subnets(),
            "NewInstancesProtectedFromScaleIn": True,
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {
                        "LaunchTemplateId": ref("GpuLaunchTemplate"),
                        "Version": get_att("GpuLaunchTemplate", "LatestVersionNumber")},
                    "Overrides": [{"InstanceType": t} for t in env.gpu_instance_types]},
                "InstancesDistribution": {
                    "OnDemandBaseCapacity": 0, "OnDemandPercentageAboveBaseCapacity": on_demand,
                    "SpotAllocationStrategy": "price-capacity-optimized"}},
            "Tags": [{"Key": k, "Value": v, "PropagateAtLaunch": True}
                     for k, v in ({"Name": f"{env.name}-gpu", "bitbybit/compute": "gpu"}
                                  | env.resource_tags()).items()]})
        self.add("GpuCapacityProvider", "AWS::ECS::CapacityProvider", {
            "Name": f"{env.name}-gpu",
            "AutoScalingGroupProvider": {
                "AutoScalingGroupArn": ref("GpuAutoScalingGroup"),
                "ManagedScaling": {"Status": "ENABLED", "TargetCapacity": 100, "MinimumScalingStepSize": 1,
                                   "MaximumScalingStepSize": 1},
                "ManagedTerminationProtection": "ENABLED"},
            "Tags": tags(env)})
        self.add("ClusterCapacityProviders", "AWS::ECS::ClusterCapacityProviderAssociations", {
            "Cluster": ref("Cluster"),
            "CapacityProviders": ["FARGATE", "FARGATE_SPOT", ref("GpuCapacityProvider")],
            "DefaultCapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": 1}]})
        roles = {"run-task": "RunTaskRole", "dagster": "DagsterRole", "desk": "DeskRole"}
        for family in docs.TASK_FAMILIES:
            td = docs.task_definition(env, family, self.gpu_cpu, self.gpu_memory)
            props = _pascal(self.subst({k: v for k, v in td.items() if k not in ("taskRoleArn", "executionRoleArn")}))
            role_key = next(k for k in roles if td["taskRoleArn"].endswith(f"/{docs.role_name(env, k)}"))
            props = {"Family": props.pop("Family"), "TaskRoleArn": get_att(roles[role_key], "Arn"),
                     "ExecutionRoleArn": get_att("TaskExecutionRole", "Arn"), **props,
                     "Tags": tags(env)}
            self.add(_logical(family) + "TaskDefinition", "AWS::ECS::TaskDefinition", props)
        self.add("ServiceNamespace", "AWS::ServiceDiscovery::PrivateDnsNamespace", {
            "Name": f"{env.name}.local", "Vpc": ref("Vpc"), "Tags": tags(env)})
        self.add("WebserverDiscovery", "AWS::ServiceDiscovery::Service", {
            "Name": "webserver", "NamespaceId": get_att("ServiceNamespace", "Id"),
            "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 30}], "RoutingPolicy": "MULTIVALUE"},
            "HealthCheckCustomConfig": {"FailureThreshold": 1}, "Tags": tags(env)})
        for family, count in (("daemon", 1), ("webserver", env.webserver_count), ("desk", env.desk_count)):
            props: dict[str, Any] = {
                "ServiceName": f"{env.name}-{family}", "Cluster": ref("Cluster"),
                "TaskDefinition": ref(_logical(family) + "TaskDefinition"), "DesiredCount": count,
                "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": 1}],
                "NetworkConfiguration": {"AwsvpcConfiguration": {
                    "Subnets": self.private_subnets(), "SecurityGroups": [get_att("TaskSecurityGroup", "GroupId")],
                    "AssignPublicIp": "DISABLED"}},
                "EnableExecuteCommand": True, "PropagateTags": "SERVICE", "EnableECSManagedTags": True,
                "Tags": tags(env)}
            if family == "daemon":  # exactly one daemon, also during a deployment
                props["DeploymentConfiguration"] = {"MaximumPercent": 100, "MinimumHealthyPercent": 0}
            else:
                props["DeploymentConfiguration"] = {"MaximumPercent": 200, "MinimumHealthyPercent": 100,
                                                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
            if family == "webserver":
                props["ServiceRegistries"] = [{"RegistryArn": get_att("WebserverDiscovery", "Arn")}]
            self.add(_logical(family) + "Service", "AWS::ECS::Service", props, DependsOn="ClusterCapacityProviders")

    # ------------------------------------------------------------ AWS Batch (deployment.gpu_runner: batch)

    def batch(self) -> None:
        env = self.env
        if not env.batch:
            return
        names = docs.batch_names(env)
        self.add("BatchComputeEnvironment", "AWS::Batch::ComputeEnvironment", {
            "ComputeEnvironmentName": names["compute_environment"], "Type": "MANAGED", "State": "ENABLED",
            "ComputeResources": {
                "Type": "SPOT" if env.gpu_spot else "EC2",
                "AllocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED" if env.gpu_spot else "BEST_FIT_PROGRESSIVE",
                "MinvCpus": 0, "MaxvCpus": 4 * env.gpu_max_instances,
                "InstanceTypes": env.gpu_instance_types,
                "Subnets": self.private_subnets(),
                "SecurityGroupIds": [get_att("TaskSecurityGroup", "GroupId")],
                "InstanceRole": get_att("GpuInstanceProfile", "Arn"),
                "Ec2Configuration": [{"ImageType": "ECS_AL2023_NVIDIA"}],
                "Tags": env.resource_tags() | {"bitbybit/compute": "gpu"}},
            "Tags": env.resource_tags()})
        self.add("BatchJobQueue", "AWS::Batch::JobQueue", {
            "JobQueueName": names["queue"], "Priority": 1, "State": "ENABLED",
            "ComputeEnvironmentOrder": [{"Order": 1, "ComputeEnvironment": ref("BatchComputeEnvironment")}],
            "Tags": env.resource_tags()})
        gpu = docs.task_definition(env, "run-gpu", self.gpu_cpu, self.gpu_memory)["containerDefinitions"][0]
        self.add("BatchJobDefinition", "AWS::Batch::JobDefinition", {
            "JobDefinitionName": names["job_definition"], "Type": "container",
            "PlatformCapabilities": ["EC2"], "PropagateTags": True,
            "ContainerProperties": {
                "Image": self.subst(gpu["image"]),
                "Command": ["dagster", "--version"],  # replaced per run by the launcher
                "JobRoleArn": get_att("RunTaskRole", "Arn"),
                "ExecutionRoleArn": get_att("TaskExecutionRole", "Arn"),
                "ResourceRequirements": [
                    {"Type": "VCPU", "Value": str(int(self.gpu_cpu) // 1024)},
                    {"Type": "MEMORY", "Value": self.gpu_memory},
                    {"Type": "GPU", "Value": "1"}],
                "Environment": [_pascal(e) for e in self.subst(gpu["environment"])],
                "Secrets": [_pascal(s) for s in self.subst(gpu["secrets"])],
                "LogConfiguration": {"LogDriver": "awslogs", "Options": {
                    "awslogs-group": env.log_group, "awslogs-region": ref("AWS::Region"),
                    "awslogs-stream-prefix": "batch"}}},
            # a reclaimed Spot host is retried; a failing run is not (Dagster's run_retries decide)
            "RetryStrategy": {"Attempts": 2, "EvaluateOnExit": [
                {"OnStatusReason": "Host EC2*", "Action": "RETRY"}, {"OnReason": "*", "Action": "EXIT"}]},
            "Timeout": {"AttemptDurationSeconds": 7200},
            "Tags": env.resource_tags()})

    # ------------------------------------------------------------ alerts, monitoring

    def monitoring(self) -> None:
        env = self.env
        self.add("AlertTopic", "AWS::SNS::Topic", {"TopicName": f"{env.name}-alerts", "Tags": tags(env)})
        self.add("AlertTopicPolicy", "AWS::SNS::TopicPolicy", {"Topics": [ref("AlertTopic")], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Sid": "AwsServicesPublish", "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "cloudwatch.amazonaws.com",
                                          "budgets.amazonaws.com"]},
                "Action": "sns:Publish", "Resource": ref("AlertTopic"),
                "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}}]}})
        self.add("AlertEmailSubscription", "AWS::SNS::Subscription", {
            "TopicArn": ref("AlertTopic"), "Protocol": "email", "Endpoint": ref("AlertEmail")},
            Condition="HasAlertEmail")
        # SES: the newsletter's configuration set; bounces and complaints -> SNS -> SQS (ses_feedback_sensor)
        self.add("FeedbackTopic", "AWS::SNS::Topic", {"TopicName": f"{env.name}-ses-feedback", "Tags": tags(env)})
        self.add("FeedbackQueue", "AWS::SQS::Queue", {
            "QueueName": docs.feedback_queue_name(env), "SqsManagedSseEnabled": True,
            "MessageRetentionPeriod": 1209600, "Tags": tags(env)})
        self.add("FeedbackQueuePolicy", "AWS::SQS::QueuePolicy", {"Queues": [ref("FeedbackQueue")], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": get_att("FeedbackQueue", "Arn"),
                "Condition": {"ArnEquals": {"aws:SourceArn": ref("FeedbackTopic")}}}]}})
        self.add("FeedbackSubscription", "AWS::SNS::Subscription", {
            "TopicArn": ref("FeedbackTopic"), "Protocol": "sqs", "Endpoint": get_att("FeedbackQueue", "Arn"),
            "RawMessageDelivery": False})
        self.add("NewsletterConfigurationSet", "AWS::SES::ConfigurationSet",
                 {"Name": docs.ses_configuration_set(env), "Tags": tags(env)})
        self.add("NewsletterFeedbackDestination", "AWS::SES::ConfigurationSetEventDestination", {
            "ConfigurationSetName": ref("NewsletterConfigurationSet"),
            "EventDestination": {"Name": "feedback", "Enabled": True, "MatchingEventTypes": ["bounce", "complaint"],
                                 "SnsDestination": {"TopicARN": ref("FeedbackTopic")}}})
        # tasks that never start (no GPU capacity, image pull errors)
        self.add("TaskFailedToStartRule", "AWS::Events::Rule", {
            "Description": "ECS tasks of the cluster that failed to start",
            "EventPattern": {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
                             "detail": {"clusterArn": [get_att("Cluster", "Arn")], "lastStatus": ["STOPPED"],
                                        "stopCode": ["TaskFailedToStart"]}},
            "Targets": [{"Id": "alerts", "Arn": ref("AlertTopic")}], "Tags": tags(env)})
        # pipeline metrics from the run workers' log lines (Dagster's event names)
        filters = {
            "RunFailures": '"RUN_FAILURE"',
            "RunSuccesses": '"RUN_SUCCESS"',
            "NewslettersPublished": '"ASSET_MATERIALIZATION" "newsletters"',
            "DeliveriesSent": '"ASSET_MATERIALIZATION" "newsletter_deliveries"',
        }
        for metric, pattern in filters.items():
            self.add(f"{metric}MetricFilter", "AWS::Logs::MetricFilter", {
                "LogGroupName": ref("LogGroup"), "FilterPattern": pattern,
                "MetricTransformations": [{"MetricNamespace": CUSTOM_NAMESPACE, "MetricName": metric,
                                           "MetricValue": "1", "Unit": "Count"}]})
        alarms = env.alarms
        ecs_dims = [{"Name": "ClusterName", "Value": ref("Cluster")},
                    {"Name": "ServiceName", "Value": f"{env.name}-daemon"}]
        rds_dims = [{"Name": "DBInstanceIdentifier", "Value": ref("Database")}]
        self._alarm("FailedRunAlarm", "a Dagster run failed", CUSTOM_NAMESPACE, "RunFailures", [], "Sum",
                    3600, 1, alarms.failed_runs, "GreaterThanOrEqualToThreshold", "notBreaching")
        self._alarm("NewsletterLateAlarm", f"no newsletter materialised for {alarms.newsletter_late_hours} hours",
                    CUSTOM_NAMESPACE, "NewslettersPublished", [], "Sum", 3600, alarms.newsletter_late_hours, 1,
                    "LessThanThreshold", "breaching")
        self._alarm("DaemonDownAlarm", "the Dagster daemon is not running", "ECS/ContainerInsights",
                    "RunningTaskCount", ecs_dims, "Minimum", 300, 1, 1, "LessThanThreshold", "breaching")
        self._alarm("DatabaseStorageAlarm", "PostgreSQL free storage low", "AWS/RDS", "FreeStorageSpace", rds_dims,
                    "Minimum", 300, 1, alarms.rds_free_storage_gib * 1024**3, "LessThanThreshold", "missing")
        self._alarm("DatabaseCpuAlarm", "PostgreSQL CPU high for 15 minutes", "AWS/RDS", "CPUUtilization",
                    rds_dims, "Average", 300, 3, alarms.rds_cpu_percent, "GreaterThanThreshold", "missing")
        self._alarm("DatabaseConnectionsAlarm", "PostgreSQL connections near the limit", "AWS/RDS",
                    "DatabaseConnections", rds_dims, "Maximum", 300, 2, alarms.rds_max_connections,
                    "GreaterThanThreshold", "missing")
        self.add("MonthlyBudget", "AWS::Budgets::Budget", {
            "Budget": {"BudgetName": f"{env.name}-{env.env}-monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY",
                       "BudgetLimit": {"Amount": env.monthly_budget_usd, "Unit": "USD"},
                       "CostFilters": {"TagKeyValue": [f"user:project${env.project}"]}},
            "NotificationsWithSubscribers": [{
                "Notification": {"NotificationType": "FORECASTED", "ComparisonOperator": "GREATER_THAN",
                                 "Threshold": env.budget_alert_percent, "ThresholdType": "PERCENTAGE"},
                "Subscribers": [{"SubscriptionType": "SNS", "Address": ref("AlertTopic")}]}],
            "ResourceTags": tags(env)},
            DependsOn="AlertTopicPolicy")
        self.add("Dashboard", "AWS::CloudWatch::Dashboard", {
            "DashboardName": f"{env.name}-{env.env}", "DashboardBody": self._dashboard(), "Tags": tags(env)})

    def _alarm(self, logical: str, description: str, namespace: str, metric: str, dims: list, stat: str,
               period: int, periods: int, threshold: float, comparison: str, missing: str) -> None:
        props: dict[str, Any] = {
            "AlarmName": f"{self.env.name}-{self.env.env}-{_kebab(logical.removesuffix('Alarm'))}",
            "AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
            "Statistic": stat, "Period": period, "EvaluationPeriods": periods, "DatapointsToAlarm": periods,
            "Threshold": threshold, "ComparisonOperator": comparison, "TreatMissingData": missing,
            "AlarmActions": [ref("AlertTopic")]}
        if dims:
            props["Dimensions"] = dims
        if missing != "breaching":
            props["OKActions"] = [ref("AlertTopic")]
        props["Tags"] = tags(self.env)
        self.add(logical, "AWS::CloudWatch::Alarm", props)

    def _dashboard(self) -> dict[str, Any]:
        """Runs, durations, articles per stage, LLM cost, GPU hours, deliveries, the database, cost
        per newsletter (metric names: the log metric filters and ``sensors.run_metrics``)."""
        env = self.env
        ns = CUSTOM_NAMESPACE

        def widget(title: str, metrics: list, x: int, y: int, stat: str = "Sum", period: int = 86400) -> dict:
            return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
                "title": title, "region": "${AWS::Region}", "stat": stat, "period": period, "view": "timeSeries",
                "metrics": metrics}}

        body = {"widgets": [
            widget("Runs per day", [[ns, "RunSuccesses"], [ns, "RunFailures"]], 0, 0),
            widget("Run seconds per job (p90)", [[ns, "RunSeconds", "Job", j] for j in
                                                 ("ingest", "scoring", "publish", "deliver_newsletter")],
                   12, 0, "p90"),
            widget("Articles per stage", [[ns, "Articles", "Stage", s] for s in
                                          ("feed_entries", "filtered_articles", "scored_articles",
                                           "enhanced_articles")], 0, 6, "Maximum"),
            widget("LLM cost (USD) and GPU hours", [[ns, "LlmCostUsd"], [ns, "GpuHours", {"yAxis": "right"}]],
                   12, 6),
            widget("Newsletters and deliveries", [[ns, "NewslettersPublished"], [ns, "DeliveriesSent"],
                                                  [ns, "EmailsSent", {"yAxis": "right"}]], 0, 12),
            widget("PostgreSQL", [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", env.name],
                                  ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", env.name,
                                   {"yAxis": "right"}]], 12, 12, "Average", 300),
            # one newsletter a day: the day's compute (run seconds x cost: prices) + LLM spend; storage
            # and the full breakdown are in the cost_per_newsletter dbt model
            widget("Cost per newsletter (USD per day)", [
                [{"expression": "FILL(m1, 0) + FILL(m2, 0)", "label": "compute + LLM", "id": "e1"}],
                [ns, "ComputeCostUsd", {"id": "m1", "label": "compute"}],
                [ns, "LlmCostUsd", {"id": "m2", "label": "LLM"}]], 0, 18),
        ]}
        return sub(json.dumps(body, separators=(",", ":")))

    # ------------------------------------------------------------ the whole template

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


def _logical(family: str) -> str:
    return "".join(p.capitalize() for p in family.split("-"))


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


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
