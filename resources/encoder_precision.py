"""Which OpenVINO precision the embedding model runs in on this machine: measured once, then recorded.

bf16 is equivalent to fp32 for the encoder (cosine >= 0.9999, the same picks), but whether it is
*faster* depends on the machine, not only on its flags: on an AMD EPYC (Zen 4, avx512_bf16) bf16 ran at
5x plain fp32, while on an Intel Xeon with avx512_bf16 and avx512_fp16 but no AMX it was slower than
OpenVINO fp32 (66 vs 86 articles/s). So where the CPU class offers bf16, the first load on a machine
times both precisions on the same synthetic batches (alternately, best of ``ROUNDS``), keeps the
faster, and records the figures in ``<model cache>/openvino/<model key>/precision.json`` under a
fingerprint of the CPU (model name, flags, ``ONEDNN_MAX_CPU_ISA``), the OpenVINO version and the
thread count; later loads read the record. ``python -m resources.embeddings prepare`` (``make
setup``) pays the measurement (~5-10 s) at install time. Delete the file to measure again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resources.cpu_class import _cpuinfo, cpu_flags

log = logging.getLogger(__name__)

RECORD = "precision.json"
ROUNDS = 3  # timed passes per precision (after one warm-up pass each); the best counts
# synthetic texts of the corpus's lengths (title + lead: ~20-250 words); speed depends on shapes only
_WORDS = ("model", "release", "open", "weights", "benchmark", "agent", "inference", "chip", "research",
          "paper", "startup", "funding", "policy", "security", "cloud", "developer", "tool", "dataset",
          "training", "robotics", "language")
_LENGTHS = (18, 40, 64, 96, 128, 180, 240)


def calibration_texts(n: int = 42) -> list[str]:
    """``n`` deterministic texts cycling through the corpus's typical lengths (in words)."""
    out = []
    for i in range(n):
        length = _LENGTHS[i % len(_LENGTHS)]
        out.append(" ".join(_WORDS[(i + j * 7) % len(_WORDS)] for j in range(length)))
    return out


def fingerprint(threads: int) -> str:
    """The machine facts the choice depends on: CPU model and flags, ISA cap, OpenVINO, threads."""
    import openvino as ov

    m = re.search(r"^model name\s*:\s*(.*)$", _cpuinfo(), re.MULTILINE)
    parts = [m.group(1) if m else "?", " ".join(sorted(cpu_flags())),
             os.environ.get("ONEDNN_MAX_CPU_ISA", ""), ov.get_version(), str(threads)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def read_records(folder: Path) -> dict[str, Any]:
    """The recorded measurements of a converted model (empty when none or unreadable)."""
    try:
        data = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_records(folder: Path, records: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".precision-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(records, fh, indent=1, sort_keys=True)
    os.replace(tmp, folder / RECORD)


def time_precisions(encoders: dict[str, Callable[[list[str]], Any]], texts: list[str],
                    rounds: int = ROUNDS) -> dict[str, float]:
    """Texts per second of each encoder: one warm-up, then ``rounds`` passes taken alternately (so
    load on the machine hits both alike); the best pass counts."""
    for encode in encoders.values():
        encode(texts)
    best = dict.fromkeys(encoders, float("inf"))
    for _ in range(rounds):
        for name, encode in encoders.items():
            t0 = time.perf_counter()
            encode(texts)
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: len(texts) / max(t, 1e-9) for name, t in best.items()}


def choose(rates: dict[str, float], candidates: Sequence[str]) -> str:
    """The fastest candidate; on a tie fp32 (exact arithmetic wins)."""
    ranked = sorted(candidates, key=lambda p: (rates[p], p == "fp32"), reverse=True)
    return ranked[0]


def recorded_or_measured(folder: Path, candidates: Sequence[str], threads: int,
                         load: Callable[[str], Any], batch_size: int = 64) -> tuple[str, Any, dict[str, float]]:
    """``(precision, loaded encoder, texts/s per candidate)``: the recorded choice for this machine,
    else measure the candidates (``load(precision)`` gives an object with ``encode(texts,
    batch_size)``), record and return the faster. One candidate: no measurement (no rates)."""
    if len(candidates) == 1:
        return candidates[0], load(candidates[0]), {}
    key = fingerprint(threads)
    records = read_records(folder)
    chosen = records.get(key, {}).get("choice")
    if chosen in candidates:
        return chosen, load(chosen), dict(records[key].get("texts_per_s", {}))
    log.info("timing the encoder in %s once on this machine (%s)", " and ".join(candidates), folder)
    loaded = {p: load(p) for p in candidates}
    texts = calibration_texts()
    rates = time_precisions({p: (lambda t, m=m: m.encode(t, batch_size)) for p, m in loaded.items()}, texts)
    chosen = choose(rates, candidates)
    records[key] = {
        "choice": chosen,
        "texts_per_s": {p: round(r, 1) for p, r in rates.items()},
        "threads": threads,
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        _write_records(folder, records)
    except OSError as exc:  # a read-only cache: measure again next time rather than fail
        log.warning("could not record the encoder precision in %s: %s", folder, exc)
    log.info("encoder precision on this machine: %s (%s texts/s)", chosen,
             ", ".join(f"{p} {r:.0f}" for p, r in rates.items()))
    return chosen, loaded[chosen], records[key]["texts_per_s"]
