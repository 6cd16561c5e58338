"""Describe the machine a benchmark ran on: CPU, cores, memory, bf16 support, library versions."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "openvino", "sentence-transformers", "polars", "deltalake", "dagster", "numpy")
BF16_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _meminfo_kib(field: str) -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def load_average() -> str:
    """``uptime``-style 1/5/15-minute load averages."""
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


def mem_available_gib() -> float | None:
    kib = _meminfo_kib("MemAvailable")
    return kib / 2**20 if kib else None


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def _openvino_caps() -> str:
    try:
        import openvino as ov

        return " ".join(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:
        return "n/a"


def _cpu_class() -> str:
    try:
        from resources.embeddings import choose_backend, cpu_class, openvino_available

        cls = cpu_class()
        return f"{cls}: {' '.join(choose_backend(cls, openvino=openvino_available()))}"
    except Exception as exc:  # a report row, never a failure
        return f"n/a ({type(exc).__name__})"


def _gpu() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:
        pass
    return "none"


def describe_machine() -> dict[str, str]:
    """Facts about this machine, as strings (for the report's header table)."""
    info = _cpuinfo()
    m = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
    flags_line = re.search(r"^flags\s*:\s*(.+)$", info, re.MULTILINE)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    total = _meminfo_kib("MemTotal")
    out = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": m.group(1).strip() if m else platform.processor() or "unknown",
        "cores": f"{usable} usable ({os.cpu_count()} online)",
        "memory": f"{total / 2**20:.1f} GiB" if total else "unknown",
        "bf16 cpu flags": " ".join(f for f in BF16_FLAGS if f in flags) or "none",
        "openvino cpu capabilities": _openvino_caps(),
        "cpu class (encoder choice)": _cpu_class(),
        "gpu": _gpu(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    for pkg in PACKAGES:
        out[pkg] = _version(pkg)
    return out
