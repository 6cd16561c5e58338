"""The installed package (pyproject's ``[tool.setuptools.packages.find]``) holds every project package
the runtime imports, and the data files those packages read."""

from __future__ import annotations

import ast
import tomllib

from setuptools import find_packages

from tests.deploy.conftest import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
INCLUDE = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
PACKAGES = set(find_packages(str(PROJECT_ROOT), include=INCLUDE))
PROJECT_TOP = {p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py")}


def _imported_top_levels(package: str) -> set[str]:
    """Top-level project packages that ``package``'s modules import (at any depth of the code)."""
    found: set[str] = set()
    for path in (PROJECT_ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {n.split(".")[0] for n in names} & PROJECT_TOP
    return found


def test_every_package_the_runtime_imports_is_installed():
    tops = {p.split(".")[0] for p in PACKAGES}
    pending = sorted(tops)
    seen: set[str] = set()
    while pending:  # what the installed packages import must be installed too
        pkg = pending.pop()
        seen.add(pkg)
        missing = _imported_top_levels(pkg) - tops
        assert not missing, f"{pkg} imports {sorted(missing)}, not in [tool.setuptools.packages.find]"
        pending += [p for p in _imported_top_levels(pkg) if p not in seen]
    assert {"bitbybit_base", "bitbybit_assets", "resources", "sensors", "desk", "evaluation"} <= tops
    # every sub-package with code is a package (an __init__.py), so find_packages installs it
    for top in tops:
        for folder in (PROJECT_ROOT / top).rglob("*.py"):
            package = ".".join(folder.parent.relative_to(PROJECT_ROOT).parts)
            assert package in PACKAGES, f"{package} has modules but no __init__.py"


def test_package_data_covers_the_files_read_at_run_time():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    needed = {
        "bitbybit_assets": ["templates/newsletter.html.j2", "curate/models/ranker.json"],
        "desk": ["templates/desk_base.html"],
        "evaluation": ["labels/labels.tsv", "labels/items.tsv", "labels/ideal.tsv"],
    }
    for package, files in needed.items():
        root = PROJECT_ROOT / package
        shipped = {f for pattern in data[package] for f in root.glob(pattern)}  # setuptools' glob rules
        for rel in files:
            assert (root / rel).is_file(), rel
            assert root / rel in shipped, f"{package}/{rel} is not package data"
