"""Print a pip requirement line, with every hash uv.lock records, for one locked package.

The Makefile and the Dockerfile bootstrap the installer this way (`pip install --require-hashes -r`):
uv itself comes at the version and hashes of uv.lock, so nothing, not even uv, installs unlocked.

    python3 scripts/locked_requirement.py uv [--lock uv.lock]
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path


def locked_requirement(lock_text: str, name: str) -> str:
    """``name==version --hash=sha256:...`` for the one registry release of ``name`` in a uv.lock."""
    lock = tomllib.loads(lock_text)
    releases = [p for p in lock.get("package", []) if p["name"] == name]
    if len(releases) != 1:
        raise ValueError(f"{name}: {len(releases)} locked releases (need exactly one)")
    (release,) = releases
    files = [*release.get("wheels", []), *([release["sdist"]] if "sdist" in release else [])]
    hashes = sorted({f["hash"] for f in files if "hash" in f})
    if not hashes:
        raise ValueError(f"{name}: uv.lock records no hashes")
    return " ".join([f"{name}=={release['version']}", *(f"--hash={h}" for h in hashes)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--lock", type=Path, default=Path(__file__).resolve().parent.parent / "uv.lock")
    args = parser.parse_args(argv)
    sys.stdout.write(locked_requirement(args.lock.read_text(), args.name) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
