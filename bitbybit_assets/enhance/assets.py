"""Enhance asset: enhanced_articles (summary, tags, preview, reading time of each pick)."""

import dagster as dg
import polars as pl

from bitbybit_assets.editorial import assets as editorial_assets
from bitbybit_assets.enhance import ledger, prompts
from bitbybit_assets.enhance.enhance import enhance_articles, load_enhancement_settings
from bitbybit_assets.partitions import daily_partitions, days_in_context
from resources.embeddings import EmbeddingModel
from resources.lakehouse import Lakehouse
from resources.llm import LLMResource, load_llm_config

GROUP = "enhance"


def open_llm_session(context: dg.AssetExecutionContext, llm: LLMResource, lakehouse: Lakehouse):
    """This run's LLM session with the stored cache, or ``None`` (offline) without an endpoint."""
    config = load_llm_config()
    endpoint = llm.endpoint(config)
    if endpoint is None:
        context.log.info("no LLM endpoint configured (BITBYBIT_LLM_BASE_URL / API key): offline path")
        return None
    cache = ledger.load_cache(lakehouse, model=endpoint.model, prompt_version=prompts.PROMPT_VERSION)
    # the budget is per run: what earlier stages of this run spent (from the ledger) counts too
    spent = ledger.run_cost(lakehouse, context.run_id)
    context.log.info(
        f"LLM {endpoint.model} at {endpoint.describe()}; {len(cache)} cached answers; "
        f"${spent:.4f} of the ${config.budget_usd_per_run:.2f} run budget already spent"
    )
    return llm.session(
        run_id=context.run_id,
        prompt_version=prompts.PROMPT_VERSION,
        cache=cache,
        config=config,
        spent_before_usd=spent,
    )


def close_llm_session(session, lakehouse: Lakehouse) -> dict:
    """Store the ledger and new cache entries; the ledger totals as metadata."""
    if session is None:
        return {"llm_calls": 0, "llm_cost_usd": 0.0}
    ledger.save_ledger(lakehouse, session.ledger)
    ledger.save_cache(lakehouse, session.new_cache_rows)
    return session.summary()


@dg.asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
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
) -> pl.DataFrame:
    days = days_in_context(context)
    settings = load_enhancement_settings()
    scored = (
        scored_articles.filter(pl.col("partition_date").is_in(days))
        if scored_articles.width
        else scored_articles
    )
    overrides = editorial_assets.read_overrides(lakehouse, days)  # pins/drops before, edits after
    scored, edit_report = editorial_assets.select_with_overrides(scored, overrides, days)
    session = open_llm_session(context, llm, lakehouse)
    encode = embeddings.encode if settings.use_embeddings else None
    out = enhance_articles(scored, settings=settings, session=session, encode=encode)
    out, article_report = editorial_assets.edit_articles(out, overrides)
    editorial_assets.log_report(context, edit_report.merge(article_report))
    totals = close_llm_session(session, lakehouse)
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
