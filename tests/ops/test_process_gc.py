"""The CLI's garbage-collector settings (``bitbybit_base.process_gc``): only in its own process."""

from __future__ import annotations

import gc
import subprocess
import sys

from bitbybit_base.process_gc import YOUNG_THRESHOLD

PROBE = """
import atexit, gc, sys
import bitbybit_assets.cli as cli
cli.main = lambda: 0            # entry() without running a command
assert gc.get_freeze_count() == 0, "importing the CLI must not touch the collector"
assert cli.entry() == 0
assert gc.get_threshold()[0] == {young}, gc.get_threshold()
frozen = gc.get_freeze_count()
assert frozen > 10_000, frozen   # the imports' objects are in the permanent generation
garbage = [[]]; garbage[0].append(garbage)   # a cycle made after the freeze is still collected
del garbage
assert gc.collect() >= 1
atexit._run_exitfuncs()          # the exit hook: everything frozen before shutdown's collection
assert len(gc.get_objects()) < 100, len(gc.get_objects())   # nothing left for it to walk
print("ok")
"""


def test_entry_point_freezes_imports_and_skips_shutdown_collection():
    out = subprocess.run([sys.executable, "-c", PROBE.format(young=YOUNG_THRESHOLD)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_main_leaves_the_collector_alone_in_a_long_lived_process():
    from bitbybit_assets.cli import main

    before = gc.get_threshold(), gc.get_freeze_count()
    assert main(["run", "--start", "2026-08-07", "--end", "2026-08-06"]) == 2  # rejected before any work
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
