"""Ingest assets: raw_feeds (bronze) → feed_entries (silver) → filtered_articles."""


from datetime import date, timedelta

import dagster as dg
import polars as pl

from bitbybit_assets import llm_store
from bitbybit_assets.enhance import prompts
from bitbybit_assets.feeds_store import load_feeds
from bitbybit_assets.ingest.bronze import fetch_summary, raw_feed_rows
from bitbybit_assets.ingest.day_assignment import history_window, missing_history_days, seen_ids
from bitbybit_assets.ingest.parsing import forget_parsed
from bitbybit_assets.ingest.silver import new_entries
from bitbybit_assets.ingest.stats import markdown_table, per_feed_filter_counts
from bitbybit_assets.ingest.translation import TranslationReport, filter_and_translate
from bitbybit_assets.partitions import DAILY, HISTORY, days_in_context
from bitbybit_assets.schemas import FEED_ENTRIES, FILTERED_ARTICLES, RAW_FEEDS, conform
from bitbybit_assets.settings_overrides import settings_with_overrides
from resources.feeds import FeedSource
from resources.lakehouse import Lakehouse
from resources.llm import LLMResource
from resources.settings import RunSettings

GROUP = "ingest"


def _validators(lakehouse: Lakehouse, day: date) -> dict[str, tuple[str | None, str | None]]:
    """Last ETag / Last-Modified per feed from raw_feeds of earlier days (never the day itself)."""
    hist = lakehouse.read_days(
        "raw_feeds", day - timedelta(days=30), day - timedelta(days=1),
        ["partition_date", "feed_name", "fetch_status", "etag", "last_modified"],
    )
    if hist.is_empty():
        return {}
    latest = (
        hist.filter(pl.col("fetch_status").is_in(["ok", "not_modified"]))
        .sort("partition_date")
        .group_by("feed_name")
        .agg(pl.col("etag").drop_nulls().last(), pl.col("last_modified").drop_nulls().last())
    )
    return {r["feed_name"]: (r["etag"], r["last_modified"]) for r in latest.iter_rows(named=True)}


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "polars"},
    op_tags={"bitbybit/concurrency": "feed_fetch"},
    description="Bronze: one row per feed per day with the raw bytes, fetch status and validators.",
)
def raw_feeds(
    context: dg.AssetExecutionContext, feed_source: FeedSource, lakehouse: Lakehouse, settings: RunSettings
) -> pl.DataFrame:
    feeds = load_feeds()
    limits = settings.ingest.limits
    frames, summary = [], {}
    for day in days_in_context(context):
        results = feed_source.fetch_day(day, feeds, _validators(lakehouse, day))
        frame = raw_feed_rows(day, results, limits)
        frames.append(frame)
        counts = fetch_summary(frame)
        summary[day.isoformat()] = counts
        failed = frame.filter(pl.col("fetch_status") == "error")
        for row in failed.select("feed_name", "error").iter_rows(named=True):
            context.log.warning(f"{day}: feed {row['feed_name']} failed: {row['error']}")
    out = pl.concat(frames) if frames else pl.DataFrame(schema=RAW_FEEDS)
    errors = out.filter(pl.col("fetch_status") == "error")
    context.add_output_metadata(
        {
            "feeds": out.height,
            "fetch_errors": errors.height,
            "bytes": int(out["size_bytes"].fill_null(0).sum()),
            "status_by_day": summary,
            "errors": dg.MetadataValue.md(markdown_table(errors.select("partition_date", "feed_name", "error"))),
        }
    )
    return out


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "polars"},
    ins={
        # ingest.history_days before the day (bound in build_definitions: partitions.bind_partitions)
        "raw_feeds": dg.AssetIn(partition_mapping=HISTORY)
    },
    description=(
        "Silver: every entry first seen on the day in its feed (day-assignment rule), normalised: "
        "canonical URL and ids, clean text, UTC dates, language, image, categories."
    ),
)
def feed_entries(
    context: dg.AssetExecutionContext, raw_feeds: pl.LazyFrame, feed_source: FeedSource, settings: RunSettings
) -> pl.DataFrame:
    cfg = settings
    feeds = {f.name: f for f in load_feeds(enabled_only=False)}
    raw = raw_feeds if raw_feeds.collect_schema().names() else pl.DataFrame(schema=RAW_FEEDS).lazy()
    present = set(raw.select("partition_date").unique().collect()["partition_date"].to_list())
    frames, unrecoverable = [], []
    backlog: dict[str, int] = {}  # feed -> back-catalogue entries of its first snapshot, skipped
    for day in days_in_context(context):
        if day not in present:
            raise dg.Failure(f"raw_feeds has no rows for {day}: materialise raw_feeds for that day first")
        missing = missing_history_days(day, present, cfg.ingest.history_days, cfg.pipeline.start_date)
        recoverable = [d for d in missing if feed_source.available(d)]
        if recoverable and not cfg.ingest.allow_missing_history:
            raise dg.Failure(
                f"day assignment for {day} needs raw_feeds for {len(recoverable)} earlier day(s) that can "
                f"still be read ({recoverable[0]} .. {recoverable[-1]}); materialise them first "
                "(e.g. backfill raw_feeds) so the result does not depend on materialisation order"
            )
        unrecoverable += [d for d in missing if d not in recoverable]
        window = history_window(day, cfg.ingest.history_days, cfg.pipeline.start_date)
        history = (
            raw.filter(pl.col("partition_date").is_between(*window)).select("feed_name", "entry_ids").collect()
            if window
            else pl.DataFrame()
        )
        today = raw.filter(pl.col("partition_date") == day).collect()
        frames.append(new_entries(day, today, seen_ids(history), feeds, cfg.ingest.limits, backlog))
    forget_parsed()  # documents raw_feeds kept in this process that no day here needed
    out = pl.concat(frames) if frames else pl.DataFrame(schema=FEED_ENTRIES)
    context.add_output_metadata(
        {
            "new_entries": out.height,
            "history_days_unavailable": len(set(unrecoverable)),
            "first_snapshot_backlog_skipped": sum(backlog.values()),
            "first_snapshot_feeds": ", ".join(f"{k} ({v})" for k, v in sorted(backlog.items())) or "none",
            "per_feed": dg.MetadataValue.md(
                markdown_table(out.group_by("feed_name").len().sort("feed_name"))
            ),
        }
    )
    return conform(out, FEED_ENTRIES)


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"delta", "polars"},
    description=(
        "Every entry of the day with the content filter's decision: passed_filter, filter_reason "
        "(missing title/url, too short, outside the day, language, blocked, duplicate URL) and duplicate_of. "
        "With an LLM endpoint, language-only drops in content_filter.translation.languages are translated "
        "(original_title, original_language, translated_by) and pass."
    ),
)
def filtered_articles(
    context: dg.AssetExecutionContext,
    feed_entries: pl.DataFrame,
    settings: RunSettings,
    llm: LLMResource,
    lakehouse: Lakehouse,
) -> pl.DataFrame:
    cfg = settings_with_overrides(base=settings).content_filter  # with the desk's settings (language allow-list)
    session = None  # translation of language-only drops needs an LLM endpoint (offline: none)
    if cfg.translation.languages and llm.endpoint(settings.llm) is not None:
        session = llm_store.open_session(
            llm, lakehouse, run_id=context.run_id, config=settings.llm, log=context.log,
            prompt_version=prompts.TRANSLATION_PROMPT_VERSION,
        )  # fmt: skip
    frames, report = [], TranslationReport()
    for day in days_in_context(context):
        frame, day_report = filter_and_translate(
            feed_entries.filter(pl.col("partition_date") == day), day, cfg, session
        )
        frames.append(frame)
        report = report.merge(day_report)
    totals = llm_store.close_session(session, lakehouse) if session is not None else {}
    out = conform(pl.concat(frames, how="vertical_relaxed"), FILTERED_ARTICLES) if frames else pl.DataFrame(
        schema=FILTERED_ARTICLES
    )
    counts = per_feed_filter_counts(out)
    context.add_output_metadata(
        {
            "entries": out.height,
            "passed": int(out["passed_filter"].sum() or 0),
            "dropped": int((~out["passed_filter"]).sum() or 0),
            "per_feed": dg.MetadataValue.md(markdown_table(counts)),
            **(report.metadata() | totals if session is not None else {}),
        }
    )
    return out
