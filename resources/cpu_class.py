"""CPU class detection for the embedding model's backend choice (``resources.embeddings``).

The class (``CPU_CLASSES``, fastest first) comes from the /proc/cpuinfo flags, capped by
``ONEDNN_MAX_CPU_ISA`` and overridden by ``BITBYBIT_CPU_CLASS``; ``choose_backend`` maps a class to
the fastest path equivalent to plain fp32: ``openvino`` bf16 on ``amx`` / ``avx512_bf16`` (where a
measurement on the machine may still prefer fp32, :mod:`resources.encoder_precision`),
``openvino`` fp32 on ``avx512`` / ``avx2``, ``torch`` fp32 otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path

CPU_CLASSES = ("amx", "avx512_bf16", "avx512", "avx2", "generic")  # fastest first
CPU_CLASS_ENV = "BITBYBIT_CPU_CLASS"
# oneDNN's ISA cap (ONEDNN_MAX_CPU_ISA, read by torch and OpenVINO alike) -> the class it leaves
_ISA_CAP = {
    "sse41": "generic",
    "avx": "generic",
    "avx2": "avx2",
    "avx2_vnni": "avx2",
    "avx2_vnni_2": "avx2",
    "avx512_core": "avx512",
    "avx512_core_vnni": "avx512",
    "avx512_core_bf16": "avx512_bf16",
    "avx10_1_512": "avx512_bf16",
    "avx512_core_fp16": "avx512_bf16",
    "avx512_core_amx": "amx",
    "avx10_1_512_amx": "amx",
    "avx512_core_amx_fp16": "amx",
    "avx10_1_512_amx_fp16": "amx",
    "avx10_2_512": "avx512_bf16",
    "avx10_2_512_amx_2": "amx",
    "all": "amx",
}



def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (first ``flags`` line of /proc/cpuinfo; empty when unreadable)."""
    m = re.search(r"^flags\s*:\s*(.*)$", _cpuinfo(), re.MULTILINE)
    return frozenset(m.group(1).split()) if m else frozenset()


def classify_cpu(flags: Collection[str]) -> str:
    """The CPU class of a set of /proc/cpuinfo flags (one of ``CPU_CLASSES``)."""
    f = set(flags)
    if "avx512f" in f and ("amx_bf16" in f or "amx_tile" in f):
        return "amx"
    if "avx512f" in f and "avx512_bf16" in f:
        return "avx512_bf16"
    if {"avx512f", "avx512bw", "avx512vl"} <= f:
        return "avx512"
    if {"avx2", "fma"} <= f:
        return "avx2"
    return "generic"


def _weaker(a: str, b: str) -> str:
    return a if CPU_CLASSES.index(a) >= CPU_CLASSES.index(b) else b


def cpu_class(requested: str = "auto", flags: Collection[str] | None = None) -> str:
    """The CPU class to plan for: ``requested`` (or ``BITBYBIT_CPU_CLASS``) when not ``auto``, else the
    class of ``flags`` (default: this CPU's), capped by ``ONEDNN_MAX_CPU_ISA`` when that is set."""
    if requested == "auto":
        requested = os.environ.get(CPU_CLASS_ENV, "auto").strip().lower() or "auto"
    if requested != "auto":
        if requested not in CPU_CLASSES:
            raise ValueError(f"cpu class {requested!r} is not auto or one of {CPU_CLASSES}")
        return requested
    found = classify_cpu(cpu_flags() if flags is None else flags)
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().lower()
    return _weaker(found, _ISA_CAP[cap]) if cap in _ISA_CAP else found


def cpu_has_bf16() -> bool:
    """True when the CPU class runs bf16 natively (AVX512_BF16 or AMX)."""
    return cpu_class() in ("amx", "avx512_bf16")


def choose_backend(cls: str, *, openvino: bool, backend: str = "auto") -> tuple[str, str]:
    """``(backend, precision)`` on a CPU of class ``cls``: the fastest path equivalent to fp32.

    ``backend`` pins the library (``torch`` or ``openvino``); its precision still follows the class.
    """
    if backend not in ("auto", "torch", "openvino"):
        raise ValueError(f"backend {backend!r} is not auto, torch or openvino")
    if backend == "torch" or (backend == "auto" and (not openvino or cls == "generic")):
        return "torch", "fp32"
    return "openvino", "bf16" if cls in ("amx", "avx512_bf16") else "fp32"


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once)."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - not Linux
        allowed = set(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    for block in _cpuinfo().split("\n\n"):
        fields = dict(
            (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in block.splitlines()) if v
        )
        if fields.get("processor", "").isdigit() and int(fields["processor"]) in allowed:
            cores.add((fields.get("physical id", "0"), fields.get("core id", fields["processor"])))
    return max(1, len(cores) or len(allowed))
