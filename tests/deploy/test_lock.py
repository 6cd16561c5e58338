"""uv.lock and the files that install from it agree (CI's `make lock-check` compares it with
pyproject.toml; these check what uv does not know about)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from scripts.locked_requirement import locked_requirement
from tests.deploy.conftest import PROJECT_ROOT

LOCK = PROJECT_ROOT / "uv.lock"


def _packages() -> list[dict]:
    return tomllib.loads(LOCK.read_text())["package"]


def test_uv_bootstrap_requirement_carries_the_locked_version_and_hashes():
    (uv,) = [p for p in _packages() if p["name"] == "uv"]
    line = locked_requirement(LOCK.read_text(), "uv")
    name, *hashes = line.split(" ")
    assert name == f"uv=={uv['version']}"
    assert hashes and all(h.startswith("--hash=sha256:") for h in hashes)
    assert {h.removeprefix("--hash=") for h in hashes} == {w["hash"] for w in uv["wheels"]} | (
        {uv["sdist"]["hash"]} if "sdist" in uv else set()
    )
    out = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "locked_requirement.py"), "uv"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == line


def test_locked_requirement_refuses_unknown_packages():
    with pytest.raises(ValueError, match="0 locked releases"):
        locked_requirement(LOCK.read_text(), "no-such-package")


def test_torch_builds_cpu_wheel_pinned_by_sha256_and_cuda_from_pypi():
    torches = {p["version"]: p for p in _packages() if p["name"] == "torch"}
    assert set(torches) == {"2.13.0", "2.13.0+cpu"}
    digest, filename = (PROJECT_ROOT / "deploy" / "torch-cpu.sha256").read_text().split()
    assert len(digest) == 64
    (cpu_wheel,) = torches["2.13.0+cpu"]["wheels"]
    assert cpu_wheel["path"].rsplit("/", 1)[-1] == filename
    cuda = torches["2.13.0"]
    assert cuda["source"] == {"registry": "https://pypi.org/simple"}
    assert all(w["hash"].startswith("sha256:") for w in cuda["wheels"])


def test_every_registry_file_in_the_lock_has_a_hash():
    for package in _packages():
        if "registry" not in package["source"] or package["source"]["registry"].startswith("/"):
            continue  # the project itself; the CPU torch wheel (checked against deploy/torch-cpu.sha256)
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        assert files and all(f.get("hash", "").startswith("sha256:") for f in files), package["name"]
