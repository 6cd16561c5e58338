"""Score curation on every labelled day: in-sample and leave-days-out tables (``make evaluate``).

    .venv/bin/python -m evaluation.evaluate                 # both tables, per day and mean
    .venv/bin/python -m evaluation.evaluate --ranker none   # the hand-weighted formula (no ranker)
    .venv/bin/python -m evaluation.evaluate --no-text-score # the ranker without f_text_score
    .venv/bin/python -m evaluation.evaluate --ranker-kind logistic  # logistic heads, not extra trees
    .venv/bin/python -m evaluation.evaluate --picks         # plus each day's picks against ideal.tsv

In-sample: a ranker trained on every labelled day scores every day. Leave-days-out: each day is
scored by a ranker trained on the other days only (``--folds`` groups days into blocks). With
``--ranker none`` or ``--ranker default`` (the shipped artefact, as it is) nothing is trained and
one table is printed. Labelled days come from ../shared/data/labels and evaluation/labels.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import polars as pl  # noqa: E402

from bitbybit_assets.curate.config import curate_config  # noqa: E402
from bitbybit_assets.curate.ranker import RANKER_KINDS, load_ranker  # noqa: E402
from evaluation import metrics, runner  # noqa: E402
from evaluation.dataset import load_labelled_days  # noqa: E402


def cpu_flags() -> str:
    """The CPU model and its vector extensions that matter for the encoder (for timings)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?"
    )
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    keep = sorted(f for f in flags if f.startswith(("avx512_bf16", "avx512f", "avx2", "amx", "avx512_vnni")))
    return f"{model}, {os.cpu_count()} cores, {' '.join(keep)}"


def table(title: str, j: pl.DataFrame, ideal: pl.DataFrame) -> tuple[str, dict[str, float]]:
    rows = metrics.day_table(j, ideal)
    summ = metrics.summary(rows, j)
    return metrics.format_table(title, rows, summ), summ


def details(j: pl.DataFrame) -> str:
    out = []
    ads = metrics.ad_report(j)
    out += [f"  ad missed: {m}" for m in ads.missed] + [f"  ad false alarm: {m}" for m in ads.false_alarms]
    for kind, items in metrics.pick_errors(j).items():
        out += [f"  picks {kind}: {it}" for it in items]
    r3 = metrics.relevance3(j).filter(~pl.col("found"))
    out += [f"  relevance-3 missed: {r['date']} {r['story']}" for r in r3.iter_rows(named=True)]
    return "\n".join(out)


