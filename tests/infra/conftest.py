"""The infrastructure's environments and rendered files, built once per test module."""

from __future__ import annotations

import pytest

from infra.__main__ import rendered_files
from infra.config import load_environments


@pytest.fixture(scope="module")
def envs():
    return load_environments()


@pytest.fixture(scope="module")
def files():
    return rendered_files()
