"""python -m bench: run the benchmarks, print the tables and write BENCHMARKS.md.

    python -m bench                      # everything (about 20-30 minutes on 2 cores)
    python -m bench --quick              # smoke run: small sizes
    python -m bench --only embed         # one section; the others keep their last figures
    python -m bench --corpus sample_data/feeds --out /tmp/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

from bench import runner  # noqa: E402
from bench.corpus import ROOT, default_corpus  # noqa: E402
from bench.machine import describe_machine, load_average  # noqa: E402
from bench.report import render  # noqa: E402

SECTIONS = ("embed", "day", "backfill", "scale")
RESULTS = ROOT / ".bench" / "results.json"


def run_section(name: str, corpus: Path, quick: bool, args: argparse.Namespace) -> dict:
    day = runner.bench_day_of(corpus)
    sec = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_before": load_average(),
           "quick": quick, "corpus": str(corpus)}
    try:
        if name == "embed":
            sec["result"] = runner.section_embed(corpus, day, quick)
        elif name == "day":
            sec["result"] = runner.section_day(corpus, day, quick)
        elif name == "backfill":
            sec["result"] = runner.section_backfill(corpus, quick)
        else:
            sizes = tuple(args.scale_sizes) if args.scale_sizes else None
            sec["result"] = runner.section_scale(corpus, day, quick, sizes=sizes, sample=args.sample,
                                                 mem_budget_gib=args.mem_budget_gib)
    except Exception as exc:
        logging.getLogger("bench").error("%s failed:\n%s", name, traceback.format_exc())
        sec["error"] = f"{type(exc).__name__}: {exc}"
    sec["load_after"] = load_average()
    return sec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--only", choices=SECTIONS, action="append", help="run only this section (repeatable)")
    ap.add_argument("--corpus", type=Path, default=None, help="feed archive (default: ../shared/data/feeds "
                    "when present, else sample_data/feeds)")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="report to write")
    ap.add_argument("--results", type=Path, default=RESULTS, help="raw results (JSON), merged across --only runs")
    ap.add_argument("--scale-sizes", type=int, nargs="+", help="override the synthetic day sizes")
    ap.add_argument("--sample", type=int, default=None, help="texts encoded per scale size")
    ap.add_argument("--mem-budget-gib", type=float, default=4.0,
                    help="largest N×N clustering matrix the scale section may allocate")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "httpx", "dagster", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    corpus = (args.corpus or default_corpus()).resolve()
    results: dict = {"sections": {}}
    if args.results.exists():
        try:
            results = json.loads(args.results.read_text())
        except ValueError:
            results = {"sections": {}}
    results["machine"] = describe_machine()
    for name in args.only or SECTIONS:
        logging.getLogger("bench").info("section %s (corpus %s%s)", name, corpus, ", quick" if args.quick else "")
        results.setdefault("sections", {})[name] = run_section(name, corpus, args.quick, args)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1, default=str))
    text = render(results)
    args.out.write_text(text)
    print(text)
    print(f"\nwrote {args.out}", file=sys.stderr)
    failed = [n for n in (args.only or SECTIONS) if results["sections"][n].get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
