"""moto's AWS APIs as a real HTTP server on loopback, for tests that use boto3 as against AWS.

boto3 clients created anywhere in the test process reach the server through ``AWS_ENDPOINT_URL``,
exactly as they would reach AWS: nothing is patched. Import :func:`moto_endpoint` as a fixture and
call :func:`use_moto_account` in a test's own fixture for a clean account.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server started once for the session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def use_moto_account(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Reset the moto server to a clean account and point the standard AWS variables at it
    (every other ``AWS_*`` variable removed); returns ``endpoint``."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    return endpoint
