"""Enhance asset: enhanced_articles (summary, tags, preview, reading time of each pick)."""

import dagster as dg
import polars as pl

from bitbybit_assets import llm_store
from bitbybit_assets.editorial import assets as editorial_assets
from bitbybit_assets.enhance import prompts
from bitbybit_assets.enhance.enhance import enhance_articles
from bitbybit_assets.partitions import DAILY, days_in_context
from resources.embeddings import EmbeddingModel
from resources.lakehouse import Lakehouse
from resources.llm import LLMResource
from resources.settings import RunSettings

GROUP = "enhance"

# The LLM ledger and answer cache: real data that enhanced_articles and newsletters write through
# their LLM session (append-only, see bitbybit_assets/llm_store.py), declared here so the lineage
# shows where the warehouse's stg_llm_calls comes from.
llm_tables = [
    dg.AssetSpec(
        key=llm_store.LEDGER_TABLE, group_name=GROUP, kinds={"delta"},
        deps=["filtered_articles", "enhanced_articles", "newsletters"],
        description="The LLM ledger: one row per call attempt, cache hit or budget skip (tokens, latency, "
        "cost, status), appended by filtered_articles (translation), enhanced_articles and newsletters.",
    ),
    dg.AssetSpec(
        key=llm_store.CACHE_TABLE, group_name=GROUP, kinds={"delta"},
        description="LLM answers keyed by content hash + prompt version + model, read and appended by "
        "filtered_articles (translation), enhanced_articles and newsletters so re-runs and backfills never "
        "pay twice.",
    ),
]  # fmt: skip


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "polars"},
    ins={"scored_articles": dg.AssetIn()},
    deps=[editorial_assets.TABLE],
    description=(
        "The day's picks (scored_articles.selected by rank, after editorial_overrides) with a 2-3 sentence "
        "summary, 3-5 tags, a preview and reading time, by LLM (cached by content hash + prompt version + model) or offline; "
        "summary_source tells which."
    ),
)
def enhanced_articles(
    context: dg.AssetExecutionContext,
    scored_articles: pl.DataFrame,
    llm: LLMResource,
    lakehouse: Lakehouse,
    embeddings: EmbeddingModel,
    settings: RunSettings,
) -> pl.DataFrame:
    days = days_in_context(context)
    enhancement = settings.enhancement
    scored = (
        scored_articles.filter(pl.col("partition_date").is_in(days))
        if scored_articles.width
        else scored_articles
    )
    overrides = editorial_assets.read_overrides(lakehouse, days)  # pins/drops before, edits after
    scored, edit_report = editorial_assets.select_with_overrides(scored, overrides, days, base=settings)
    session = llm_store.open_session(
        llm, lakehouse, run_id=context.run_id, config=settings.llm, log=context.log
    )
    encode = embeddings.encode if enhancement.use_embeddings else None
    out = enhance_articles(scored, settings=enhancement, session=session, encode=encode)
    out, article_report = editorial_assets.edit_articles(out, overrides)
    editorial_assets.log_report(context, edit_report.merge(article_report))
    totals = llm_store.close_session(session, lakehouse)
    sources = out.group_by("summary_source").len().sort("summary_source") if out.height else out
    context.add_output_metadata(
        {
            "articles": out.height,
            "days": len(days),
            "summary_sources": {r["summary_source"]: r["len"] for r in sources.iter_rows(named=True)}
            if out.height
            else {},
            "prompt_version": prompts.PROMPT_VERSION,
            **totals,
            **edit_report.metadata(),
        }
    )
    return out
