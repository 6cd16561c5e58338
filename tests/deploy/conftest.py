"""Deployment fixtures: moto's AWS APIs as a real HTTP server on loopback, and the template values.

boto3 clients created anywhere in the test process (the ECS run launcher, the S3 compute log
manager, the lifecycle script) reach the server through ``AWS_ENDPOINT_URL``, exactly as they
would reach AWS: nothing is patched (:mod:`tests.support.moto_server`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.moto_server import ACCOUNT_ID, REGION, moto_endpoint, use_moto_account  # noqa: F401  (fixture)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_AWS = PROJECT_ROOT / "deploy" / "aws"
BUCKET = "bitbybit-prod-test"

if str(DEPLOY_AWS) not in sys.path:
    sys.path.insert(0, str(DEPLOY_AWS))  # render.py, apply_lifecycle.py (scripts, not a package)


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch) -> str:  # noqa: F811  (the imported fixture)
    """A clean moto account and the standard AWS variables pointing at it."""
    return use_moto_account(moto_endpoint, monkeypatch)


def template_values(**overrides: str) -> dict[str, str]:
    """Values for the ``${...}`` placeholders of the deploy/aws templates (see DEPLOYMENT.md)."""
    values = {
        "AWS_ACCOUNT_ID": ACCOUNT_ID,
        "AWS_REGION": REGION,
        "BUCKET": BUCKET,
        "IMAGE_CPU": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/bitbybit:1.0.0-cpu",
        "IMAGE_GPU": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/bitbybit:1.0.0-cuda",
        "DB_HOST": "bitbybit.abcdefghij.us-east-1.rds.amazonaws.com",
        "PG_SECRET_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:bitbybit/prod/postgres-AbCdEf",
        "LLM_SECRET_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:bitbybit/prod/llm-GhIjKl",
        "LLM_BASE_URL": "https://api.openai.com/v1",
        "LLM_MODEL": "gpt-4o-mini",
        "SUBNETS": "subnet-0a,subnet-0b",
        "RUN_SECURITY_GROUP": "sg-0123",
        # the desk (deploy/aws/ecs/desk.json)
        "DESK_PUBLIC_URL": "https://desk.example.com",
        "DAGSTER_URL": "http://webserver.bitbybit.local:3000",
        "DAGSTER_UI_URL": "https://dagster.example.com",
        "MAIL_FROM": "news@news.example.com",
        "SECRET_KEY_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:bitbybit/prod/secret-key-MnOpQr",
    }
    values.update(overrides)
    return values
