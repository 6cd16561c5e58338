"""Freed memory goes back to the OS after a model is dropped (glibc's malloc_trim)."""

import sys

import numpy as np
import pytest

from resources.memory import release_freed_memory


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_blocks_between_live_ones_leave_the_resident_set():
    # 10,000 blocks of 64 KiB (below glibc's mmap threshold, so they share the heap arena); every other
    # one is freed: holes between live blocks, which free() alone keeps resident
    blocks = [np.ones(8_000, dtype=np.float64) for _ in range(10_000)]
    del blocks[::2]
    held = _rss_kib()
    assert release_freed_memory()
    freed = held - _rss_kib()
    assert freed > 200_000, f"only {freed} KiB returned"  # of ~312,000 KiB freed
    del blocks