def picks_listing(j: pl.DataFrame, ideal: pl.DataFrame) -> str:
    lines = []
    for day in sorted(j["date"].unique().to_list()):
        want = set(ideal.filter(pl.col("date") == day)["story"].to_list())
        d = j.filter(pl.col("date") == day)
        lines.append(f"\n== picks {day} ({len(want)} ideal)")
        for r in d.filter(pl.col("selected").fill_null(False)).sort("rank").iter_rows(named=True):
            mark = "*" if r["story"] in want else " "
            lines.append(
                f" {mark}{r['rank']:>2} f={r['final_score']:.2f} L{r['relevance']} {r['feed_slug'][:14]:<14} "
                f"{(r['content_type'] or ''):<8} {r['title'][:80]}"
            )
        picked = set(d.filter(pl.col("selected").fill_null(False))["story"].to_list())
        for s in sorted(want - picked):
            best = (
                d.filter(pl.col("story") == s)
                .sort("final_score", descending=True, nulls_last=True)
                .row(0, named=True)
            )
            lines.append(
                f"   miss {s}: {best['selection_reason']} f={best['final_score']} {best['title'][:70]}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, nargs="*", default=None, help="label folders (default: both)")
    ap.add_argument("--ranker", default="train", help="train (default) | default | none | PATH")
    ap.add_argument("--folds", type=int, default=None, help="leave-days-out folds (default: one per day)")
    ap.add_argument("--backend", default=None, help="embedding backend (default: embeddings.backend)")
    ap.add_argument("--no-multilingual", action="store_true", help="MiniLM only (no second encoder)")
    ap.add_argument("--no-cjk-titles", action="store_true", help="no CJK title vectors (zh-zh links)")
    ap.add_argument("--no-text-score", action="store_true", help="no f_text_score (the ranker before it)")
    ap.add_argument(
        "--ranker-kind", choices=RANKER_KINDS, default="extra_trees", help="the trained ranker's heads"
    )
    ap.add_argument("--text-l2", type=float, default=None, help="L2 of the text map (default: TEXT_L2)")
    ap.add_argument("--picks", action="store_true", help="print each day's picks")
    ap.add_argument("--details", action="store_true", help="list ad misses, pick errors, missed stories")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    t_start = time.perf_counter()
    labelled = load_labelled_days(args.labels) if args.labels else load_labelled_days()
    cfg = curate_config()
    if args.no_multilingual:
        cfg = replace(cfg, embeddings=cfg.embeddings.model_copy(update={"multilingual_model": None}))
    if args.no_cjk_titles:
        cfg = replace(cfg, embeddings=cfg.embeddings.model_copy(update={"cjk_title_model": None}))
    corpus = runner.prepare(labelled, backend=args.backend, cfg=cfg)
    ideal = labelled.ideal
    print(
        f"labelled days: {len(corpus.days)} ({', '.join(str(d) for d in corpus.days)}); "
        f"{labelled.labels.height} items; run from {corpus.start} (warm-up)"
    )
    print(
        f"rows {corpus.filtered.height}; ingest {corpus.timings['ingest']:.1f}s, embed "
        f"{corpus.timings['embed']:.1f}s ({int(corpus.timings['encoded'])} encoded, "
        f"{corpus.encoder_info.get('backend')} {corpus.encoder_info.get('precision', '')})"
    )
    for name, model in (("multilingual", cfg.embeddings.multilingual_model), ("cjk_title", cfg.embeddings.cjk_title_model)):
        if f"embed_{name}" in corpus.timings:
            n_x, t_x = int(corpus.timings[f"encoded_{name}"]), corpus.timings[f"embed_{name}"]
            rate = f", {n_x / t_x:.0f} texts/s" if n_x else ""
            print(f"{name} {model}: {t_x:.1f}s ({n_x} encoded{rate})")
    outs = []
    if args.ranker != "train":
        t0 = time.perf_counter()
        model = None if args.ranker == "none" else load_ranker(args.ranker)
        j = runner.labelled_join(corpus, runner.run(corpus, model))
        text, _ = table(f"ranker: {args.ranker} (nothing trained)", j, ideal)
        outs.append(("single", j))
        print(f"\n{text}\n(curate {time.perf_counter() - t0:.1f}s)")
    else:
        t0 = time.perf_counter()
        train_all = runner.features_frame(corpus)
        if args.no_text_score:
            fit = partial(runner.fit, kind=args.ranker_kind)
        else:
            extra = {} if args.text_l2 is None else {"text_l2": args.text_l2}
            fit = runner.fitter(corpus, kind=args.ranker_kind, **extra)
        model = fit(train_all)
        j_in = runner.labelled_join(corpus, runner.run(corpus, model))
        t_in = time.perf_counter() - t0
        text, _ = table("in-sample (ranker trained on every labelled day)", j_in, ideal)
        print(f"\n{text}\n(curate {t_in:.1f}s)")
        t0 = time.perf_counter()
        j_out = runner.leave_days_out(corpus, train_all, fit, args.folds)
        folds = args.folds or len(corpus.days)
        text, _ = table(
            f"leave-days-out ({folds} folds: each day scored by a ranker that never saw it)", j_out, ideal
        )
        print(f"\n{text}\n(curate {time.perf_counter() - t0:.1f}s)")
        outs = [("in-sample", j_in), ("leave-days-out", j_out)]
    if args.details or args.picks:
        for name, j in outs:
            print(f"\n-- {name}: errors and misses\n{details(j)}")
            if args.picks:
                print(picks_listing(j, ideal))
    print(f"\ntotal {time.perf_counter() - t_start:.0f}s on {cpu_flags()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
