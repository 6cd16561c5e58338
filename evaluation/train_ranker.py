"""Train the learned ranker on every labelled day and write the versioned artefact.

    .venv/bin/python -m evaluation.train_ranker            # writes bitbybit_assets/curate/models/ranker.json
    make train-ranker                                      # the same

The artefact holds the feature names, scaling, both heads (extra trees by default, ``--kind logistic``), the pick floor, the training days,
the leave-days-out figures of this training recipe (each day scored by a model that never saw it) and
the command. The pipeline loads it by default (``curation.ranker: default``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bitbybit_assets.curate.ranker import DEFAULT_MODEL_PATH, RANKER_KINDS  # noqa: E402
from evaluation import metrics, runner  # noqa: E402
from evaluation.dataset import load_labelled_days  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    ap.add_argument("--labels", type=Path, nargs="*", default=None, help="label folders (default: both)")
    ap.add_argument("--kind", choices=RANKER_KINDS, default="extra_trees", help="the heads (default: extra_trees)")
    ap.add_argument("--no-cv", action="store_true", help="skip the leave-days-out figures")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    labelled = load_labelled_days(args.labels) if args.labels else load_labelled_days()
    corpus = runner.prepare(labelled)
    train_all = runner.features_frame(corpus)
    fit = runner.fitter(corpus, kind=args.kind)
    model = fit(train_all)
    meta: dict = {
        "trained_on": [str(d) for d in corpus.days],
        "training_rows": train_all.height,
        "label_sets": sorted(set(labelled.sources.values())),
        "embedding_model": corpus.cfg.embeddings.model,
        "text_score_model": model.text.model if model.text else None,
        "kind": args.kind,
        "command": "python -m evaluation.train_ranker",
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    if not args.no_cv:
        j = runner.leave_days_out(corpus, train_all, fit)
        rows = metrics.day_table(j, labelled.ideal)
        summ = metrics.summary(rows, j)
        meta["leave_days_out"] = {k: round(float(v), 4) for k, v in summ.items()}
        meta["leave_days_out_ndcg_by_day"] = {r.day: round(r.ndcg, 4) for r in rows}
    body = json.dumps({**model.to_json(), "meta": {}}, sort_keys=True)
    model.version = "ranker-" + hashlib.sha256(body.encode()).hexdigest()[:10]
    model.meta = meta
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runner.write_json(args.out, model.to_json())
    print(f"wrote {args.out} ({model.version}), trained on {len(corpus.days)} days, {train_all.height} rows")
    if "leave_days_out" in meta:
        print("leave-days-out:", json.dumps(meta["leave_days_out"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
