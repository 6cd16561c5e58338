"""Shared fixtures: sample archive, full corpus (when ../shared is present), a temporary lakehouse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.http_server import http_server  # noqa: F401  (fixture)
from tests.support.s3_server import s3_test_server  # noqa: F401  (session fixture: a real S3 API server)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The converted encoders (OpenVINO IR, compiled blobs, the measured precision) are a per-machine cache
# like the virtualenv, not test state: every test shares the one `make setup` prepared, instead of each
# temporary data dir converting MiniLM and e5 again (torch import + conversion: ~10-20 s CPU per test).
# Conversions write atomically, so parallel workers may share it. The tests of the conversion itself
# point BITBYBIT_MODEL_CACHE at their own folder.
os.environ.setdefault("BITBYBIT_MODEL_CACHE", str(PROJECT_ROOT / "data" / "model_cache"))
SAMPLE_ARCHIVE = PROJECT_ROOT / "sample_data" / "feeds"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def sample_archive() -> Path:
    return SAMPLE_ARCHIVE


@pytest.fixture(scope="session")
def full_corpus() -> Path:
    path = SHARED_DATA / "feeds"
    if not path.is_dir():
        pytest.skip("full feed corpus ../shared/data/feeds not present")
    return path


@pytest.fixture(scope="session")
def labels_dir() -> Path:
    path = SHARED_DATA / "labels"
    if not path.is_dir():
        pytest.skip("labelled dev set ../shared/data/labels not present")
    return path


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Point every location setting at a temp folder (lakehouse, data, output)."""
    monkeypatch.setenv("BITBYBIT_ENV", "local")
    monkeypatch.setenv("BITBYBIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BITBYBIT_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", str(tmp_path / "lakehouse"))
    monkeypatch.setenv("BITBYBIT_FEED_ARCHIVE", str(SAMPLE_ARCHIVE))
    monkeypatch.setenv("BITBYBIT_FEED_SOURCE", "archive")
    return tmp_path
