"""The documents inside the stack, in the AWS API's own shape: ECS task definitions
(``RegisterTaskDefinition``), IAM policies, bucket settings (``PutBucketLifecycleConfiguration`` ...).

Values that exist only once the stack does are ``${NAME}`` placeholders (the names of
``deploy/aws/render.py`` and DEPLOYMENT.md's tables): :mod:`infra.template` turns them into
CloudFormation references, ``python -m infra render`` also writes the prod documents with the
placeholders to ``deploy/aws/{ecs,iam,s3}`` (what the moto tests register, and what a hand-run
``aws ... --cli-input-json`` takes after ``render.py json``). No Dagster, no boto3 here.
"""

from __future__ import annotations

from typing import Any

from infra.config import Environment

ACCOUNT = "${AWS_ACCOUNT_ID}"
REGION = "${AWS_REGION}"
BUCKET = "${BUCKET}"
METRICS_NAMESPACE = "bitbybit"  # CloudWatch namespace of the run metrics (operations.metrics.namespace)
HEALTHCHECK = ["CMD", "/bin/sh", "/opt/bitbybit/deploy/docker/entrypoint.sh", "healthcheck"]
TASK_FAMILIES = ("run-cpu", "run-gpu", "daemon", "webserver", "desk")
ROLE_KEYS = ("task-execution", "run-task", "dagster", "desk")


def role_name(env: Environment, key: str) -> str:
    return f"{env.name}-{key}"


