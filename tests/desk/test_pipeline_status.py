"""desk.pipeline_status: pure time rules, and what it reads from a real (temporary) Dagster instance."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from desk import pipeline_status as ps
from sensors.chain import PARENT_TAG

PARTS = dg.DailyPartitionsDefinition(start_date="2026-08-01", timezone="UTC")
D1, D2, D3 = date(2026, 8, 3), date(2026, 8, 4), date(2026, 8, 5)


# ---------------------------------------------------------------- time rules


def test_recent_days_and_last_complete_day():
    assert ps.recent_days(D3, 3) == [D3, D2, D1]
    assert ps.recent_days(D3, 7, start_limit=D2) == [D3, D2]
    assert ps.last_complete_day(datetime(2026, 8, 6, 0, 5, tzinfo=UTC)) == D3
    assert ps.last_complete_day(datetime(2026, 8, 5, 23, 0, tzinfo=ZoneInfo("America/New_York"))) == D3


def test_next_cron_time_is_strictly_after_and_follows_the_timezone():
    at = datetime(2026, 8, 5, 6, 30, tzinfo=UTC)
    assert ps.next_cron_time("30 6 * * *", "UTC", at) == datetime(2026, 8, 6, 6, 30, tzinfo=UTC)
    assert ps.next_cron_time("30 6 * * *", "UTC", at - timedelta(seconds=1)) == at
    # Berlin leaves summer time on 2026-10-25: 06:30 local is 04:30 UTC before and 05:30 UTC after
    berlin = ps.next_cron_time("30 6 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC))
    assert berlin.astimezone(UTC) == datetime(2026, 10, 25, 5, 30, tzinfo=UTC)


def test_freshness_against_the_deadline():
    deadline = ps.newsletter_deadline(D3, 9, "UTC")
    assert deadline == datetime(2026, 8, 6, 9, tzinfo=ZoneInfo("UTC"))
    assert ps.newsletter_deadline(D3, 9, "Europe/Berlin").astimezone(UTC) == datetime(2026, 8, 6, 7, tzinfo=UTC)
    on_time = ps.freshness(deadline, deadline - timedelta(hours=2), deadline + timedelta(days=3))
    assert (on_time.state, on_time.detail) == ("on_time", "ready 2 h 00 min before the deadline")
    assert ps.freshness(deadline, deadline + timedelta(minutes=5), deadline).state == "late"
    overdue = ps.freshness(deadline, None, deadline + timedelta(hours=50))
    assert (overdue.state, overdue.detail) == ("overdue", "missing, 2 days past the deadline")
    assert ps.freshness(deadline, None, deadline - timedelta(minutes=30)).detail == "due in 30 min"


def test_summarize_assets_groups_the_warehouse():
    t1, t2 = datetime(2026, 8, 6, 7, tzinfo=UTC), datetime(2026, 8, 6, 8, tzinfo=UTC)
    states = {"warehouse/a": ps.AssetDay("warehouse/a", "materialized", t1),
              "warehouse/b": ps.AssetDay("warehouse/b", "materialized", t2),
              "newsletters": ps.AssetDay("newsletters", "failed")}
    assert ps.summarize_assets(states, "warehouse/") == ps.AssetDay("warehouse", "materialized", t2,
                                                                   detail="2/2 materialised")
    states["warehouse/c"] = ps.AssetDay("warehouse/c", "missing")
    partial = ps.summarize_assets(states, "warehouse/")
    assert (partial.status, partial.detail) == ("partial", "2/3 materialised; not: c")
    assert ps.summarize_assets({"warehouse/c": states["warehouse/c"]}, "warehouse/").status == "missing"
    states["warehouse/d"] = ps.AssetDay("warehouse/d", "failed")
    assert ps.summarize_assets(states, "warehouse/").status == "failed"
    assert ps.summarize_assets({}, "warehouse/").status == "missing"


def _run(status: str, job: str = "daily_pipeline", errors=()) -> ps.RunView:
    return ps.RunView("r1", job, status, D3, D3, None, errors=list(errors))


def test_launch_state():
    now = datetime(2026, 8, 6, 7, tzinfo=UTC)
    kw = {"requested_at": now - timedelta(seconds=10), "now": now}
    assert ps.launch_state(None, **kw) == ps.LaunchState("starting", False, False)
    assert ps.launch_state(None, launch_error="boom", **kw).label == "launch failed"
    exited = ps.launch_state(None, exit_code=2, **kw)
    assert exited.label == "launch failed" and "code 2" in exited.detail
    late = ps.launch_state(None, requested_at=now - timedelta(minutes=6), now=now)
    assert (late.label, late.finished) == ("missing", True)
    assert ps.launch_state(_run("QUEUED"), **kw).label == "queued"
    assert ps.launch_state(_run("STARTED"), **kw).label == "running"
    assert ps.launch_state(_run("SUCCESS"), **kw) == ps.LaunchState("succeeded", True, True, "")
    failed = ps.launch_state(_run("FAILURE", errors=["step: boom"]), **kw)
    assert (failed.label, failed.detail, failed.finished, failed.ok) == ("failed", "step: boom", True, False)
    # production chain: ingest succeeded, scoring still running → running until publish succeeds
    chain = [_run("SUCCESS", "scoring")]
    assert ps.launch_state(_run("SUCCESS", "ingest"), follow_ups=chain, final_job="publish", **kw).label == "running"
    assert ps.launch_state(_run("SUCCESS", "ingest"), final_job="publish", **kw).label == "running"
    done = chain + [_run("SUCCESS", "publish")]
    assert ps.launch_state(_run("SUCCESS", "ingest"), follow_ups=done, final_job="publish", **kw).ok
    broken = [_run("FAILURE", "scoring", ["embed: CUDA out of memory"])]
    st = ps.launch_state(_run("SUCCESS", "ingest"), follow_ups=broken, final_job="publish", **kw)
    assert st.label == "failed" and st.detail == "embed: CUDA out of memory (scoring)"
    assert ps.run_url("http://dagster:3000/", "abc") == "http://dagster:3000/runs/abc"


# ---------------------------------------------------------------- a real instance


@dg.asset(partitions_def=PARTS)
def raw_feeds(context) -> None:  # (no annotation: Dagster reads it at runtime)
    if context.partition_key == D2.isoformat():
        raise RuntimeError("feed host down")


@dg.asset(partitions_def=PARTS, deps=[raw_feeds])
def newsletters() -> None:
    return None


@dg.asset
def not_partitioned() -> None:
    return None


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_asset_states_runs_and_failures_from_the_instance(instance):
    defs = dg.Definitions(assets=[raw_feeds, newsletters, not_partitioned])
    graph = defs.resolve_asset_graph()
    keys = ps.daily_asset_keys(graph)
    assert [k.to_user_string() for k in keys] == ["raw_feeds", "newsletters"]
    ok = dg.materialize([raw_feeds, newsletters], instance=instance, partition_key=D1.isoformat(),
                        tags={"bitbybit/trigger": "desk"})
    bad = dg.materialize([raw_feeds, newsletters], instance=instance, partition_key=D2.isoformat(),
                         raise_on_error=False)
    states = ps.asset_partition_states(instance, keys, [D3, D2, D1], PARTS)
    assert states[D1]["raw_feeds"].status == "materialized" and states[D1]["raw_feeds"].run_id == ok.run_id
    assert states[D1]["newsletters"].materialized_at is not None
    # Dagster counts a planned materialisation that never happened (upstream failed) as failed too
    assert states[D2]["raw_feeds"].status == "failed" and states[D2]["newsletters"].status == "failed"
    assert states[D3]["raw_feeds"] == ps.AssetDay("raw_feeds", "missing")

    runs = ps.recent_runs(instance)
    assert [r.run_id for r in runs] == [bad.run_id, ok.run_id]
    by_day = ps.runs_by_day(runs, [D1, D2, D3])
    assert [r.run_id for r in by_day[D1]] == [ok.run_id] and by_day[D3] == []
    assert by_day[D1][0].trigger == "desk" and by_day[D1][0].status == "SUCCESS" and not by_day[D1][0].active
    failed = ps.with_errors(instance, by_day[D2][0])
    assert failed.status == "FAILURE" and any("feed host down" in e for e in failed.errors)
    assert ps.run_view(instance, ok.run_id).errors == [] and ps.run_view(instance, "nope") is None


def test_range_runs_cover_each_day_and_chains_are_followed(instance):
    @dg.op
    def noop() -> None:
        return None

    @dg.job(name="ingest")
    def ingest():
        noop()

    @dg.job(name="scoring")
    def scoring():
        noop()

    first = ingest.execute_in_process(instance=instance, tags={
        "dagster/asset_partition_range_start": D1.isoformat(), "dagster/asset_partition_range_end": D3.isoformat()})
    second = scoring.execute_in_process(instance=instance, tags={PARENT_TAG: first.run_id})
    (view,) = [r for r in ps.recent_runs(instance) if r.run_id == first.run_id]
    assert view.covers(D2) and view.days_label == "2026-08-03..2026-08-05" and not view.covers(D3 + timedelta(1))
    assert [r.run_id for r in ps.follow_up_runs(instance, first.run_id)] == [second.run_id]
    assert ps.follow_up_runs(instance, second.run_id) == []
