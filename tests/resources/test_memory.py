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



LARGE_BLOCKS = """
import ctypes, sys
import numpy as np
from resources.memory import map_large_allocations

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2

def mapped_mib():
    return libc.mallinfo2().hblkhd / 2**20

if sys.argv[1] == "mapped":
    assert map_large_allocations()
big = np.ones((16 << 20) // 8)  # freeing it raises glibc's default threshold to 16 MiB
del big
start = mapped_mib()
blocks = [np.ones((n << 20) // 8) for n in (2, 3, 5, 8)]  # 18 MiB, sizes like an encoder batch's buffers
print(round(mapped_mib() - start))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and mallinfo2")
def test_large_blocks_get_their_own_mappings_once_asked():
    import subprocess

    mapped = {}
    for mode in ("default", "mapped"):  # each in its own process: the setting is process-wide
        out = subprocess.run([sys.executable, "-c", LARGE_BLOCKS, mode], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        mapped[mode] = int(out.stdout)
    # by default, after a 16 MiB block is freed, blocks under 16 MiB are cut from the heap, where
    # freeing them can leave holes; once asked, every block of 1 MiB or more is its own mapping
    assert mapped == {"default": 0, "mapped": 18}, mapped
