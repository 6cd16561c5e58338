"""Run curation over the labelled days from the real feed archive, with caches (no Dagster).

``prepare`` builds filtered_articles from the archive with the ingest stage's own code (cached in
``.bench/``), the embeddings (cached by text hash in ``.bench/eval_embeddings.parquet``, so a re-run
encodes nothing) and the prototypes. ``run`` curates every day from the warm-up start to a given day
in order, so the rolling cluster window and the "already sent" memory are real on every labelled day.
``leave_days_out`` trains a ranker without each held-out fold and scores the fold's days with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

from bitbybit_assets.curate.config import CurateConfig, curate_config
from bitbybit_assets.curate.embedding_cache import embedding_rows, extra_encoder_texts, vector_map
from bitbybit_assets.curate.pipeline import curate_days
from bitbybit_assets.curate.ranker import (
    CATEGORICAL_COLUMNS,
    Ranker,
    feature_matrix,
    feature_names,
    fit_ranker,
)
from bitbybit_assets.curate.scoring import Prototypes, build_prototypes
from bitbybit_assets.curate.text import with_text
from bitbybit_assets.curate.text_score import TEXT_FEATURE, TEXT_L2, fit_text_projection, out_of_fold
from evaluation import metrics
from evaluation.dataset import ROOT, LabelledDays, load_labelled_days
from evaluation.local_run import filtered_articles_for_days

log = logging.getLogger(__name__)

ARCHIVE = ROOT.parent / "shared" / "data" / "feeds"
CACHE_DIR = ROOT / ".bench"
ARCHIVE_START = date(2026, 7, 18)


@dataclass
class Corpus:
    cfg: CurateConfig
    labelled: LabelledDays
    filtered: pl.DataFrame
    vectors: dict[str, np.ndarray]
    protos: Prototypes
    start: date
    timings: dict[str, float] = field(default_factory=dict)
    encoder_info: dict[str, str] = field(default_factory=dict)
    ml_vectors: dict[str, np.ndarray] = field(default_factory=dict)  # embeddings.multilingual_model
    title_vectors: dict[str, np.ndarray] = field(default_factory=dict)  # embeddings.cjk_title_model

    @property
    def days(self) -> list[date]:
        return self.labelled.days


def _filtered(archive: Path, days: list[date], cfg_key: str) -> pl.DataFrame:
    key = hashlib.sha256(f"{days[0]}|{days[-1]}|{cfg_key}".encode()).hexdigest()[:12]
    path = CACHE_DIR / f"eval_filtered_{key}.parquet"
    if path.exists():
        return pl.read_parquet(path)
    df = filtered_articles_for_days(archive, days)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path)
    return df


def prepare(
    labelled: LabelledDays | None = None,
    *,
    archive: Path = ARCHIVE,
    warmup_days: int | None = None,
    backend: str | None = None,
    cfg: CurateConfig | None = None,
) -> Corpus:
    """Everything a run needs; warm-up starts ``warmup_days`` (default: the cluster window) earlier."""
    from bitbybit_base.settings import runtime_settings
    from resources.embeddings import Encoder

    cfg = cfg or curate_config()
    labelled = labelled or load_labelled_days()
    days = labelled.days
    warm = cfg.curation.cluster_window_days if warmup_days is None else warmup_days
    start = max(ARCHIVE_START, days[0] - timedelta(days=warm))
    run_days = [start + timedelta(days=i) for i in range((days[-1] - start).days + 1)]
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    filter_cfg = runtime_settings().content_filter.model_dump_json()
    filtered = _filtered(archive, run_days, filter_cfg)
    timings["ingest"] = time.perf_counter() - t0

    enc = Encoder(
        cfg.embeddings.model,
        device=cfg.embeddings.device,
        backend=backend or cfg.embeddings.backend,
        batch_size=cfg.embeddings.batch_size,
    )
    cache = CACHE_DIR / "eval_embeddings.parquet"
    known = pl.read_parquet(cache) if cache.exists() else None
    t0 = time.perf_counter()
    texts = with_text(filtered, cfg.embeddings.max_chars)
    rows, n_encoded = embedding_rows(texts, known, enc.encode, cfg.embeddings.model)
    timings["embed"] = time.perf_counter() - t0
    timings["encoded"] = n_encoded
    if n_encoded:
        merged = (
            rows if known is None else pl.concat([known, rows]).unique(["text_hash", "model"], keep="last")
        )
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        merged.write_parquet(cache)
    protos = build_prototypes(cfg.topics, enc.encode)
    info = enc.info() if n_encoded else {"backend": "cache only"}
    from resources.multilingual import shared_multilingual_encoder

    extra: dict[str, dict[str, np.ndarray]] = {}
    for name, model, frame in extra_encoder_texts(cfg.embeddings, texts):
        known = pl.read_parquet(cache) if cache.exists() else None
        t0 = time.perf_counter()
        x_rows, n_x = embedding_rows(frame, known, shared_multilingual_encoder(model).encode, model)
        timings[f"embed_{name}"] = time.perf_counter() - t0
        timings[f"encoded_{name}"] = n_x
        if n_x:
            merged = x_rows if known is None else pl.concat([known, x_rows]).unique(["text_hash", "model"], keep="last")
            merged.write_parquet(cache)
        extra[model] = vector_map(x_rows, model)
    return Corpus(
        cfg,
        labelled,
        filtered,
        vector_map(rows, cfg.embeddings.model),
        protos,
        start,
        timings,
        info,
        extra.get(cfg.embeddings.multilingual_model or "", {}),
        extra.get(cfg.embeddings.cjk_title_model or "", {}),
    )


def run(corpus: Corpus, ranker: Ranker | None, last: date | None = None) -> pl.DataFrame:
    """scored_articles from the warm-up start to ``last`` (default: the last labelled day)."""
    last = last or corpus.days[-1]
    f = corpus.filtered.filter(pl.col("partition_date") <= last)
    return curate_days(
        f, corpus.vectors, None, corpus.protos, corpus.cfg, ranker, corpus.ml_vectors, corpus.title_vectors
    )


def labelled_join(corpus: Corpus, scored: pl.DataFrame, days: list[date] | None = None) -> pl.DataFrame:
    lab = corpus.labelled.labels
    if days is not None:
        lab = lab.filter(pl.col("date").is_in(days))
    return metrics.join_labels(scored, lab)


def training_frame(j: pl.DataFrame) -> pl.DataFrame:
    """Labelled rows the ranker learns from: those that passed the content filter (ads: relevance 0)."""
    return j.filter(pl.col("passed_filter").fill_null(False)).with_columns(
        pl.when(pl.col("ad") == 1).then(0).otherwise(pl.col("relevance")).alias("target")
    )


def categories(train: pl.DataFrame) -> dict[str, list[str]]:
    return {c: sorted(v for v in train[c].unique().to_list() if v) for c in CATEGORICAL_COLUMNS}


def pick_floor(scores: np.ndarray, target: np.ndarray) -> float:
    """The model_score threshold that best separates relevance >= 2 rows (F1) on the training rows."""
    best, floor = -1.0, 0.0
    pos = (target >= 2).sum()
    for t in np.unique(np.round(scores, 3)):
        chosen = scores >= t
        tp = (chosen & (target >= 2)).sum()
        f1 = 2 * tp / (chosen.sum() + pos) if chosen.sum() + pos else 0.0
        if f1 > best:
            best, floor = f1, float(t)
    return floor


def fit(
    train: pl.DataFrame,
    l2: float = 1.0,
    floor_factor: float = 0.5,
    ml_vectors: Mapping[str, np.ndarray] | None = None,
    ml_model: str | None = None,
    text_l2: float = TEXT_L2,
    kind: str = "extra_trees",
) -> Ranker:
    """A ranker of ``kind`` (``ranker.RANKER_KINDS``) fit on ``train`` (a ``training_frame``); the pick
    floor comes from the same rows.

    With ``ml_vectors`` (text_hash -> ``ml_model`` vector) the text map of ``f_text_score`` is fitted
    on the same rows and the ranker learns from its out-of-fold scores (``curate.text_score``);
    without, ``f_text_score`` is no feature.
    """
    names = feature_names(categories(train))
    y = train["target"].to_numpy()
    text = None
    hashes = train["text_hash"].to_list() if "text_hash" in train.columns else []
    has = np.array([bool(ml_vectors) and h in ml_vectors for h in hashes], dtype=bool)
    if ml_vectors and ml_model and has.any():
        v = np.stack(
            [np.asarray(ml_vectors[h], dtype=np.float64) for h, ok in zip(hashes, has, strict=True) if ok]
        )
        text = fit_text_projection(v, y[has], ml_model, text_l2)
        oof = np.full(train.height, 0.0)
        oof[has] = out_of_fold(v, y[has], train["date"].to_numpy()[has], ml_model, text_l2)
        text.fallback = float(oof[has].mean())
        oof[~has] = text.fallback
        train = train.with_columns(pl.Series(TEXT_FEATURE, np.round(oof, 4)))
    else:
        names.remove(TEXT_FEATURE)
    x = feature_matrix({c: train[c].to_list() for c in train.columns}, names)
    model = fit_ranker(x, y, names, l2, kind=kind)
    model.text = text
    model.pick_floor = floor_factor * pick_floor(model.score(x), y)
    return model


def fitter(corpus: Corpus, **kw: float | str) -> Callable[[pl.DataFrame], Ranker]:
    """``fit`` with the corpus's multilingual vectors (the text score when they exist)."""
    return partial(fit, ml_vectors=corpus.ml_vectors, ml_model=corpus.cfg.embeddings.multilingual_model, **kw)


