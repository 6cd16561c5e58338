"""The cyclic garbage collector tuned for one command-line process (``bitbybit run``).

A run imports Dagster, dbt-core, polars and the encoders: over a million container objects that live
until the process exits. With CPython's defaults every full collection walks all of them again, and
interpreter shutdown walks them once more to free memory the OS takes back anyway. Measured on a
warm day (BENCHMARKS.md §2): about 3 s of 13 s went to the collector. Long-running processes (the
Dagster daemon, the webserver, tests) keep the defaults; only the CLI's entry point calls this.
"""

from __future__ import annotations

import atexit
import gc

# Allocations between young collections (CPython's default is 700). Cycles are rare in the pipeline's
# data (polars/Arrow buffers, numpy arrays); Dagster's event objects are what fills the young
# generation, and a larger one collects them less often at the same peak memory within ~10 MiB.
YOUNG_THRESHOLD = 50_000


def tune_for_short_process() -> None:
    """Freeze what the imports built, collect the young generation less often, skip shutdown's collection.

    Objects alive now (modules, classes, functions) move to the permanent generation, which later
    collections do not walk. The exit hook freezes again just before shutdown, so the interpreter's
    final collection has nothing left to walk; garbage still in cycles then is freed by the OS.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    atexit.register(gc.freeze)
