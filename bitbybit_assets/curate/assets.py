"""Curate assets: article_embeddings (cached sentence embeddings) -> scored_articles (scores, story
clusters, the day's picks). Thin wiring: the work is in the pure modules of this package.

Both run on the GPU task in production (tags read by the run launcher); on a CPU they use the
OpenVINO bf16 path where the CPU supports it. With ``embeddings.multilingual_model`` set (default)
``article_embeddings`` also holds a second row per text from the multilingual encoder (numpy, any
CPU), which clustering uses to link stories across languages.
"""

from datetime import timedelta

import dagster as dg
import polars as pl

from bitbybit_assets.curate.config import curate_config
from bitbybit_assets.curate.embedding_cache import embedding_rows, extra_encoder_texts, vector_map
from bitbybit_assets.curate.pipeline import HISTORY_COLUMNS, curate_days
from bitbybit_assets.curate.report import decision_counts, picks, picks_markdown, selected_per_day
from bitbybit_assets.curate.scoring import build_prototypes
from bitbybit_assets.curate.text import with_text
from bitbybit_assets.partitions import DAILY, days_in_context
from bitbybit_assets.schemas import ARTICLE_EMBEDDINGS, SCORED_ARTICLES, conform
from bitbybit_assets.settings_overrides import settings_with_overrides
from resources.embeddings import EmbeddingModel
from resources.lakehouse import Lakehouse
from resources.multilingual import shared_multilingual_encoder
from resources.settings import RunSettings

GROUP = "curate"
# These steps belong on the GPU task. Its size is set in one place, ``deployment:`` in
# production.yaml, which becomes the scoring job's run tags (bitbybit_assets/jobs.py).
GPU_OP_TAGS = {"bitbybit/compute": "gpu"}
GPU_TAGS = {"compute": "gpu"}
EMBEDDINGS_TABLE = "article_embeddings"
SCORED_TABLE = "scored_articles"