def features_frame(corpus: Corpus) -> pl.DataFrame:
    """The training rows of every labelled day (features do not depend on the ranker)."""
    return training_frame(labelled_join(corpus, run(corpus, None)))


def leave_days_out(
    corpus: Corpus, train_all: pl.DataFrame, make: Callable[[pl.DataFrame], Ranker], folds: int | None = None
) -> pl.DataFrame:
    """Labelled rows of every day, each scored by a ranker that never saw that day's labels.

    ``folds`` consecutive blocks of days (default: one day per fold).
    """
    days = corpus.days
    k = len(days) if not folds else min(folds, len(days))
    blocks = [list(b) for b in np.array_split(np.array(days, dtype=object), k)]
    out = []
    for block in blocks:
        model = make(train_all.filter(~pl.col("date").is_in(block)))
        scored = run(corpus, model, max(block))
        out.append(labelled_join(corpus, scored, block))
    return pl.concat(out, how="vertical_relaxed")


_NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][0-9.eE+-]*(?:,\s*-?[0-9][0-9.eE+-]*)*)\s*\]")


def write_json(path: Path, data: dict) -> None:
    """Indented JSON with every list of numbers on one line (the trees' arrays stay readable in diffs)."""
    text = json.dumps(data, indent=1, ensure_ascii=False)
    text = _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    path.write_text(text + "\n", encoding="utf-8")
