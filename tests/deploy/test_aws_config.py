"""The bucket settings script and the AWS JSON templates, against moto's APIs on loopback."""

from __future__ import annotations

import json

import boto3
import pytest
from apply_lifecycle import apply_bucket_settings, load_json, main, render_policy
from render import RenderError, render_json, render_text

from tests.deploy.conftest import ACCOUNT_ID, BUCKET, DEPLOY_AWS, template_values

ALL_SETTINGS = {"versioning", "encryption", "public_access_block", "lifecycle", "policy"}


@pytest.fixture
def bucket(aws: str) -> str:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def _rules(client, bucket: str) -> dict[str, dict]:
    return {r["ID"]: r for r in client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}


def test_apply_sets_everything_then_is_a_no_op(bucket: str):
    client = boto3.client("s3")
    policy = render_policy(bucket, ACCOUNT_ID)
    first = apply_bucket_settings(client, bucket, policy=policy)
    assert first == dict.fromkeys(ALL_SETTINGS, True)

    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enc = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    lifecycle = client.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert lifecycle["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    rules = _rules(client, bucket)
    raw = rules["raw-feeds-to-cheaper-tiers"]
    assert raw["Filter"]["Prefix"] == "lakehouse/raw_feeds/partition_date="  # data files, not _delta_log
    assert [(t["Days"], t["StorageClass"]) for t in raw["Transitions"]] == [
        (30, "INTELLIGENT_TIERING"),
        (365, "GLACIER_IR"),
    ]
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    delta = rules["expire-superseded-delta-files"]
    assert delta["Filter"]["Prefix"] == "lakehouse/"
    assert delta["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert "Days" not in delta.get("Expiration", {})  # live Delta files never expire by age
    assert rules["outputs-to-intelligent-tiering"]["Filter"]["Prefix"] == "output/"
    assert rules["expire-compute-logs"]["Expiration"]["Days"] == 90
    doc = json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])
    assert {s["Sid"] for s in doc["Statement"]} >= {"DenyInsecureTransport"}
    assert f"arn:aws:s3:::{bucket}/*" in doc["Statement"][0]["Resource"]

    second = apply_bucket_settings(client, bucket, policy=policy)
    assert second == dict.fromkeys(ALL_SETTINGS, False)


def test_a_drifted_rule_is_put_back(bucket: str):
    client = boto3.client("s3")
    apply_bucket_settings(client, bucket)
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{"ID": "hand-made", "Status": "Enabled", "Filter": {"Prefix": "x/"},
                                           "Expiration": {"Days": 1}}]},
    )
    changed = apply_bucket_settings(client, bucket)
    assert changed == {"versioning": False, "encryption": False, "public_access_block": False, "lifecycle": True}
    assert set(_rules(client, bucket)) == {r["ID"] for r in load_json("lifecycle.json")["Rules"]}


def test_dry_run_changes_nothing(bucket: str, capsys):
    client = boto3.client("s3")
    assert main(["--bucket", bucket, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == dict.fromkeys(ALL_SETTINGS - {"policy"}, True)
    assert "Status" not in client.get_bucket_versioning(Bucket=bucket)
    with pytest.raises(client.exceptions.ClientError):
        client.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert main(["--bucket", bucket, "--policy"]) == 0  # account id from STS
    assert json.loads(capsys.readouterr().out) == dict.fromkeys(ALL_SETTINGS, True)


def test_iam_policies_are_valid_policy_documents(aws: str):
    """moto's IAM validates policy grammar (actions, resources, condition operators)."""
    iam = boto3.client("iam")
    values = template_values()
    for path in sorted((DEPLOY_AWS / "iam").glob("*.json")):
        doc = render_json(path, values)
        if path.name.endswith("trust-policy.json"):
            iam.create_role(RoleName=path.stem[:60], AssumeRolePolicyDocument=json.dumps(doc))
        else:
            iam.create_policy(PolicyName=path.stem, PolicyDocument=json.dumps(doc))
    names = {p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]}
    assert {"run-task-role-policy", "dagster-services-role-policy", "task-execution-role-policy"} <= names


def test_run_role_can_write_only_bitbybit_prefixes():
    doc = render_json(DEPLOY_AWS / "iam" / "run-task-role-policy.json", template_values())
    resources = [r for s in doc["Statement"] if "s3:PutObject" in s["Action"] for r in s["Resource"]]
    assert resources == [
        f"arn:aws:s3:::{BUCKET}/lakehouse/*",
        f"arn:aws:s3:::{BUCKET}/output/*",
        f"arn:aws:s3:::{BUCKET}/dagster/compute-logs/*",
    ]
    assert not [s for s in doc["Statement"] if s["Resource"] == "*" or "*" in s["Action"]]


def test_render_fills_defaults_expands_lists_and_refuses_bad_values():
    assert render_text("a=${A} b=${B:-dflt}", {"A": "1"}) == "a=1 b=dflt"
    with pytest.raises(RenderError, match="MISSING"):
        render_text("${MISSING}", {})
    with pytest.raises(RenderError, match="INJECT"):
        render_text('"${INJECT}"', {"INJECT": 'x", "evil": "y'})
    values = template_values()
    gpu = render_json(DEPLOY_AWS / "ecs" / "run-gpu.json", values)
    assert gpu["containerDefinitions"][0]["image"] == values["IMAGE_GPU"]
    secrets = {s["name"]: s["valueFrom"] for s in gpu["containerDefinitions"][0]["secrets"]}
    assert secrets["DAGSTER_PG_PASSWORD"] == values["PG_SECRET_ARN"] + ":password::"


def test_desk_task_definition_registers_and_its_role_only_reads(aws: str):
    values = template_values()
    doc = render_json(DEPLOY_AWS / "ecs" / "desk.json", values)
    (container,) = doc["containerDefinitions"]
    assert container["command"] == ["desk"] and container["portMappings"][0]["containerPort"] == 8000
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["BITBYBIT_DAGSTER_URL"] == values["DAGSTER_URL"] and env["BITBYBIT_PUBLIC_URL"].startswith("https://")
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets["BITBYBIT_SECRET_KEY"] == values["SECRET_KEY_ARN"] and "BITBYBIT_SECRET_KEY" not in env
    registered = boto3.client("ecs").register_task_definition(**doc)["taskDefinition"]
    assert registered["family"] == "bitbybit-desk" and registered["taskRoleArn"].endswith(":role/bitbybit-desk")
    policy = render_json(DEPLOY_AWS / "iam" / "desk-task-role-policy.json", values)
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "ses:SendEmail", "ses:SendRawEmail"}