def role_arn(env: Environment, key: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{role_name(env, key)}"


def alert_topic_arn(env: Environment) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{env.name}-alerts"


def feedback_queue_name(env: Environment) -> str:
    return f"{env.name}-ses-feedback"


def ses_configuration_set(env: Environment) -> str:
    return f"{env.name}-newsletter"


def batch_names(env: Environment) -> dict[str, str]:
    """Names of the Batch GPU queue and job definition (``deployment.gpu_runner: batch``)."""
    return {"queue": f"{env.name}-gpu", "job_definition": f"{env.name}-scoring-gpu",
            "compute_environment": f"{env.name}-gpu"}


def _env(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs]


def _environment(env: Environment, family: str) -> list[dict[str, str]]:
    run_like = family in ("run-cpu", "run-gpu", "daemon", "webserver")
    sends_mail = family != "webserver"
    pairs = [
        ("BITBYBIT_ENV", "prod"),
        ("BITBYBIT_LAKEHOUSE_ROOT", f"s3://{BUCKET}/lakehouse"),
        ("BITBYBIT_OUTPUT_S3_URI", f"s3://{BUCKET}/output"),
    ]
    if run_like:
        pairs += [("BITBYBIT_FEED_ARCHIVE", "none"), ("BITBYBIT_FEED_SOURCE", "http")]
    pairs.append(("BITBYBIT_DBT_TARGET", "prod"))
    if run_like:
        pairs += [("BITBYBIT_LLM_BASE_URL", "${LLM_BASE_URL}"), ("BITBYBIT_LLM_MODEL", "${LLM_MODEL}")]
    pairs += [
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("POSTGRES_HOST", "${DB_HOST}"),
        ("POSTGRES_PORT", "5432"),
        ("POSTGRES_DB", "bitbybit"),
        ("DAGSTER_PG_HOST", "${DB_HOST}"),
        ("DAGSTER_PG_PORT", "5432"),
        ("DAGSTER_PG_DB", "dagster"),
        ("PGSSLMODE", "require"),
        ("DAGSTER_COMPUTE_LOG_BUCKET", BUCKET),
        ("DAGSTER_COMPUTE_LOG_PREFIX", "dagster/compute-logs"),
        ("DAGSTER_ECS_CLUSTER", env.name),
        ("DAGSTER_ECS_TASK_DEFINITION", f"{env.name}-run-cpu"),
        ("DAGSTER_ECS_CONTAINER_NAME", "run"),
    ]
    if family in ("daemon", "webserver", "desk"):
        pairs += [("DAGSTER_ECS_SUBNETS", "${SUBNETS}"), ("DAGSTER_ECS_SECURITY_GROUPS", "${RUN_SECURITY_GROUP}")]
    if family == "run-gpu":
        pairs.append(("NVIDIA_DRIVER_CAPABILITIES", "compute,utility"))
    if family == "desk":
        pairs += [("BITBYBIT_DESK_HOST", "0.0.0.0"), ("BITBYBIT_DESK_PORT", "8000"),
                  ("BITBYBIT_PUBLIC_URL", "${DESK_PUBLIC_URL}"), ("BITBYBIT_DAGSTER_URL", "${DAGSTER_URL}"),
                  ("BITBYBIT_DAGSTER_UI_URL", "${DAGSTER_UI_URL}")]
    if run_like:
        pairs += [("BITBYBIT_ALERT_CHANNEL", "sns"), ("BITBYBIT_ALERT_SNS_TOPIC_ARN", alert_topic_arn(env))]
        if family != "webserver":
            pairs.append(("BITBYBIT_PUBLIC_URL", "${DESK_PUBLIC_URL}"))
    if sends_mail:
        pairs += [("BITBYBIT_EMAIL_TRANSPORT", "ses"), ("BITBYBIT_MAIL_FROM", "${MAIL_FROM}"),
                  ("BITBYBIT_SES_CONFIGURATION_SET", ses_configuration_set(env))]
    if family == "daemon":
        pairs.append(("BITBYBIT_SES_FEEDBACK_QUEUE_URL",
                      f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{feedback_queue_name(env)}"))
    if family == "desk":
        pairs.append(("FORWARDED_ALLOW_IPS", "*"))
    if env.batch and family in ("run-cpu", "run-gpu", "daemon", "webserver"):
        # every process that creates runs tags the scoring run for Batch; launchers submit it
        names = batch_names(env)
        pairs += [("BITBYBIT_GPU_RUNNER", "batch"), ("BITBYBIT_BATCH_JOB_QUEUE", names["queue"]),
                  ("BITBYBIT_BATCH_JOB_DEFINITION", names["job_definition"]),
                  ("BITBYBIT_BATCH_LOG_GROUP", env.log_group)]
    return _env(pairs)


def _secrets(family: str) -> list[dict[str, str]]:
    pg = "${PG_SECRET_ARN}"
    out = [
        {"name": "DAGSTER_PG_USER", "valueFrom": f"{pg}:username::"},
        {"name": "DAGSTER_PG_PASSWORD", "valueFrom": f"{pg}:password::"},
        {"name": "POSTGRES_USER", "valueFrom": f"{pg}:username::"},
        {"name": "POSTGRES_PASSWORD", "valueFrom": f"{pg}:password::"},
    ]
    if family != "desk":
        out.append({"name": "BITBYBIT_LLM_API_KEY", "valueFrom": "${LLM_SECRET_ARN}:api_key::"})
    if family in ("run-cpu", "run-gpu", "desk"):
        out.append({"name": "BITBYBIT_SECRET_KEY", "valueFrom": "${SECRET_KEY_ARN}"})
    return out


def task_definition(env: Environment, family: str, gpu_cpu: str, gpu_memory: str) -> dict[str, Any]:
    """``RegisterTaskDefinition`` input of ``<name>-<family>``; the GPU task is sized by
    ``deployment.gpu_task_cpu/memory`` (config/production.yaml)."""
    if family not in TASK_FAMILIES:
        raise ValueError(f"unknown task family {family!r}")
    run = family.startswith("run-")
    gpu = family == "run-gpu"
    role = "run-task" if run else "desk" if family == "desk" else "dagster"
    cpu, memory = (gpu_cpu, gpu_memory) if gpu else (env.run_cpu, env.run_memory) if run else (
        env.service_cpu, env.service_memory)
    container: dict[str, Any] = {
        "name": "run" if run else family,
        "image": "${IMAGE_GPU}" if gpu else "${IMAGE_CPU}",
        "essential": True,
    }
    if run:
        container["memoryReservation"] = 4096 if gpu else 1024
    else:
        container["command"] = [family]
    if gpu:
        container["resourceRequirements"] = [{"type": "GPU", "value": "1"}]
    if family == "webserver":
        container["portMappings"] = [{"containerPort": 3000, "protocol": "tcp", "name": "dagster-ui"}]
    if family == "desk":
        container["portMappings"] = [{"containerPort": 8000, "protocol": "tcp", "name": "desk-http"}]
    container["environment"] = _environment(env, family)
    container["secrets"] = _secrets(family)
    container["logConfiguration"] = {
        "logDriver": "awslogs",
        "options": {"awslogs-group": env.log_group, "awslogs-region": REGION,
                    "awslogs-stream-prefix": "run" if family == "run-cpu" else family},
    }
    if not run:
        container["healthCheck"] = {"command": HEALTHCHECK, "interval": 30, "timeout": 10, "retries": 3,
                                    "startPeriod": 60 if family == "desk" else 120}
    doc: dict[str, Any] = {
        "family": f"{env.name}-{family}",
        "taskRoleArn": role_arn(env, role),
        "executionRoleArn": role_arn(env, "task-execution"),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["EC2" if gpu else "FARGATE"],
        "cpu": cpu,
        "memory": memory,
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [container],
        "tags": [{"key": "project", "value": env.project}],
    }
    if family == "run-cpu":
        doc["ephemeralStorage"] = {"sizeInGiB": 30}
    return doc


# ---------------------------------------------------------------- IAM


def _statement(sid: str | None, actions: list[str], resource: Any, condition: dict | None = None,
               effect: str = "Allow", principal: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if sid:
        out["Sid"] = sid
    out["Effect"] = effect
    if principal is not None:
        out["Principal"] = principal
    out["Action"] = actions
    out["Resource"] = resource
    if condition:
        out["Condition"] = condition
    return out


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _arn(service: str, rest: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


def ecs_tasks_trust_policy() -> dict[str, Any]:
    return _policy({
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"aws:SourceArn": _arn("ecs", "*")},
                      "StringEquals": {"aws:SourceAccount": ACCOUNT}},
    })


def _ses_resources(env: Environment) -> list[str]:
    return [_arn("ses", "identity/*"), _arn("ses", f"configuration-set/{ses_configuration_set(env)}")]


def task_execution_policy(env: Environment) -> dict[str, Any]:
    return _policy(
        _statement("PullImages", ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                                  "ecr:BatchGetImage"], _arn("ecr", f"repository/{env.repository}")),
        _statement("EcrAuth", ["ecr:GetAuthorizationToken"], "*"),
        _statement("WriteContainerLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
                   _arn("logs", f"log-group:{env.log_group}:*")),
        _statement("InjectSecrets", ["secretsmanager:GetSecretValue"],
                   [_arn("secretsmanager", f"secret:{env.secrets_prefix}/*")]),
    )


def _batch_statements(env: Environment) -> list[dict[str, Any]]:
    if not env.batch:
        return []
    names = batch_names(env)
    return [
        _statement("SubmitScoringJobs", ["batch:SubmitJob"],
                   [_arn("batch", f"job-queue/{names['queue']}"),
                    _arn("batch", f"job-definition/{names['job_definition']}"),
                    _arn("batch", f"job-definition/{names['job_definition']}:*")]),
        _statement("FollowScoringJobs", ["batch:DescribeJobs", "batch:TerminateJob"], "*"),
        _statement("ReadScoringJobLogs", ["logs:GetLogEvents"],
                   _arn("logs", f"log-group:{env.log_group}:log-stream:batch/*")),
    ]


def run_task_policy(env: Environment) -> dict[str, Any]:
    return _policy(
        _statement("ListLakehousePrefixes", ["s3:ListBucket"], f"arn:aws:s3:::{BUCKET}",
                   {"StringLike": {"s3:prefix": ["lakehouse", "lakehouse/*", "output", "output/*",
                                                 "dagster/compute-logs/*"]}}),
        _statement("ReadWriteObjects", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                        "s3:AbortMultipartUpload"],
                   [f"arn:aws:s3:::{BUCKET}/lakehouse/*", f"arn:aws:s3:::{BUCKET}/output/*",
                    f"arn:aws:s3:::{BUCKET}/dagster/compute-logs/*"]),
        _statement("PublishAlerts", ["sns:Publish"], alert_topic_arn(env)),
        _statement("SendNewsletterWithSes", ["ses:SendEmail", "ses:SendRawEmail"], _ses_resources(env)),
        *_batch_statements(env),
    )


def dagster_services_policy(env: Environment) -> dict[str, Any]:
    cluster = env.name
    return _policy(
        _statement("LaunchRunTasks", ["ecs:RunTask"],
                   [_arn("ecs", f"task-definition/{env.name}-run-cpu:*"),
                    _arn("ecs", f"task-definition/{env.name}-run-gpu:*")],
                   {"ArnEquals": {"ecs:cluster": _arn("ecs", f"cluster/{cluster}")}}),
        _statement("TagRunTasksAtLaunch", ["ecs:TagResource"], _arn("ecs", f"task/{cluster}/*"),
                   {"StringEquals": {"ecs:CreateAction": "RunTask"}}),
        _statement("WatchAndStopRunTasks", ["ecs:DescribeTasks", "ecs:StopTask"], _arn("ecs", f"task/{cluster}/*")),
        _statement("ResolveTaskDefinitions", ["ecs:DescribeTaskDefinition"], "*"),
        _statement("PassRunRoles", ["iam:PassRole"], [role_arn(env, "run-task"), role_arn(env, "task-execution")],
                   {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
        _statement("ReadRunWorkerLogsOnFailure", ["logs:GetLogEvents"],
                   _arn("logs", f"log-group:{env.log_group}:log-stream:*")),
        _statement("ListBucketPrefixes", ["s3:ListBucket"], f"arn:aws:s3:::{BUCKET}",
                   {"StringLike": {"s3:prefix": ["lakehouse", "lakehouse/*", "dagster/compute-logs/*"]}}),
        _statement("ReadLakehouseForSensors", ["s3:GetObject"], f"arn:aws:s3:::{BUCKET}/lakehouse/*"),
        _statement("ComputeLogs", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                   f"arn:aws:s3:::{BUCKET}/dagster/compute-logs/*"),
        _statement("PublishAlerts", ["sns:Publish"], alert_topic_arn(env)),
        # the run-tracking sensors' metrics (resources/metrics.py); PutMetricData has no resource ARN
        _statement("PublishRunMetrics", ["cloudwatch:PutMetricData"], "*",
                   {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}}),
        _statement("ReadSesFeedbackQueue", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                   _arn("sqs", feedback_queue_name(env))),
    )


def desk_task_policy(env: Environment) -> dict[str, Any]:
    return _policy(
        _statement("ListLakehousePrefixes", ["s3:ListBucket"], f"arn:aws:s3:::{BUCKET}",
                   {"StringLike": {"s3:prefix": ["lakehouse", "lakehouse/*"]}}),
        _statement("ReadLakehouse", ["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/lakehouse/*"]),
        _statement("SendTestAndConfirmationEmails", ["ses:SendEmail", "ses:SendRawEmail"], _ses_resources(env)),
    )


def delta_dynamodb_lock_policy() -> dict[str, Any]:
    return _policy(_statement("DeltaLockTable", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                                 "dynamodb:DeleteItem", "dynamodb:Query"],
                              _arn("dynamodb", "table/delta_log")))


def role_policies(env: Environment) -> dict[str, tuple[str, dict[str, Any]]]:
    """role key -> (policy file stem, policy document)."""
    return {
        "task-execution": ("task-execution-role-policy", task_execution_policy(env)),
        "run-task": ("run-task-role-policy", run_task_policy(env)),
        "dagster": ("dagster-services-role-policy", dagster_services_policy(env)),
        "desk": ("desk-task-role-policy", desk_task_policy(env)),
    }


# ---------------------------------------------------------------- S3


def bucket_policy() -> dict[str, Any]:
    both = [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    return _policy(
        _statement("DenyInsecureTransport", "s3:*", both, {"Bool": {"aws:SecureTransport": "false"}},
                   effect="Deny", principal="*"),
        _statement("DenyOldTls", "s3:*", both, {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                   effect="Deny", principal="*"),
        _statement("DenyObjectWritesOutsideTheAccount", ["s3:PutObject", "s3:DeleteObject"],
                   f"arn:aws:s3:::{BUCKET}/*", {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}},
                   effect="Deny", principal="*"),
    )


def bucket_encryption() -> dict[str, Any]:
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def public_access_block() -> dict[str, bool]:
    return {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True}


def _rule(rule_id: str, prefix: str, **parts: Any) -> dict[str, Any]:
    return {"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": prefix}, **parts}


def bucket_lifecycle() -> dict[str, Any]:
    """Lifecycle rules of the lakehouse bucket (why each: DEPLOYMENT.md, 'The bucket')."""
    return {"Rules": [
        _rule("abort-incomplete-multipart-uploads", "", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 2}),
        _rule("raw-feeds-to-cheaper-tiers", "lakehouse/raw_feeds/partition_date=",
              Transitions=[{"Days": 30, "StorageClass": "INTELLIGENT_TIERING"},
                           {"Days": 365, "StorageClass": "GLACIER_IR"}]),
        _rule("expire-superseded-delta-files", "lakehouse/", NoncurrentVersionExpiration={"NoncurrentDays": 30},
              Expiration={"ExpiredObjectDeleteMarker": True}),
        _rule("outputs-to-intelligent-tiering", "output/",
              Transitions=[{"Days": 30, "StorageClass": "INTELLIGENT_TIERING"}],
              NoncurrentVersionExpiration={"NoncurrentDays": 30}),
        _rule("expire-database-exports", "output/database/", Expiration={"Days": 180}),
        _rule("expire-compute-logs", "dagster/compute-logs/", Expiration={"Days": 90},
              NoncurrentVersionExpiration={"NoncurrentDays": 1}),
    ]}


def fragments(env: Environment, gpu_cpu: str, gpu_memory: str) -> dict[str, Any]:
    """``deploy/aws`` relative path -> document (the files ``python -m infra render`` writes)."""
    out: dict[str, Any] = {f"ecs/{f}.json": task_definition(env, f, gpu_cpu, gpu_memory) for f in TASK_FAMILIES}
    for stem, doc in role_policies(env).values():
        out[f"iam/{stem}.json"] = doc
    out["iam/ecs-tasks-trust-policy.json"] = ecs_tasks_trust_policy()
    out["iam/optional-delta-dynamodb-lock-policy.json"] = delta_dynamodb_lock_policy()
    out["s3/lifecycle.json"] = bucket_lifecycle()
    out["s3/encryption.json"] = bucket_encryption()
    out["s3/public-access-block.json"] = public_access_block()
    out["s3/bucket-policy.json"] = bucket_policy()
    return out
