"""Publish asset: newsletters (one per day) + output/newsletter/DATE.html and DATE.txt."""

import dagster as dg
import polars as pl

from bitbybit_assets import llm_store
from bitbybit_assets.editorial import assets as editorial_assets
from bitbybit_assets.partitions import DAILY, days_in_context
from bitbybit_assets.publish.newsletter import build_newsletters
from bitbybit_assets.publish.render import preview_text
from resources.lakehouse import Lakehouse
from resources.llm import LLMResource
from resources.settings import RunSettings

GROUP = "publish"


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "polars", "html"},
    ins={"enhanced_articles": dg.AssetIn()},
    deps=[editorial_assets.TABLE],
    description=(
        "One newsletter per day: subject line (+ candidates), preheader, intro, sections, inlined-CSS "
        "HTML and plain text; also written to output/newsletter/DATE.html and DATE.txt."
    ),
)
def newsletters(
    context: dg.AssetExecutionContext,
    enhanced_articles: pl.DataFrame,
    llm: LLMResource,
    lakehouse: Lakehouse,
    settings: RunSettings,
) -> pl.DataFrame:
    days = days_in_context(context)
    session = llm_store.open_session(
        llm, lakehouse, run_id=context.run_id, config=settings.llm, log=context.log
    )
    overrides = editorial_assets.read_overrides(lakehouse, days)  # the editor's subject / preheader / intro
    df, results = build_newsletters(enhanced_articles, days, settings=settings.newsletter, session=session, overrides=overrides)
    totals = llm_store.close_session(session, lakehouse)
    if df.height:
        # the day's whole LLM spend (summaries of every run + this copy), from the ledger
        df = df.with_columns(
            pl.Series("llm_cost_usd", [round(llm_store.day_cost(lakehouse, d), 6) for d in df["partition_date"]])
        )
    missing = sorted(set(days) - {r.day for r in results})
    for d in missing:
        context.log.warning(f"{d}: no enhanced articles, no newsletter")
    meta: dict = {
        "newsletters": df.height,
        "days_without_newsletter": [str(d) for d in missing],
        "quiet_days": [str(r.day) for r in results if r.rendered.quiet_day],  # the issue says so
        **totals,
    }
    if results:
        last = results[-1]
        meta.update(
            {
                "subject": last.row["subject_line"],
                "article_count": last.row["article_count"],
                "html_bytes": last.row["html_bytes"],
                "trimmed": last.row["trimmed"],
                "copy_source": last.row["copy_source"],
                "path": dg.MetadataValue.path(str(last.html_path)),
                "text_path": dg.MetadataValue.path(str(last.text_path)),
                "preview": dg.MetadataValue.md("```\n" + preview_text(last.rendered) + "\n```"),
                "by_day": {
                    str(r.day): {
                        "subject": r.row["subject_line"],
                        "articles": r.row["article_count"],
                        "html_bytes": r.row["html_bytes"],
                    }
                    for r in results
                },
            }
        )
    context.add_output_metadata(meta)
    return df
