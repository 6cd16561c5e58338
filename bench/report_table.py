"""Markdown tables and the targets the benchmark report checks (shared by bench.report's sections)."""

from __future__ import annotations

from typing import Any

GIB = 1024.0  # MiB per GiB
TARGETS = {
    "speedup": 2.2,
    "cosine": 0.9999,
    "day_cold_s": 30.0,  # issue 15: from the CLI on 2 cores
    "day_warm_s": 10.0,
    "backfill_s": 300.0,
    "rss_mib": 1.5 * GIB,
    "scale_growth": 1.5,
}


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table with padded columns (readable on a terminal too)."""
    cells = [[cell(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in cells)])


def cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    return str(v).replace("|", "\\|")


def met(ok: bool | None) -> str:
    return "pending" if ok is None else ("**yes**" if ok else "**no**")

