"""Section 4 of the benchmark report: synthetic days of growing size (cost per 1k articles, memory)."""

from __future__ import annotations

import re
from typing import Any

from bench.report_table import TARGETS, met, table


def _stage_key(name: str) -> str:
    return re.sub(r" \(sample of \d+\)", " (sample)", name)


def scale_section(sec: dict[str, Any]) -> list[str]:
    r = sec["result"]
    sizes = r["sizes"]
    out = [
        f"Synthetic days built from {r['base_rows']} real filtered_articles rows ({r['base_days'][0]}..{r['base_days'][1]}, "
        "new items only) with perturbed text and fresh ids; each size in a fresh child process. "
        f"Encoding is timed on a sample of {r['sample']} texts (per-1k cost from the sample); the remaining rows "
        "re-use the sample's vectors by index plus noise (cosine ≈ 0.7 to the source, so copies are not "
        "duplicates). Peak memory per stage = peak RSS above the RSS at the stage's start. "
        f"Stage time limit {r['stage_limit_s']:.0f} s; clustering memory budget {r['mem_budget_gib']:.1f} GiB. "
        "Clustering and MMR use the full similarity matrix up to 5,000 rows / 1,000 eligible rows, embedding "
        "cells and MMR ranks past top_n against the picks above (`curate/neighbours.py`).",
        "",
    ]
    head = ["stage"]
    for s in sizes:
        head += [f"{s['size']:,}: ms/1k", f"{s['size']:,}: MiB peak"]
    keys: list[str] = []
    for s in sizes:
        for st in s.get("stages", []):
            k = _stage_key(st["stage"])
            if k not in keys:
                keys.append(k)
    rows = []
    for k in keys:
        row: list[Any] = [k.replace("  ", "↳ ")]
        for s in sizes:
            st = next((x for x in s.get("stages", []) if _stage_key(x["stage"]) == k), None)
            if st is None:
                row += [None, None]
            elif st["status"] != "ok":
                row += [st["status"], st.get("peak_mib")]
            else:
                row += [st["ms_per_1k"], st.get("peak_mib")]
        rows.append(row)
    out.append(table(head, rows))
    out += ["", table(
        ["size", "passed filter", "selected", "stories of 2+ rows (rows, largest)", "process peak RSS (MiB)",
         "RSS after model load (MiB)", "wall (s)", "notes"],
        [[f"{s['size']:,}", s.get("passed"), s.get("selected"), _stories(s.get("stories")),
          (s.get("child") or {}).get("max_rss_mib"),
          s.get("rss_after_model_mib"), (s.get("child") or {}).get("wall_s"),
          "; ".join(s.get("notes", [])) or s.get("error", "")[-200:]] for s in sizes],
    )]
    growth = growth_ratios(sizes)
    if growth:
        out += ["", "Cost per 1k articles, largest size over smallest: " + ", ".join(growth) + "."]
    return out


def _stories(st: dict[str, int] | None) -> str:
    return f"{st['stories']:,} ({st['rows']:,}, {st['largest']})" if st else "–"


def scale_targets(sizes: list[dict[str, Any]]) -> list[list[Any]]:
    """Clustering/selection cost per 1k within SCALE_GROWTH×, and the largest day clustered within 2 GiB."""
    rows: list[list[Any]] = []
    ratios = {}
    for k in ("  clustering", "  selection"):
        runs = [(s["size"], x) for s in sizes for x in s.get("stages", [])
                if x["stage"] == k and x["status"] == "ok" and x.get("ms_per_1k")]
        if len(runs) >= 2:
            ratios[k.strip()] = (runs[-1][1]["ms_per_1k"] / runs[0][1]["ms_per_1k"], runs[0][0], runs[-1][0])
    if ratios:
        worst = max(r for r, _, _ in ratios.values())
        rows.append(["clustering, selection: cost per 1k, smallest → largest", f"≤ {TARGETS['scale_growth']}×",
                     "; ".join(f"{k} ×{r:.2f} ({a:,} → {b:,})" for k, (r, a, b) in ratios.items()),
                     met(worst <= TARGETS["scale_growth"])])
    big = sizes[-1] if sizes else None
    if big and big.get("stories"):
        peak = (big.get("child") or {}).get("max_rss_mib")
        cur = next((x for x in big.get("stages", []) if x["stage"] == "curate_days"), {})
        rows.append([f"{big['size']:,}-row day clusters for real", "≤ 2 GiB process peak RSS",
                     f"{big['stories']['stories']:,} stories of 2+ rows; peak RSS {peak or 0:,.0f} MiB "
                     f"(curate_days +{cur.get('peak_mib') or 0:,.0f} MiB)",
                     met(bool(peak) and peak <= TARGETS["rss_mib"] and big["size"] >= 50_000)])
    return rows


GROWTH_STAGES = ("content filter", "text + hash", "curate_days", "  clustering", "  selection",
                 "  ads, scores, frames", "curate_days (clustering stubbed)")


def growth_ratios(sizes: list[dict[str, Any]], stages: tuple[str, ...] = GROWTH_STAGES) -> list[str]:
    """Per stage: cost per 1k at the largest size where it ran over the cost at the smallest."""
    out = []
    for k in stages:
        runs = [(s["size"], x) for s in sizes for x in s.get("stages", [])
                if x["stage"] == k and x["status"] == "ok" and x.get("ms_per_1k")]
        if len(runs) < 2:
            continue
        (n0, a), (n1, b) = runs[0], runs[-1]
        out.append(f"{k.strip()} ×{b['ms_per_1k'] / a['ms_per_1k']:.1f} ({n0:,} → {n1:,})")
    return out
