"""Run a what-if replay: re-curate ``start..end`` from the published ``filtered_articles`` and
``article_embeddings`` under ``settings`` into ``<root>/replays/<name>/``, then diff it.

Nothing under the published root is written: the replay has its own :class:`Lakehouse` rooted at
the replay prefix, and the function refuses a target that is the published root. Texts the
published embeddings do not cover for the replay's model (another model) are encoded and stored in
the replay's own ``article_embeddings``. With ``embeddings.multilingual_model`` and
``embeddings.cjk_title_model`` set, their stored vectors go to clustering too (the cross-language and
CJK-title links), so an unchanged replay reproduces the published clusters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from bitbybit_assets.curate.config import curate_config
from bitbybit_assets.curate.embedding_cache import embedding_rows, extra_encoder_texts, vector_map
from bitbybit_assets.curate.pipeline import HISTORY_COLUMNS, curate_days
from bitbybit_assets.curate.scoring import build_prototypes
from bitbybit_assets.curate.text import with_text
from bitbybit_assets.replay.diff import day_summary, pick_changes
from bitbybit_assets.replay.figures import evaluation_figures, side_by_side
from bitbybit_assets.schemas import SCORED_ARTICLES, conform
from bitbybit_base.settings import Settings
from evaluation.dataset import LabelledDays
from resources.embeddings import EmbeddingModel
from resources.lakehouse import Lakehouse
from resources.multilingual import shared_multilingual_encoder

REPLAYS_PREFIX = "replays"
SUMMARY_TABLE = "replay_days"  # one row per day: the diff counts and both sides' evaluation figures
CHANGES_TABLE = "replay_changes"  # one row per article picked on either side
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ReplayError(ValueError):
    pass


def replay_root(published_root: str, name: str) -> str:
    """``<published root>/replays/<name>``; ``name`` is a plain folder name."""
    if not _NAME.match(name):
        raise ReplayError(f"replay name {name!r}: letters, digits, '.', '_' or '-' (at most 64)")
    return f"{published_root.rstrip('/')}/{REPLAYS_PREFIX}/{name}"


@dataclass
class ReplayResult:
    name: str
    root: str
    summary: pl.DataFrame  # SUMMARY_TABLE
    changes: pl.DataFrame  # CHANGES_TABLE
    encoded: int  # texts the replay had to encode (another model)


def _stored_vectors(lakehouse: Lakehouse, hashes: list[str], model: str, start: date, end: date) -> pl.DataFrame:
    scan = lakehouse.scan_days("article_embeddings", start, end) if hashes else None
    if scan is None:
        return pl.DataFrame()
    return (scan.filter(pl.col("text_hash").is_in(hashes) & (pl.col("model") == model))
            .select("text_hash", "model", "embedding").collect())


def replay_days(published: Lakehouse, name: str, settings: Settings, start: date, end: date, *,
                embeddings: EmbeddingModel, labelled: LabelledDays | None = None) -> ReplayResult:
    """Re-curate ``start..end`` under ``settings`` (model: ``embeddings``) and diff it against the
    published ``scored_articles``; the replay's tables go to :func:`replay_root`."""
    if end < start:
        raise ReplayError(f"--end {end} is before --start {start}")
    root = replay_root(published.root_uri(), name)
    target = Lakehouse(root=root)
    if target.root_uri() == published.root_uri():
        raise ReplayError("a replay never writes to the published lakehouse")
    cfg = curate_config(settings)
    filtered = published.read_days("filtered_articles", start, end)
    if filtered.is_empty():
        raise ReplayError(f"no filtered_articles for {start}..{end} in {published.root_uri()}: run those days first")
    model = embeddings.model_id
    texts = with_text(filtered, cfg.embeddings.max_chars)
    lookback = start - timedelta(days=cfg.embeddings.cache_lookback_days)
    known = _stored_vectors(published, texts["text_hash"].unique().to_list(), model, lookback, end)
    rows, encoded = embedding_rows(texts, known, embeddings.encode, model)
    vectors = vector_map(rows, model)
    # the multilingual and CJK-title vectors clustering uses (as the pipeline's scored_articles does)
    extra: dict[str, dict[str, np.ndarray]] = {}
    for _, extra_model, extra_texts in extra_encoder_texts(cfg.embeddings, texts):
        known_x = _stored_vectors(published, extra_texts["text_hash"].unique().to_list(), extra_model, lookback, end)
        x_rows, x_encoded = embedding_rows(
            extra_texts, known_x, shared_multilingual_encoder(extra_model).encode, extra_model
        )
        extra[extra_model] = vector_map(x_rows, extra_model)
        if x_encoded:
            rows, encoded = pl.concat([rows, x_rows], how="vertical_relaxed"), encoded + x_encoded
    history = pl.DataFrame()
    window = cfg.curation.cluster_window_days
    if window > 0:
        w_start, w_end = start - timedelta(days=window), start - timedelta(days=1)
        history = published.read_days("scored_articles", w_start, w_end, HISTORY_COLUMNS)
        if not history.is_empty():
            old_hashes = history["text_hash"].drop_nulls().unique().to_list()
            for m in (model, *extra):
                old = vector_map(_stored_vectors(published, old_hashes, m, w_start, w_end))
                if m == model:
                    vectors = {**old, **vectors}
                else:
                    extra[m] = {**old, **extra[m]}
    protos = build_prototypes(cfg.topics, embeddings.encode)
    ml_vectors = extra.get(cfg.embeddings.multilingual_model or "")
    title_vectors = extra.get(cfg.embeddings.cjk_title_model or "")
    scored = conform(
        curate_days(filtered, vectors, history, protos, cfg, ml_vectors=ml_vectors, title_vectors=title_vectors),
        SCORED_ARTICLES,
    )

    base = published.read_days("scored_articles", start, end)
    changes = pick_changes(base, scored)
    summary = day_summary(base, scored, changes)
    k = cfg.curation.top_n
    figures = side_by_side(evaluation_figures(base, labelled, k), evaluation_figures(scored, labelled, k))
    summary = summary.join(figures, on="partition_date", how="left")

    target.write_days("scored_articles", scored, start, end)
    if encoded:
        target.write_days("article_embeddings", rows, start, end)
    target.write_days(SUMMARY_TABLE, summary, start, end)
    target.write_days(CHANGES_TABLE, changes, start, end)
    return ReplayResult(name, root, summary, changes, encoded)


def read_replay(published: Lakehouse, name: str, start: date = date(1970, 1, 1),
                end: date = date(9999, 12, 31)) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(summary, changes) of a stored replay (empty frames when there is none)."""
    target = Lakehouse(root=replay_root(published.root_uri(), name))
    summary = target.read_days(SUMMARY_TABLE, start, end)
    return (summary.sort("partition_date") if summary.width else summary,
            target.read_days(CHANGES_TABLE, start, end))
