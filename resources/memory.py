"""The process's heap kept close to what it uses: freed memory handed back to the operating system, so
a stage's peak does not carry into the next."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import cache
from typing import Any

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
# Allocations of this size and more get their own mapping. glibc's default starts at 128 KiB but
# rises to the largest block freed so far (up to 32 MiB), after which the encoders' activation
# buffers (several MiB each, a different size per batch shape) are cut from the heap and leave it
# fragmented: encoding a 30-day backfill's 6,636 texts in one call (MiniLM, OpenVINO fp32) peaked at
# 865-885 MiB with the default, 629 MiB with 1 MiB fixed, in the same time (BENCHMARKS.md §3).
LARGE_ALLOCATION = 1 << 20


@cache
def _libc() -> Any | None:
    """glibc (None elsewhere: musl, macOS, Windows, or no ``malloc_trim``/``mallopt``)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - both must exist (glibc)
        return libc
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Collect garbage, then return the allocator's free pages to the OS (glibc keeps them in its arenas
    otherwise: a model dropped by one stage kept counting in the process's RSS while the next loaded).
    True when the allocator was asked."""
    gc.collect()
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@cache
def map_large_allocations(threshold: int = LARGE_ALLOCATION) -> bool:
    """Serve every allocation of ``threshold`` bytes or more from its own mapping, unmapped when freed
    (process-wide, once; see :data:`LARGE_ALLOCATION`). Called by the encoders when they load. True when
    glibc accepted it."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1)
