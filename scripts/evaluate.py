"""Run curation on real feed data and score it against the labelled dev set.

    .venv/bin/python scripts/evaluate.py                  # 2026-08-05..07, warm-up from 2026-07-29
    .venv/bin/python scripts/evaluate.py --picks          # also print each day's newsletter

Builds filtered_articles for every day from ``--start`` to the last evaluated day straight from the
feed archive (the ingest stage's own code), embeds them (re-using ``--cache``), runs the curation
pipeline day by day (so the rolling cluster window and the "already sent" memory are real) and prints
ad precision/recall, errors among the picks, relevance-3 recall, nDCG@20, clustering pairwise
precision/recall/F1 and newsletter precision/recall against ideal.tsv.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from bitbybit_assets.curate import evaluation as ev  # noqa: E402
from bitbybit_assets.curate.config import curate_config  # noqa: E402
from bitbybit_assets.curate.embedding_cache import embedding_rows, vector_map  # noqa: E402
from bitbybit_assets.curate.pipeline import curate_days  # noqa: E402
from bitbybit_assets.curate.scoring import build_prototypes  # noqa: E402
from bitbybit_assets.curate.text import with_text  # noqa: E402
from bitbybit_assets.ingest.local_run import filtered_articles_for_days  # noqa: E402
from resources.embeddings import Encoder  # noqa: E402


def _day(s: str) -> date:
    return date.fromisoformat(s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive", type=Path, default=ROOT.parent / "shared" / "data" / "feeds")
    ap.add_argument("--labels", type=Path, default=ROOT.parent / "shared" / "data" / "labels")
    ap.add_argument("--start", type=_day, default=date(2026, 7, 29), help="first day run (warm-up history)")
    ap.add_argument("--first", type=_day, default=date(2026, 8, 5), help="first evaluated day")
    ap.add_argument("--last", type=_day, default=date(2026, 8, 7), help="last evaluated day")
    ap.add_argument("--cache", type=Path, default=ROOT / ".bench" / "eval_embeddings.parquet")
    ap.add_argument("--backend", default=None, help="embedding backend (default: embeddings.backend)")
    ap.add_argument("--picks", action="store_true", help="print each day's picks")
    ap.add_argument(
        "--filtered-cache", type=Path, default=None, help="re-use filtered_articles from this parquet"
    )
    ap.add_argument("--scored-out", type=Path, default=None, help="write scored_articles parquet here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    cfg = curate_config()
    days = [args.start + timedelta(days=i) for i in range((args.last - args.start).days + 1)]
    t0 = time.time()
    if args.filtered_cache and args.filtered_cache.exists():
        filtered = pl.read_parquet(args.filtered_cache)
    else:
        filtered = filtered_articles_for_days(args.archive, days)
        if args.filtered_cache:
            filtered.write_parquet(args.filtered_cache)
    t_ingest = time.time() - t0

    enc = Encoder(
        cfg.embeddings.model,
        device=cfg.embeddings.device,
        backend=args.backend or cfg.embeddings.backend,
        batch_size=cfg.embeddings.batch_size,
    )
    texts = with_text(filtered, cfg.embeddings.max_chars)
    known = pl.read_parquet(args.cache) if args.cache.exists() else None
    t0 = time.time()
    rows, n_encoded = embedding_rows(texts, known, enc.encode, cfg.embeddings.model)
    t_embed = time.time() - t0
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    merged = (
        rows if known is None else pl.concat([known, rows]).unique(subset=["text_hash", "model"], keep="last")
    )
    merged.write_parquet(args.cache)

    t0 = time.time()
    protos = build_prototypes(cfg.topics, enc.encode)
    scored = curate_days(filtered, vector_map(rows, cfg.embeddings.model), None, protos, cfg)
    t_curate = time.time() - t0
    if args.scored_out:
        scored.write_parquet(args.scored_out)

    labels, ideal = ev.load_labels(args.labels)
    labels = labels.filter(pl.col("date").is_between(args.first, args.last))
    ideal = ideal.filter(pl.col("date").is_between(args.first, args.last))
    j = ev.join_labels(scored, labels)
    unmatched = j.filter(pl.col("cluster_id").is_null()).height

    info = enc.info() if n_encoded else {"backend": "cache only"}
    print(f"days run: {days[0]}..{days[-1]} ({len(days)}), evaluated: {args.first}..{args.last}")
    print(
        f"rows: {filtered.height} filtered_articles, {texts['text_hash'].n_unique()} texts, {n_encoded} encoded "
        f"({info.get('backend')} {info.get('precision', '')}); labelled items {j.height}, unmatched {unmatched}"
    )
    print(f"time: ingest {t_ingest:.1f}s, embed {t_embed:.1f}s, curate {t_curate:.1f}s")

    ads = ev.ad_report(j)
    print(
        f"\nads: precision {ads.precision:.3f} recall {ads.recall:.3f} ({ads.true_positives}/{ads.positives} found, {ads.flagged} flagged)"
    )
    for m in ads.missed:
        print(f"  MISSED  {m}")
    for m in ads.false_alarms:
        print(f"  FALSE   {m}")

    errs = ev.pick_errors(j)
    print(
        f"\npicks: ads {len(errs['ads'])}, duplicate stories same day {len(errs['duplicates_same_day'])}, "
        f"repeated across days {len(errs['repeated_across_days'])}, relevance-0 {len(errs['relevance_0'])}"
    )
    for kind, items in errs.items():
        for it in items:
            print(f"  {kind}: {it}")

    r3, r3_missed = ev.relevance3_recall(j)
    print(
        f"\nrelevance-3 recall (new stories): {r3:.3f}"
        + (f"  missed: {', '.join(r3_missed)}" if r3_missed else "")
    )
    nd = ev.ndcg_by_day(j)
    nd_all = ev.ndcg_by_day(j, passed_only=False)
    mean = sum(nd.values()) / len(nd)
    print(
        f"nDCG@20 by final_score (items that passed the filter): {mean:.3f}  "
        + "  ".join(f"{d}: {v:.3f}" for d, v in nd.items())
    )
    print(
        f"nDCG@20 by final_score (all labelled items, zh included): {sum(nd_all.values()) / len(nd_all):.3f}"
    )

    for name, excl in (("all feeds", ()), ("without vava8-news", ("vava8-news",))):
        p, r, f = ev.pairwise(j, excl)
        print(f"clustering pairwise ({name}): precision {p:.3f} recall {r:.3f} F1 {f:.3f}")
    split, mixed = ev.cluster_errors(j, ("vava8-news",))
    for s in split:
        print(f"  split  {s}")
    for m in mixed:
        print(f"  mixed  {m}")

    nl = ev.newsletter_report(j, ideal, cfg.curation.top_n)
    print("\nnewsletter vs ideal.tsv:")
    for d, v in nl.items():
        print(
            f"  {d}: picks {v['picks']}, ideal {v['ideal']}, hits {v['hits']}, precision(hits/{cfg.curation.top_n}) "
            f"{v['precision']:.2f}, precision(hits/picks) {v['precision_of_picks']:.2f}, recall {v['recall']:.2f}"
        )
    tot_h = sum(v["hits"] for v in nl.values())
    tot_i = sum(v["ideal"] for v in nl.values())
    tot_p = sum(v["picks"] for v in nl.values())
    print(f"  all: hits {tot_h}/{tot_i} ideal (recall {tot_h / tot_i:.3f}), {tot_h}/{tot_p} picks")
    zh_only = ideal.join(
        j.filter(pl.col("passed_filter").fill_null(False)).select("story").unique(), on="story", how="anti"
    )
    if zh_only.height:
        print(
            f"  ideal stories with no item passing the content filter (unreachable): {', '.join(zh_only['story'].to_list())}"
        )

    if args.picks:
        for day in sorted(j["date"].unique().to_list()):
            print(f"\n== picks {day}")
            picks = scored.filter((pl.col("partition_date") == day) & pl.col("selected")).sort("rank")
            lab = j.select("feed_slug", "entry_id", "relevance", "story", "ad")
            picks = picks.join(
                lab, left_on=["feed_name", "entry_id"], right_on=["feed_slug", "entry_id"], how="left"
            )
            want = set(ideal.filter(pl.col("date") == day)["story"].to_list())
            for r in picks.iter_rows(named=True):
                mark = "*" if r["story"] in want else " "
                print(
                    f" {mark}{r['rank']:>2} f={r['final_score']:.2f} rel={r['tech_relevance_score']:.1f} q={r['quality_score']:.1f} "
                    f"n={r['cluster_size']} {r['content_type']:<8} L{r['relevance']} {r['feed_name'][:14]:<14} {r['title'][:80]}"
                )
            missing = want - set(picks["story"].to_list())
            for s in sorted(missing):
                row = (
                    j.filter((pl.col("date") == day) & (pl.col("story") == s))
                    .sort("final_score", descending=True, nulls_last=True)
                    .row(0, named=True)
                )
                print(f"   miss {s}: {row['selection_reason']} f={row['final_score']} {row['title'][:70]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
