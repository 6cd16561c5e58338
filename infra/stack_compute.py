"""The compute section of an environment's stack: IAM roles, ECS (Fargate + GPU) and AWS Batch."""

from __future__ import annotations

from typing import Any

from infra import documents as docs
from infra.cfn import StackBuilder, get_att, ref, sub, tags


def _pascal(node: Any, verbatim: bool = False) -> Any:
    """API shape (camelCase keys) -> CloudFormation shape (PascalCase); maps of user keys (log
    driver options) keep theirs."""
    if isinstance(node, dict):
        return {(k if verbatim else k[:1].upper() + k[1:]): _pascal(v, k == "options") for k, v in node.items()}
    if isinstance(node, list):
        return [_pascal(v) for v in node]
    return node


def _logical(family: str) -> str:
    return "".join(p.capitalize() for p in family.split("-"))


class ComputeSection(StackBuilder):
    """Task and instance roles, the cluster, task definitions and services, the GPU queue."""

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
