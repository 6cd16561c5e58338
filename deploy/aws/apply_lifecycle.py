"""Apply the bucket settings in ``deploy/aws/s3`` to the bitbybit bucket, idempotently.

    python deploy/aws/apply_lifecycle.py --bucket my-bitbybit-bucket            # apply
    python deploy/aws/apply_lifecycle.py --bucket my-bitbybit-bucket --dry-run  # show what would change
    python deploy/aws/apply_lifecycle.py --bucket B --policy                    # also the bucket policy

What it sets, each only when the bucket's current setting differs:

* versioning ``Enabled`` (what lets the lifecycle expire files Delta VACUUM / log cleanup delete,
  30 days later, instead of at once: an undo window);
* default encryption (``s3/encryption.json``, SSE-S3);
* the public access block (``s3/public-access-block.json``, everything blocked);
* the lifecycle rules (``s3/lifecycle.json``): raw_feeds data files to Intelligent-Tiering at 30
  days and Glacier Instant Retrieval at 365, superseded Delta files and old output versions expire
  30 days after they are replaced, compute logs after 90 days, database exports after 180, and
  incomplete multipart uploads are aborted after 2 days;
* with ``--policy``: the bucket policy (``s3/bucket-policy.json``: TLS only, writes from this
  account only), rendered with ``BUCKET`` and ``AWS_ACCOUNT_ID``.

Credentials and region come from the usual AWS variables/profile; ``--endpoint-url`` (or
``AWS_ENDPOINT_URL``) points it at another S3 API (tests use moto).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
S3_DIR = HERE / "s3"
log = logging.getLogger("apply_lifecycle")

_MISSING_CODES = {
    "NoSuchLifecycleConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchBucketPolicy",
}


def load_json(name: str) -> Any:
    return json.loads((S3_DIR / name).read_text(encoding="utf-8"))


def _current(fn, key: str | None, **kwargs) -> Any:
    try:
        resp = fn(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
            return None
        raise
    return resp.get(key) if key else resp


def _canonical(value: Any) -> Any:
    """Comparable form: dict keys sorted, rules sorted by ID, empty values dropped."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        if all(isinstance(v, dict) and "ID" in v for v in items):
            items.sort(key=lambda v: v["ID"])
        return items
    return value


def _covers(current: Any, desired: Any) -> bool:
    """``current`` holds everything ``desired`` sets (S3 echoes defaults such as
    ``BucketKeyEnabled: false`` that a desired setting need not spell out)."""
    current, desired = _canonical(current), _canonical(desired)
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            k in current and _covers(current[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(current) == len(desired)
            and all(_covers(c, d) for c, d in zip(current, desired, strict=True))
        )
    return current == desired


def _lifecycle_rules_equal(current: list[dict] | None, desired: list[dict]) -> bool:
    if current is None:
        return False

    def strip(rules: list[dict]) -> list[dict]:
        # S3 echoes an empty prefix filter in several spellings; treat them alike
        out = []
        for rule in rules:
            rule = dict(rule)
            if rule.get("Filter") in ({"Prefix": ""}, {}) or rule.get("Prefix") == "":
                rule.pop("Filter", None)
                rule.pop("Prefix", None)
            out.append(rule)
        return out

    return _covers(strip(current), strip(desired))


def apply_bucket_settings(
    client,
    bucket: str,
    *,
    policy: dict | None = None,
    dry_run: bool = False,
) -> dict[str, bool]:
    """Bring ``bucket`` to the settings in ``deploy/aws/s3``; returns ``{setting: changed}``."""
    changed: dict[str, bool] = {}

    versioning = _current(client.get_bucket_versioning, None, Bucket=bucket) or {}
    changed["versioning"] = versioning.get("Status") != "Enabled"
    if changed["versioning"] and not dry_run:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    encryption = load_json("encryption.json")
    current_enc = _current(
        client.get_bucket_encryption, "ServerSideEncryptionConfiguration", Bucket=bucket
    )
    changed["encryption"] = not _covers(current_enc, encryption)
    if changed["encryption"] and not dry_run:
        client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=encryption)

    block = load_json("public-access-block.json")
    current_block = _current(
        client.get_public_access_block, "PublicAccessBlockConfiguration", Bucket=bucket
    )
    changed["public_access_block"] = not _covers(current_block, block)
    if changed["public_access_block"] and not dry_run:
        client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)

    lifecycle = load_json("lifecycle.json")
    current_rules = _current(client.get_bucket_lifecycle_configuration, "Rules", Bucket=bucket)
    changed["lifecycle"] = not _lifecycle_rules_equal(current_rules, lifecycle["Rules"])
    if changed["lifecycle"] and not dry_run:
        # objects under 128 KiB (Delta logs, small outputs) never change class: transition and
        # per-object fees would outweigh their storage
        client.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration=lifecycle,
            TransitionDefaultMinimumObjectSize="all_storage_classes_128K",
        )

    if policy is not None:
        current_policy = _current(client.get_bucket_policy, "Policy", Bucket=bucket)
        current_doc = json.loads(current_policy) if current_policy else None
        changed["policy"] = not _covers(current_doc, policy)
        if changed["policy"] and not dry_run:
            client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    for setting, did in changed.items():
        log.info("%s: %s", setting, ("would change" if dry_run else "updated") if did else "up to date")
    return changed


def render_policy(bucket: str, account_id: str) -> dict:
    text = (S3_DIR / "bucket-policy.json").read_text(encoding="utf-8")
    return json.loads(text.replace("${BUCKET}", bucket).replace("${AWS_ACCOUNT_ID}", account_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--region", default=None)
    parser.add_argument("--policy", action="store_true", help="also apply s3/bucket-policy.json")
    parser.add_argument("--account-id", default=None, help="for --policy (default: from STS)")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    session = boto3.session.Session(region_name=args.region)
    client = session.client("s3", endpoint_url=args.endpoint_url)
    policy = None
    if args.policy:
        account = args.account_id or session.client("sts", endpoint_url=args.endpoint_url).get_caller_identity()["Account"]
        policy = render_policy(args.bucket, account)
    changed = apply_bucket_settings(client, args.bucket, policy=policy, dry_run=args.dry_run)
    json.dump(changed, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
