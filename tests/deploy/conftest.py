"""Deployment fixtures: moto's AWS APIs as a real HTTP server on loopback, and the template values.

boto3 clients created anywhere in the test process (the ECS run launcher, the S3 compute log
manager, the lifecycle script) reach the server through ``AWS_ENDPOINT_URL``, exactly as they
would reach AWS: nothing is patched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from moto.server import ThreadedMotoServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_AWS = PROJECT_ROOT / "deploy" / "aws"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
BUCKET = "bitbybit-prod-test"

if str(DEPLOY_AWS) not in sys.path:
    sys.path.insert(0, str(DEPLOY_AWS))  # render.py, apply_lifecycle.py (scripts, not a package)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch) -> str:
    """A clean moto account and the standard AWS variables pointing at it."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    return moto_endpoint


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