def _known_embeddings(lakehouse: Lakehouse, hashes: list[str], model: str, start, end) -> pl.DataFrame:
    """Stored embeddings of ``hashes`` for ``model`` from days ``start..end`` (any of them)."""
    if not hashes:
        return pl.DataFrame()
    scan = lakehouse.scan_days(EMBEDDINGS_TABLE, start, end)
    if scan is None:
        return pl.DataFrame()
    return (
        scan.filter(pl.col("text_hash").is_in(hashes) & (pl.col("model") == model))
        .select("text_hash", "model", "embedding")
        .collect()
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "polars", "pytorch"},
    tags=GPU_TAGS,
    op_tags=GPU_OP_TAGS,
    ins={"filtered_articles": dg.AssetIn()},
    description=(
        "One sentence embedding per distinct article text and model (key: text_hash + model): MiniLM "
        "and the multilingual encoder. Texts already embedded on any earlier or the same day are "
        "copied, never re-encoded."
    ),
)
def article_embeddings(
    context: dg.AssetExecutionContext,
    filtered_articles: pl.DataFrame,
    embeddings: EmbeddingModel,
    lakehouse: Lakehouse,
    settings: RunSettings,
) -> pl.DataFrame:
    cfg = curate_config(settings)
    days = days_in_context(context)
    if filtered_articles.is_empty():
        context.add_output_metadata({"texts": 0, "encoded": 0})
        return conform(pl.DataFrame(), ARTICLE_EMBEDDINGS).clear()
    texts = with_text(filtered_articles, cfg.embeddings.max_chars)
    hashes = texts["text_hash"].unique().to_list()
    start = days[0] - timedelta(days=cfg.embeddings.cache_lookback_days)
    known = _known_embeddings(lakehouse, hashes, embeddings.model_id, start, days[-1])
    encoder = embeddings.encoder()
    rows, n_encoded = embedding_rows(texts, known, encoder.encode, embeddings.model_id)
    meta = {
        "model": embeddings.model_id,
        "texts": rows.height,
        "re_used": rows.height - n_encoded,
        "encoded": n_encoded,
    }
    if n_encoded:
        meta.update({f"encoder_{k}": v for k, v in encoder.info().items() if k != "model"})
    # scored_articles' topic prototypes are embedded now, while the model is loaded: they land in the
    # resource's disk cache, so scoring does not load the model again (~250 MiB) unless the desk's
    # overrides change the topics in between
    build_prototypes(curate_config(settings_with_overrides(base=settings)).topics, embeddings.encode)
    # the encoders' weights and activation buffers (~400 MiB after long texts) are not held through
    # the multilingual encoder, scoring and the later stages (one model in memory at a time); a stage
    # that needs new vectors loads the model again (cached, <1 s)
    embeddings.release()
    # the multilingual encoder (every text) and the CJK-title encoder (titles of CJK-titled rows)
    for name, model, frame in extra_encoder_texts(cfg.embeddings, texts):
        known_x = _known_embeddings(lakehouse, frame["text_hash"].unique().to_list(), model, start, days[-1])
        x_rows, n_x = embedding_rows(frame, known_x, shared_multilingual_encoder(model).encode, model)
        rows = pl.concat([rows, x_rows], how="vertical_relaxed")
        meta.update({f"{name}_model": model, f"{name}_texts": x_rows.height, f"{name}_encoded": n_x})
        shared_multilingual_encoder(model).release()
    context.add_output_metadata(meta)
    return rows


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "polars"},
    tags=GPU_TAGS,
    op_tags=GPU_OP_TAGS,
    ins={"filtered_articles": dg.AssetIn(), "article_embeddings": dg.AssetIn()},
    description=(
        "Every filtered article with ad flag, quality / relevance scores, content type, topics, "
        "same-story cluster (rolling window), previously-sent memory, rank and the day's picks, "
        "each with the reason it was or was not selected."
    ),
)
def scored_articles(
    context: dg.AssetExecutionContext,
    filtered_articles: pl.DataFrame,
    article_embeddings: pl.DataFrame,
    embeddings: EmbeddingModel,
    lakehouse: Lakehouse,
    settings: RunSettings,
) -> pl.DataFrame:
    cfg = curate_config(settings_with_overrides(base=settings))  # with the desk's settings (read now)
    days = days_in_context(context)
    first = days[0]
    window_start = first - timedelta(days=cfg.curation.cluster_window_days)
    window_end = first - timedelta(days=1)
    history = pl.DataFrame()
    vectors = vector_map(article_embeddings, embeddings.model_id)
    models = [m for m in (cfg.embeddings.multilingual_model, cfg.embeddings.cjk_title_model) if m]
    extra = {m: vector_map(article_embeddings, m) for m in models}
    if cfg.curation.cluster_window_days > 0:
        history = lakehouse.read_days(SCORED_TABLE, window_start, window_end, HISTORY_COLUMNS)
        if not history.is_empty():
            hashes = history["text_hash"].drop_nulls().unique().to_list()
            old = _known_embeddings(lakehouse, hashes, embeddings.model_id, window_start, window_end)
            vectors = {**vector_map(old), **vectors}
            for m in models:
                old = _known_embeddings(lakehouse, hashes, m, window_start, window_end)
                extra[m] = {**vector_map(old), **extra[m]}
    protos = build_prototypes(cfg.topics, embeddings.encode)
    scored = curate_days(
        filtered_articles,
        vectors,
        history,
        protos,
        cfg,
        ml_vectors=extra.get(cfg.embeddings.multilingual_model or ""),
        title_vectors=extra.get(cfg.embeddings.cjk_title_model or ""),
    )
    scored = conform(scored, SCORED_ARTICLES)

    table = picks(scored)
    context.add_output_metadata(
        {
            "picks": dg.MetadataValue.md(picks_markdown(scored)),
            "picks_table": dg.MetadataValue.table(
                records=[
                    dg.TableRecord({k: (str(v) if k == "partition_date" else v) for k, v in r.items()})
                    for r in table.iter_rows(named=True)
                ],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn("partition_date", "string"),
                        dg.TableColumn("rank", "int"),
                        dg.TableColumn("title", "string"),
                        dg.TableColumn("feed_name", "string"),
                        dg.TableColumn("final_score", "float"),
                        dg.TableColumn("tech_relevance_score", "float"),
                        dg.TableColumn("quality_score", "float"),
                        dg.TableColumn("content_type", "string"),
                        dg.TableColumn("cluster_size", "int"),
                    ]
                ),
            ),
            "selected_per_day": selected_per_day(scored),
            "history_rows": history.height,
            # the learned ranker in use (null: hand-weighted formula) and the days it left short
            "ranker_version": (scored["ranker_version"].drop_nulls().first() if scored.height else None) or "none",
            "quiet_days": sorted(
                {str(d) for d in scored.filter(pl.col("quiet_day").fill_null(False))["partition_date"].to_list()}
            ),
            **decision_counts(scored),
        }
    )
    return scored
