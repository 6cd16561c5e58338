"""Asset checks: blocking quality gates on the newsletter path, data checks on the way, freshness.

Checks name their assets by key (strings), read the run's days through the ``lakehouse`` resource
(only the columns they need) and evaluate the pure rules of :mod:`bitbybit_assets.quality_rules`.
Each check is partitioned like its asset, so the UI shows its result per day; a single-run
backfill gets one evaluation covering every day of its range (the metadata lists each day). An
asset's checks run in one step (``build_asset_check_group``: its tables read once, one result per
check); ``build_check`` makes a single check its own step. Over 400 lines because the check plan
(every rule with its reads and thresholds) is kept in one table here, next to the wrapper that runs it.

Blocking checks (``blocking=True``, severity ERROR) stop everything downstream of their asset in
the same run and fail the run (which alerts): picks on ``scored_articles`` (at least N, no ads, one
per story, http(s) links) guard ``enhanced_articles``; summaries, links and picks on
``enhanced_articles`` guard ``newsletters``; the newsletter itself guards the warehouse/API export.
A range backfill (:mod:`bitbybit_assets.backfill`) runs the blocking checks of ``scored_articles``
once per day, in that day's publish run, so a failing day stops only itself. The freshness check is
evaluated by its sensor only (no job includes it): a historical run is never "late".
Thresholds are read when the check runs (``operations.checks``, ``newsletter.min_articles``,
``enhancement.summary_max_words``).
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
import polars as pl

from bitbybit_assets import quality_rules as rules
from bitbybit_assets import schemas
from bitbybit_assets.operations_settings import deadline_hour, min_picked_articles, summary_max_words
from bitbybit_assets.partitions import DAILY, last_complete_day
from bitbybit_base.days import days_between
from bitbybit_base.settings import runtime_settings
from resources.lakehouse import Lakehouse

SCHEMA_ONLY = "schema"  # a `reads` value: the table's schema (an empty frame), no rows read
Reads = Mapping[str, Sequence[str] | str | None]
Rule = Callable[[dict[str, pl.DataFrame], list[date]], rules.RuleResult]
ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN

# table -> schema constant in bitbybit_assets.schemas
CONTRACTS = {
    "raw_feeds": "RAW_FEEDS",
    "feed_entries": "FEED_ENTRIES",
    "filtered_articles": "FILTERED_ARTICLES",
    "scored_articles": "SCORED_ARTICLES",
    "enhanced_articles": "ENHANCED_ARTICLES",
    "newsletters": "NEWSLETTERS",
}
ID_COLUMNS = {
    "raw_feeds": (["feed_name"], ["feed_name"]),
    "feed_entries": (["entry_key", "article_id"], ["entry_key"]),
    "filtered_articles": (["entry_key", "article_id"], ["entry_key"]),
    "scored_articles": (["entry_key", "article_id"], ["entry_key"]),
    "enhanced_articles": (["entry_key", "article_id"], ["entry_key"]),
    "newsletters": (["newsletter_id"], ["newsletter_id"]),
}
ROW_COUNT_TABLES = ("raw_feeds", "feed_entries", "filtered_articles", "scored_articles")
PICK_COLUMNS = ["partition_date", "entry_key", "article_id", "feed_name", "title", "url", "rank",
                "selected", "is_advertisement", "ad_score", "ad_reason", "cluster_id"]


@dataclass(frozen=True)
class CheckPlan:
    """One asset check: what it reads and which rule decides."""

    asset: str
    name: str
    description: str
    rule: Rule
    reads: Reads
    blocking: bool = False
    severity: dg.AssetCheckSeverity = ERROR


# ---------------------------------------------------------------- Dagster wrapper


def check_days(context: dg.AssetCheckExecutionContext,
               partitions_def: dg.PartitionsDefinition | None = None) -> tuple[list[date], str | None]:
    """Days of the run's partition window; the latest complete day (of ``partitions_def``) when the
    run has none."""
    op = context.op_execution_context
    try:
        window = op.partition_time_window
    except Exception:  # an unpartitioned run (e.g. the check launched on its own)
        day = last_complete_day(partitions_def or DAILY)
        if day is None:
            return [], "no partition yet"
        return [day], f"run has no partition: checked the latest complete day {day}"
    return days_between(window.start.date(), (window.end - timedelta(days=1)).date()), None


def read_table(lakehouse: Lakehouse, table: str, days: list[date], columns: Sequence[str] | str | None) -> pl.DataFrame:
    """Rows of ``days`` (only ``columns``); with ``SCHEMA_ONLY`` an empty frame with the schema."""
    if not days:
        return pl.DataFrame()
    if columns == SCHEMA_ONLY:
        lf = lakehouse.scan_days(table, min(days), max(days))
        return pl.DataFrame() if lf is None else pl.DataFrame(schema=lf.collect_schema())
    return lakehouse.read_days(table, min(days), max(days), list(columns) if columns else None)


def to_check_result(result: rules.RuleResult, severity: dg.AssetCheckSeverity, days: list[date],
                    note: str | None = None, extra: Mapping[str, Any] | None = None,
                    key: dg.AssetCheckKey | None = None) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {
        "days_checked": ", ".join(d.isoformat() for d in days) if len(days) <= 7
        else f"{days[0]} .. {days[-1]} ({len(days)} days)",
        "details": dg.MetadataValue.json(result.metadata),
        **(extra or {}),
    }
    if note:
        metadata["note"] = note
    if result.failures is not None and not result.failures.is_empty():
        metadata["failing_rows"] = dg.MetadataValue.md(rules.markdown_sample(result.failures))
    return dg.AssetCheckResult(
        asset_key=key.asset_key if key else None,
        check_name=key.name if key else None,
        passed=result.passed,
        severity=severity,
        description=("" if result.passed else "FAILED: ") + result.summary,
        metadata=metadata,
    )


def build_check(plan: CheckPlan, partitions_def: dg.PartitionsDefinition | None = DAILY) -> dg.AssetChecksDefinition:
    """An asset check running ``plan.rule`` over the run's days read through ``lakehouse``, partitioned
    like its asset (``partitions_def``: the bound daily partitions in the Definitions)."""

    @dg.asset_check(
        asset=plan.asset,
        name=plan.name,
        description=plan.description,
        blocking=plan.blocking,
        partitions_def=partitions_def,
        metadata={"bitbybit/severity": plan.severity.value, "bitbybit/blocking": plan.blocking},
    )
    def _check(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
        days, note = check_days(context, partitions_def)
        frames = {table: read_table(lakehouse, table, days, cols) for table, cols in plan.reads.items()}
        result = plan.rule(frames, days)
        if not result.passed:
            context.log.warning(f"check {plan.asset}:{plan.name} failed: {result.summary}")
        return to_check_result(result, plan.severity, days, note)

    return _check


def read_frames(lakehouse: Lakehouse, plans: Sequence[CheckPlan], days: list[date]) -> list[dict[str, pl.DataFrame]]:
    """Each plan's frames as ``read_table`` gives them, every table read once: the union of the plans'
    columns (a schema-only read apart), then each plan's own columns selected from it in its order."""
    union: dict[str, list[str] | None] = {}
    schema_only: set[str] = set()
    for plan in plans:
        for table, cols in plan.reads.items():
            if cols == SCHEMA_ONLY:
                schema_only.add(table)
            elif not cols or union.get(table, []) is None:
                union[table] = None
            else:
                union[table] = list(dict.fromkeys([*(union.get(table) or []), *cols]))
    rows = {table: read_table(lakehouse, table, days, cols) for table, cols in union.items()}
    schemas_ = {table: read_table(lakehouse, table, days, SCHEMA_ONLY) for table in schema_only}

    def frame(table: str, cols: Sequence[str] | str | None) -> pl.DataFrame:
        if cols == SCHEMA_ONLY:
            return schemas_[table]
        df = rows[table]
        return df if not cols or not df.width else df.select([c for c in cols if c in df.columns])

    return [{table: frame(table, cols) for table, cols in plan.reads.items()} for plan in plans]


