"""Asset checks in real Dagster runs on a temporary Delta lakehouse: a failing blocking check stops
the downstream asset of the same run and says why; single-run backfills check every day; schema
checks hold after a Delta round trip; freshness fails while the newsletter is late."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
from dagster._core.test_utils import freeze_time

from bitbybit_assets import checks, quality_rules
from bitbybit_assets.partitions import DAILY, days_in_context
from resources.lakehouse import DeltaIOManager, Lakehouse
from tests.ops.frames import D1, D2, enhanced_day, newsletter_day, raw_feeds_day, scored_day

RANGE_TAGS = {"dagster/asset_partition_range_start": D1.isoformat(), "dagster/asset_partition_range_end": D2.isoformat()}


@pytest.fixture
def lakehouse(isolated_env) -> Lakehouse:
    return Lakehouse()


def _resources(lh: Lakehouse) -> dict:
    return {"lakehouse": lh, "io_manager": DeltaIOManager(lakehouse=lh)}


def tiny_graph(bad_days: dict[date, str]):
    """scored_articles -> enhanced_articles; ``bad_days`` maps a day to what is wrong with its picks."""

    @dg.asset(name="scored_articles", partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
    def scored(context: dg.AssetExecutionContext) -> pl.DataFrame:
        frames = []
        for day in days_in_context(context):
            df = scored_day(day, extra_unselected=2)
            if bad_days.get(day) == "ad":
                df = df.with_columns((pl.col("rank") == 3).alias("is_advertisement"))
            elif bad_days.get(day) == "few":
                df = df.with_columns((pl.col("rank") <= 2).alias("selected"))
            frames.append(df)
        return pl.concat(frames)

    @dg.asset(name="enhanced_articles", partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
    def enhanced(context: dg.AssetExecutionContext, scored_articles: pl.DataFrame) -> pl.DataFrame:
        return pl.concat([enhanced_day(d) for d in days_in_context(context)])

    plans = [p for p in checks.planned_checks() if p.asset == "scored_articles" and p.blocking]
    return [scored, enhanced, *(checks.build_check(p) for p in plans)]


def _evaluations(result) -> dict[str, object]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _materialized(result) -> set[str]:
    return {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}


def test_blocking_checks_pass_on_a_good_day(lakehouse):
    with dg.instance_for_test() as instance:
        result = dg.materialize(tiny_graph({}), partition_key=D1.isoformat(), resources=_resources(lakehouse),
                                instance=instance)
    assert result.success
    assert _materialized(result) == {"scored_articles", "enhanced_articles"}
    evals = _evaluations(result)
    assert set(evals) == {"min_picked_articles", "no_ads_in_picks", "one_pick_per_story", "pick_links_http"}
    assert all(e.passed for e in evals.values())
    assert {e.partition for e in evals.values()} == {D1.isoformat()}  # shown per day in the UI


def test_failing_blocking_check_stops_downstream_asset_in_the_same_run(lakehouse):
    with dg.instance_for_test() as instance:
        result = dg.materialize(tiny_graph({D1: "ad"}), partition_key=D1.isoformat(), resources=_resources(lakehouse),
                                instance=instance, raise_on_error=False)
    assert not result.success
    assert _materialized(result) == {"scored_articles"}  # enhanced_articles never ran
    assert lakehouse.read_days("enhanced_articles", D1, D1).is_empty()
    evals = _evaluations(result)
    ads = evals["no_ads_in_picks"]
    assert not ads.passed and ads.severity == dg.AssetCheckSeverity.ERROR
    assert ads.description == "FAILED: 2026-08-05: 1 pick(s) flagged as ads"
    assert "Story 2" in ads.metadata["failing_rows"].value  # the offending row is shown
    assert evals["min_picked_articles"].passed and evals["one_pick_per_story"].passed
    failed_steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert failed_steps == {"scored_articles_no_ads_in_picks"}


def test_single_run_backfill_checks_every_day(lakehouse):
    with dg.instance_for_test() as instance:
        result = dg.materialize(tiny_graph({D2: "few"}), tags=RANGE_TAGS, resources=_resources(lakehouse),
                                instance=instance, raise_on_error=False)
    assert not result.success
    assert _materialized(result) == {"scored_articles"}
    picks = _evaluations(result)["min_picked_articles"]
    assert not picks.passed
    assert picks.description == "FAILED: 2026-08-06: only 2 picked articles (need 3)"
    assert picks.metadata["details"].value["per_day"] == {"2026-08-05": 10, "2026-08-06": 2}
    assert picks.metadata["days_checked"].value == "2026-08-05, 2026-08-06"

    with dg.instance_for_test() as instance:
        ok = dg.materialize(tiny_graph({}), tags=RANGE_TAGS, resources=_resources(lakehouse), instance=instance)
    assert ok.success and _materialized(ok) == {"scored_articles", "enhanced_articles"}
    assert lakehouse.read_days("enhanced_articles", D1, D2).height == 20


def test_min_picks_follows_config(lakehouse, tmp_path, monkeypatch):
    settings_file = tmp_path / "production.yaml"
    settings_file.write_text("newsletter:\n  min_articles: 12\n")
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(settings_file))
    with dg.instance_for_test() as instance:
        result = dg.materialize(tiny_graph({}), partition_key=D1.isoformat(), resources=_resources(lakehouse),
                                instance=instance, raise_on_error=False)
    assert _evaluations(result)["min_picked_articles"].description == "FAILED: 2026-08-05: only 10 picked articles (need 12)"
    settings_file.write_text("newsletter:\n  min_articles: 12\noperations:\n  checks:\n    min_picked_articles: 9\n")
    with dg.instance_for_test() as instance:
        result = dg.materialize(tiny_graph({}), partition_key=D1.isoformat(), resources=_resources(lakehouse),
                                instance=instance)
    assert result.success


@pytest.mark.parametrize(
    ("table", "frame"),
    [
        ("raw_feeds", raw_feeds_day),
        ("scored_articles", scored_day),
        ("enhanced_articles", enhanced_day),
        ("newsletters", newsletter_day),
    ],
)
def test_schema_contract_holds_after_a_delta_round_trip(lakehouse, table, frame):
    lakehouse.write_days(table, frame(D1), D1, D1)
    stored = checks.read_table(lakehouse, table, [D1], checks.SCHEMA_ONLY)
    assert stored.is_empty() and stored.columns
    result = quality_rules.schema_matches(stored.schema, checks._contract(table), table=table)
    assert result.passed, result.summary
    lakehouse.write_days(table, frame(D1).drop(stored.columns[3]), D1, D1)
    assert checks.read_table(lakehouse, table, [D1], checks.SCHEMA_ONLY).width == len(stored.columns)  # merged schema
    missing = checks.read_table(lakehouse, "no_such_table", [D1], checks.SCHEMA_ONLY)
    assert not quality_rules.schema_matches(missing.schema, checks._contract(table), table=table).passed


def test_data_checks_in_a_run(lakehouse, tmp_path, monkeypatch):
    """Non-blocking WARN checks report but do not block: a day with too many failed feeds."""

    @dg.asset(name="raw_feeds", partitions_def=DAILY)
    def raw(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return raw_feeds_day(days_in_context(context)[0], errors=5)

    @dg.asset(name="feed_entries", partitions_def=DAILY, deps=["raw_feeds"])
    def entries(context: dg.AssetExecutionContext) -> None:
        return None

    built = checks.build_asset_checks([raw, entries])
    names = {k.name for c in built for k in c.check_keys if k.asset_key == dg.AssetKey("raw_feeds")}
    assert names == {"schema_matches_contract", "ids_present", "row_count", "failed_feed_share"}
    with dg.instance_for_test() as instance:
        result = dg.materialize([raw, entries, *built], partition_key=D1.isoformat(), resources=_resources(lakehouse),
                                instance=instance, selection=["raw_feeds", "feed_entries"])
    assert result.success and _materialized(result) == {"raw_feeds", "feed_entries"}
    evals = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    share = evals[("raw_feeds", "failed_feed_share")]
    assert not share.passed and share.severity == dg.AssetCheckSeverity.WARN
    assert "5/10 feeds failed (50% > 25%)" in share.description
    assert evals[("raw_feeds", "schema_matches_contract")].passed
    assert evals[("raw_feeds", "ids_present")].passed and evals[("raw_feeds", "row_count")].passed
    # feed_entries wrote nothing: its row count and contract checks say so
    assert not evals[("feed_entries", "row_count")].passed
    assert not evals[("feed_entries", "schema_matches_contract")].passed


def test_checks_only_for_present_assets_and_their_partitions():
    weekly = dg.WeeklyPartitionsDefinition(start_date="2026-07-20")
    spec = dg.AssetSpec("newsletters", partitions_def=weekly)
    built = checks.build_asset_checks([spec])
    assert {c.check_keys.pop().asset_key for c in built} == {dg.AssetKey("newsletters")}
    assert all(s.partitions_def == weekly for c in built for s in c.check_specs)
    assert sum(len(c.check_keys) for c in checks.build_asset_checks()) == len(checks.planned_checks())
    assert checks.build_freshness_checks([dg.AssetSpec("raw_feeds", partitions_def=DAILY)]) == []


def test_newsletter_freshness_check_fails_while_late(lakehouse):
    """Deadline 09:00 (config): at 10:00 on Aug 7 the newsletter of Aug 6 must exist."""

    @dg.asset(name="newsletters", partitions_def=DAILY)
    def letters(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return newsletter_day(days_in_context(context)[0])

    fresh = checks.build_freshness_checks([letters])
    assert checks.newsletter_deadline_cron() == ("0 9 * * *", "UTC")
    late_check = dg.AssetSelection.checks(*[k for c in fresh for k in c.check_keys])
    with dg.instance_for_test() as instance:
        dg.materialize([letters, *fresh], partition_key="2026-08-05", resources=_resources(lakehouse),
                       instance=instance, selection=["newsletters"])
        with freeze_time(datetime(2026, 8, 7, 10, 0, tzinfo=UTC)):
            late = dg.materialize([letters, *fresh], instance=instance, selection=late_check,
                                  resources=_resources(lakehouse))
        (evaluation,) = late.get_asset_check_evaluations()
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert "2026-08-06" in evaluation.description and "overdue" in evaluation.description
        dg.materialize([letters, *fresh], partition_key="2026-08-06", resources=_resources(lakehouse),
                       instance=instance, selection=["newsletters"])
        with freeze_time(datetime(2026, 8, 7, 10, 0, tzinfo=UTC) + timedelta(minutes=5)):
            on_time = dg.materialize([letters, *fresh], instance=instance, selection=late_check,
                                     resources=_resources(lakehouse))
        assert on_time.get_asset_check_evaluations()[0].passed


def test_freshness_policy_helper():
    @dg.asset(name="newsletters", partitions_def=DAILY)
    def letters() -> None: ...

    @dg.asset(name="other", partitions_def=DAILY)
    def other() -> None: ...

    mapped = checks.apply_newsletter_freshness([letters, other])
    policies = {s.key.to_user_string(): s.freshness_policy for a in mapped for s in a.specs}
    assert policies["other"] is None
    assert policies["newsletters"].deadline_cron == "0 9 * * *"
    assert policies["newsletters"].lower_bound_delta == timedelta(hours=9)
