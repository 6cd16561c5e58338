"""The data section of an environment's stack: buckets, secrets, PostgreSQL (and RDS Proxy)."""

from __future__ import annotations

import json
from typing import Any

from infra import documents as docs
from infra.cfn import StackBuilder, get_att, ref, sub, tags


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


class DataSection(StackBuilder):
    """The lakehouse and logs buckets, the application secrets, the database."""

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
