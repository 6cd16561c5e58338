"""No module of the project is over 400 lines unless its top says why (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bitbybit_assets", "bitbybit_base", "resources", "sensors", "desk", "infra", "bench", "evaluation")
MAX_LINES = 400
REASON = "Over 400 lines because"
HEAD_LINES = 15


def oversized(root: Path = ROOT) -> list[str]:
    """``path (N lines)`` for every ``.py`` file of ``PACKAGES`` over ``MAX_LINES`` lines whose first
    ``HEAD_LINES`` lines do not contain ``REASON``."""
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) > MAX_LINES and not any(REASON in line for line in lines[:HEAD_LINES]):
                out.append(f"{path.relative_to(root)} ({len(lines)} lines)")
    return out


def test_no_module_over_400_lines_without_a_reason():
    assert oversized() == [], (
        f"split these modules, or state why at the top of the docstring ({REASON!r} in the first "
        f"{HEAD_LINES} lines)"
    )


@pytest.mark.parametrize(("head", "found"), [("", True), (f'"""Big.\n\n{REASON} it is a table.\n"""\n', False)])
def test_the_rule_sees_long_modules_and_their_reasons(tmp_path: Path, head: str, found: bool):
    package = tmp_path / "resources"
    package.mkdir()
    (package / "big.py").write_text(head + "x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    (package / "small.py").write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    assert oversized(tmp_path) == ([f"resources/big.py ({len(head.splitlines()) + MAX_LINES + 1} lines)"]
                                   if found else [])
