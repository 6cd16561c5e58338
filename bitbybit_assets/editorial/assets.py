"""Editorial asset: ``editorial_overrides``, the day's desk actions snapshotted from the database.

The desk writes actions to the ``editorial_overrides`` table (PostgreSQL, or the local DuckDB
warehouse); this asset copies a day's rows into the lakehouse at the start of the day's publish
run. ``enhanced_articles`` and ``newsletters`` read the snapshot (not the live table), so a run is
reproducible, a re-materialised day keeps its edits, and the lineage shows them. Without any
actions the day's snapshot is empty and the pipeline behaves as before.
"""

from collections.abc import Sequence
from datetime import date

import dagster as dg
import polars as pl

from bitbybit_assets.curate.config import curate_config
from bitbybit_assets.editorial.apply import Report, apply_article_edits, apply_selection, report_missing
from bitbybit_assets.editorial.overrides import Override, as_overrides, by_day, effective_overrides
from bitbybit_assets.editorial.store import open_editorial_store
from bitbybit_assets.partitions import DAILY, days_in_context
from bitbybit_assets.schemas import EDITORIAL_OVERRIDES
from bitbybit_assets.settings_overrides import settings_with_overrides
from bitbybit_base.settings import Settings
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource

GROUP = "editorial"
TABLE = "editorial_overrides"
SCORED_TABLE = "scored_articles"


def overrides_frame(rows: Sequence[Override]) -> pl.DataFrame:
    """Overrides in the lakehouse contract (``value``/``before`` as JSON text)."""
    return pl.DataFrame([o.to_row() for o in rows], schema=EDITORIAL_OVERRIDES)


def read_overrides(lakehouse: Lakehouse, days: Sequence[date]) -> dict[date, list[Override]]:
    """The snapshotted overrides of ``days``, by day (empty when there are none)."""
    if not days:
        return {}
    df = lakehouse.read_days(TABLE, min(days), max(days))
    return by_day(df.filter(pl.col("partition_date").is_in(list(days))).to_dicts()) if df.height else {}


def _top_n(base: Settings | None = None) -> int:
    return curate_config(settings_with_overrides(base=base)).curation.top_n  # as the desk's Settings page set it


def select_with_overrides(
    scored: pl.DataFrame,
    overrides: dict[date, list[Override]],
    days: Sequence[date],
    top_n: int | None = None,
    base: Settings | None = None,
) -> tuple[pl.DataFrame, Report]:
    """The picks of ``days`` after the editor's pins, drops, swaps and order (see
    :func:`~bitbybit_assets.editorial.apply.apply_selection`), ready for enhancement. ``top_n`` default:
    ``curation.top_n`` of ``base`` (the run's settings) with the desk's overrides."""
    report = Report()
    if scored.is_empty() or "selected" not in scored.columns:
        return scored.head(0), report
    limit = top_n if top_n is not None else _top_n(base)
    frames = []
    for day in days:
        picks, r = apply_selection(
            scored.filter(pl.col("partition_date") == day), overrides.get(day, []), limit
        )
        frames.append(picks)
        report.merge(r)
    return pl.concat(frames, how="diagonal_relaxed"), report


def edit_articles(
    enhanced: pl.DataFrame, overrides: dict[date, list[Override]]
) -> tuple[pl.DataFrame, Report]:
    """``enhanced`` with the editor's title / summary / tags edits of each day applied."""
    report = Report()
    if enhanced.is_empty() or not overrides:
        return enhanced, report
    frames = []
    for day, part in enhanced.group_by("partition_date", maintain_order=True):
        edited, r = apply_article_edits(part, overrides.get(day[0], []))
        frames.append(edited)
        report.merge(r)
    return pl.concat(frames), report


def log_report(context: dg.AssetExecutionContext, report: Report) -> None:
    for line in report.missing + report.warnings:
        context.log.warning(f"editorial override: {line}")


@dg.asset(
    name=TABLE,
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "polars", "postgres"},
    deps=[SCORED_TABLE],
    description=(
        "The editors' actions on the day in the desk (pin, drop, swap, reorder, edits of title, summary, "
        "tags, subject, preheader, intro, reverts): one row per action with who, when, before and after, "
        "snapshotted from the database for this run. enhanced_articles and newsletters apply them."
    ),
)
def editorial_overrides(
    context: dg.AssetExecutionContext, postgres: PostgresResource, lakehouse: Lakehouse
) -> pl.DataFrame:
    days = days_in_context(context)
    with open_editorial_store(postgres) as store:
        rows = store.overrides_between(days[0], days[-1])
    grouped = by_day(rows)
    scored = lakehouse.read_days(SCORED_TABLE, days[0], days[-1], ["partition_date", "entry_key"])
    report = Report()
    per_day: dict[str, dict] = {}
    for day, day_rows in grouped.items():
        eff = effective_overrides(day_rows)
        keys = (
            set(scored.filter(pl.col("partition_date") == day)["entry_key"].to_list())
            if scored.height
            else set()
        )
        day_report = Report()
        report_missing(keys, eff, day_report)
        report.merge(day_report)
        per_day[day.isoformat()] = {
            "actions": len(day_rows),
            "in_effect": len(eff.active),
            "revision": max(o.revision for o in day_rows),
            "editors": sorted({o.actor for o in day_rows}),
            "missing_articles": len(day_report.missing),
        }
    log_report(context, report)
    context.add_output_metadata(
        {"actions": len(rows), "by_day": per_day, "overrides_missing": report.missing[:20]}
    )
    return overrides_frame(as_overrides(rows))
