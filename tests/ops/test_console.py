"""The console of ``bitbybit``: its own lines, and other loggers only when they warn (Dagster's and
dagster-dbt's INFO records reach the root's handler whatever the root's level)."""

import logging

from bitbybit_assets.cli import _own_or_warning


def _record(name: str, level: int) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "msg", None, None)


def test_own_lines_at_info_pass_and_library_info_does_not():
    assert _own_or_warning(_record("bitbybit", logging.INFO))
    assert _own_or_warning(_record("bitbybit.backfill", logging.INFO))
    assert not _own_or_warning(_record("dagster.builtin", logging.INFO))  # "Finished dbt command: ..."
    assert not _own_or_warning(_record("bitbybit_assets.curate", logging.INFO))
    assert _own_or_warning(_record("dagster.builtin", logging.WARNING))
    assert _own_or_warning(_record("alembic", logging.ERROR))