def build_asset_check_group(plans: Sequence[CheckPlan],
                            partitions_def: dg.PartitionsDefinition | None = DAILY) -> dg.AssetChecksDefinition:
    """The checks of one asset in one step (``@multi_asset_check``): its tables read once for all of
    them, one result per selected check, each with the name, severity, blocking flag and metadata it
    has as a check of its own (:func:`build_check`). A job may select any subset of them."""
    (asset,) = {p.asset for p in plans}
    specs = [
        dg.AssetCheckSpec(
            p.name, asset=p.asset, description=p.description, blocking=p.blocking, partitions_def=partitions_def,
            metadata={"bitbybit/severity": p.severity.value, "bitbybit/blocking": p.blocking},
        )
        for p in plans
    ]

    @dg.multi_asset_check(name=f"{asset}_checks", specs=specs, can_subset=True)
    def _checks(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> Iterator[dg.AssetCheckResult]:
        keys = {dg.AssetCheckKey(dg.AssetKey(p.asset), p.name): p for p in plans}
        chosen = [p for k, p in keys.items() if k in context.selected_asset_check_keys]
        days, note = check_days(context, partitions_def)
        errors: list[Exception] = []
        for plan, frames in zip(chosen, read_frames(lakehouse, chosen, days), strict=True):
            try:
                result = plan.rule(frames, days)
            except Exception as exc:  # the other checks still report; the step fails below
                context.log.error(f"check {plan.asset}:{plan.name} raised {exc!r}")
                errors.append(exc)
                continue
            if not result.passed:
                context.log.warning(f"check {plan.asset}:{plan.name} failed: {result.summary}")
            yield to_check_result(result, plan.severity, days, note, key=dg.AssetCheckKey(dg.AssetKey(plan.asset), plan.name))
        if errors:
            raise errors[0]

    return _checks


# ---------------------------------------------------------------- the plan


def _contract(table: str) -> dict:
    return getattr(schemas, CONTRACTS[table], None) or {}


def _schema_plan(table: str) -> CheckPlan:
    return CheckPlan(
        asset=table, name="schema_matches_contract", severity=ERROR, reads={table: SCHEMA_ONLY},
        description=f"Every column of the {table} contract (bitbybit_assets.schemas.{CONTRACTS[table]}) "
        "is present with its dtype.",
        rule=lambda f, days, t=table: rules.schema_matches(f[t].schema, _contract(t), table=t),
    )


def _ids_plan(table: str) -> CheckPlan:
    ids, unique = ID_COLUMNS[table]
    return CheckPlan(
        asset=table, name="ids_present", severity=ERROR,
        reads={table: list(dict.fromkeys(["partition_date", *ids, *unique, "feed_name", "title"]))},
        description=f"No null/blank {', '.join(ids)}; {', '.join(unique)} unique per day.",
        rule=lambda f, days, t=table, i=ids, u=unique: rules.ids_present(f[t], days, i, u, table=t),
    )


def _rows_plan(table: str) -> CheckPlan:
    def rule(f: dict[str, pl.DataFrame], days: list[date], t: str = table) -> rules.RuleResult:
        floor = runtime_settings().operations.checks.min_rows.get(t, 1)
        return rules.row_counts(f[t], days, floor, table=t)

    return CheckPlan(
        asset=table, name="row_count", severity=WARN, reads={table: ["partition_date"]}, rule=rule,
        description=f"{table} has at least operations.checks.min_rows.{table} (default 1) rows every day.",
    )


def _failed_feeds(f: dict[str, pl.DataFrame], days: list[date]) -> rules.RuleResult:
    return rules.failed_feed_share(f["raw_feeds"], days, runtime_settings().operations.checks.max_failed_feed_share)


def _schemes() -> list[str]:
    return runtime_settings().operations.checks.allowed_link_schemes


def _scored_picks(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return rules.picks(f["scored_articles"])


def _enhanced(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return f["enhanced_articles"]


def planned_checks() -> list[CheckPlan]:
    """Every check, in pipeline order."""
    plans: list[CheckPlan] = []
    for table in CONTRACTS:
        plans.append(_schema_plan(table))
        plans.append(_ids_plan(table))
        if table in ROW_COUNT_TABLES:
            plans.append(_rows_plan(table))
    plans.append(CheckPlan(
        asset="raw_feeds", name="failed_feed_share", severity=WARN,
        reads={"raw_feeds": ["partition_date", "feed_name", "fetch_status", "http_status", "error"]},
        rule=_failed_feeds,
        description="Share of the day's feeds that failed to fetch is at most "
        "operations.checks.max_failed_feed_share (archive-missing feeds are not counted).",
    ))
    scored = {"scored_articles": PICK_COLUMNS}
    plans += [
        CheckPlan(
            asset="scored_articles", name="min_picked_articles", blocking=True, reads=scored,
            rule=lambda f, days: rules.min_picks(_scored_picks(f), days, min_picked_articles()),
            description="BLOCKING: at least operations.checks.min_picked_articles (default "
            "newsletter.min_articles) picks (selected) every day; otherwise no newsletter is built.",
        ),
        CheckPlan(
            asset="scored_articles", name="no_ads_in_picks", blocking=True, reads=scored,
            rule=lambda f, days: rules.no_ads(_scored_picks(f), days),
            description="BLOCKING: no pick is an advertisement (is_advertisement true or undecided).",
        ),
        CheckPlan(
            asset="scored_articles", name="one_pick_per_story", blocking=True, reads=scored,
            rule=lambda f, days: rules.distinct_clusters(_scored_picks(f), days),
            description="BLOCKING: no two picks of a day share a story cluster (cluster_id).",
        ),
        CheckPlan(
            asset="scored_articles", name="pick_links_http", blocking=True, reads=scored,
            rule=lambda f, days: rules.links_valid(_scored_picks(f), days, "url", _schemes(), table="scored_articles"),
            description="BLOCKING: every pick's url is an absolute http(s) link.",
        ),
    ]
    enhanced = {"enhanced_articles": ["partition_date", "entry_key", "article_id", "rank", "title", "url",
                                      "summary", "cluster_id", "pick_source"]}
    plans += [
        CheckPlan(
            asset="enhanced_articles", name="min_picked_articles", blocking=True, reads=enhanced,
            rule=lambda f, days: rules.min_picks(_enhanced(f), days, min_picked_articles()),
            description="BLOCKING: at least N enhanced picks every day (N as for scored_articles).",
        ),
        CheckPlan(
            asset="enhanced_articles", name="summaries_valid", blocking=True, reads=enhanced,
            rule=lambda f, days: rules.summaries_valid(_enhanced(f), days, summary_max_words()),
            description="BLOCKING: every pick has a summary of at most enhancement.summary_max_words words.",
        ),
        CheckPlan(
            asset="enhanced_articles", name="links_http", blocking=True, reads=enhanced,
            rule=lambda f, days: rules.links_valid(_enhanced(f), days, "url", _schemes(), table="enhanced_articles"),
            description="BLOCKING: every pick's url is an absolute http(s) link.",
        ),
        CheckPlan(
            asset="enhanced_articles", name="one_pick_per_story", blocking=True, reads=enhanced,
            rule=lambda f, days: rules.distinct_clusters(_enhanced(f), days),
            description="BLOCKING: no two picks of a day share a story cluster.",
        ),
        CheckPlan(
            asset="enhanced_articles", name="picks_are_selected_non_ads", blocking=True,
            reads={**enhanced, "scored_articles": ["partition_date", "entry_key", "selected", "is_advertisement"]},
            rule=lambda f, days: rules.picks_match_selection(_enhanced(f), f["scored_articles"], days),
            description="BLOCKING: every enhanced pick is a selected, non-advertisement scored_articles row, "
            "or an editor's pick (pick_source pin / replacement) of the day; a replacement is never an ad.",
        ),
        CheckPlan(
            asset="enhanced_articles", name="pinned_ads", severity=WARN,
            reads={**enhanced, "scored_articles": ["partition_date", "entry_key", "is_advertisement", "ad_reason"]},
            rule=lambda f, days: rules.pinned_ads(_enhanced(f), f["scored_articles"], days),
            description="An editor pinned an article the ad classifier flags (allowed: the editor's call; "
            "shown so it is a decision, not an accident).",
        ),
    ]
    letters = {"newsletters": ["partition_date", "newsletter_id", "subject_line", "html", "text",
                               "article_ids", "article_count"]}
    plans += [
        CheckPlan(
            asset="newsletters", name="newsletter_complete", blocking=True, reads=letters,
            rule=lambda f, days: rules.newsletter_complete(f["newsletters"], days, min_picked_articles()),
            description="BLOCKING: exactly one newsletter per day with subject, HTML and text, "
            "article_count = len(article_ids) >= N and no repeated article.",
        ),
        CheckPlan(
            asset="newsletters", name="links_http", blocking=True, reads=letters,
            rule=lambda f, days: rules.newsletter_links_valid(
                f["newsletters"], days, _schemes(), allow_merge_tags=runtime_settings().operations.checks.allow_merge_tags
            ),
            description="BLOCKING: every href in the newsletter HTML is http(s) (mailto:, #anchors and "
            "merge tags such as {{unsubscribe_url}} allowed).",
        ),
    ]
    return plans


def _partitions_by_key(assets: Sequence[Any]) -> dict[dg.AssetKey, dg.PartitionsDefinition | None]:
    out: dict[dg.AssetKey, dg.PartitionsDefinition | None] = {}
    for a in assets:
        specs = a.specs if isinstance(a, dg.AssetsDefinition) else [a] if isinstance(a, dg.AssetSpec) else []
        for spec in specs:
            out[spec.key] = spec.partitions_def
    return out


def build_asset_checks(assets: Sequence[Any] | None = None) -> list[dg.AssetChecksDefinition]:
    """Every planned check, one definition (one step) per asset. With ``assets`` (the Definitions'
    assets), only checks whose asset is among them, partitioned like that asset; without, all of them
    on the daily partitions."""
    parts = _partitions_by_key(assets) if assets is not None else None
    by_asset: dict[str, list[CheckPlan]] = {}
    for plan in planned_checks():
        if parts is None or dg.AssetKey(plan.asset) in parts:
            by_asset.setdefault(plan.asset, []).append(plan)
    return [build_asset_check_group(group, parts[dg.AssetKey(asset)] if parts is not None else DAILY)
            for asset, group in by_asset.items()]


# ---------------------------------------------------------------- freshness


def newsletter_deadline_cron() -> tuple[str, str]:
    """(cron, timezone) of the newsletter deadline: ``newsletter_deadline_hours`` after the day ends."""
    cfg = runtime_settings()
    return f"0 {deadline_hour(cfg)} * * *", cfg.pipeline.schedule_timezone


def build_freshness_checks(assets: Sequence[Any] | None = None) -> list[dg.AssetChecksDefinition]:
    """A WARN check on ``newsletters``: once the deadline passes, the day that just ended must have
    its newsletter (Dagster's time-partition freshness check; the UI shows it failing while late)."""
    if assets is not None and dg.AssetKey("newsletters") not in _partitions_by_key(assets):
        return []
    cron, tz = newsletter_deadline_cron()
    return list(dg.build_time_partition_freshness_checks(assets=["newsletters"], deadline_cron=cron, timezone=tz,
                                                         severity=WARN))


def build_freshness_sensor(checks: Sequence[dg.AssetChecksDefinition],
                           default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    """Evaluates the freshness checks (every 10 minutes) so lateness shows without a run."""
    return dg.build_sensor_for_freshness_checks(
        freshness_checks=checks, name="newsletter_freshness", minimum_interval_seconds=600,
        default_status=default_status,
    )


def newsletter_freshness_policy() -> dg.FreshnessPolicy:
    """The same deadline as Dagster's (preview) asset freshness policy, for ``apply_newsletter_freshness``."""
    cron, tz = newsletter_deadline_cron()
    return dg.FreshnessPolicy.cron(deadline_cron=cron, lower_bound_delta=timedelta(hours=deadline_hour()), timezone=tz)


def apply_newsletter_freshness(assets: Sequence[Any]) -> Sequence[Any]:
    """``assets`` with the freshness policy on ``newsletters`` (shown in the UI's asset health
    when ``freshness: enabled: true`` is in dagster.yaml)."""
    policy = newsletter_freshness_policy()
    key = dg.AssetKey("newsletters")
    return dg.map_asset_specs(lambda s: dg.apply_freshness_policy(s, policy) if s.key == key else s, assets)


def blocking_failures(lakehouse: Lakehouse, day: date) -> list[str]:
    """``asset:check: why`` for every blocking check that fails on ``day`` (the same rules the asset
    checks run), read straight from the lakehouse: what auto approval of a newsletter waits on."""
    failed: list[str] = []
    for plan in planned_checks():
        if not plan.blocking:
            continue
        frames = {table: read_table(lakehouse, table, [day], cols) for table, cols in plan.reads.items()}
        result = plan.rule(frames, [day])
        if not result.passed:
            failed.append(f"{plan.asset}:{plan.name}: {result.summary}")
    return failed
