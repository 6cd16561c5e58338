"""Pure pieces of a backfill: which days a resume runs, contiguous ranges, the ETA, the progress line;
and the jobs never run the newsletter freshness check (historical runs are not late)."""

from datetime import date, timedelta

from bitbybit_assets.jobs import FRESHNESS_CHECK, all_jobs
from bitbybit_assets.progress import Eta, contiguous_ranges, days_to_resume, format_seconds, stage_line
from tests.backfill.archive import pipeline_definitions

D = [date(2026, 8, 3) + timedelta(days=i) for i in range(6)]


def test_resume_days_and_ranges():
    assert days_to_resume(D[0], D[4], {D[0], D[1], D[3]}) == [D[2], D[4]]
    assert contiguous_ranges([D[4], D[0], D[1], D[3]]) == [(D[0], D[1]), (D[3], D[4])]
    assert contiguous_ranges([]) == []


def test_eta_from_the_pace_so_far():
    now = [100.0]
    eta = Eta(total=10, clock=lambda: now[0])
    assert eta.seconds_left() is None
    now[0] = 130.0
    eta.add(3)
    assert eta.seconds_left() == 70.0  # 30 s for 3 units, 7 left
    eta.add(20)
    assert eta.done == 10 and eta.seconds_left() == 0
    assert format_seconds(70) == "1m10s" and format_seconds(7300) == "2h01m"


def test_stage_line():
    line = stage_line("2026-08-03", "scored_articles", rows=412, seconds=61.2, days_in_step=5, eta=80)
    assert line.startswith("2026-08-03  scored_articles") and "412 rows" in line
    assert "61.2s/5 days" in line and line.endswith("ETA 1m20s")
    assert "FAILED" in stage_line("2026-08-05", "publish", status="failed", note="why")


def test_no_pipeline_job_runs_the_freshness_check():
    defs = pipeline_definitions()
    assert FRESHNESS_CHECK in defs.resolve_asset_graph().asset_check_keys  # the sensor still has it
    names = {job.name for job in all_jobs()}
    assert {"daily_pipeline", "backfill_ingest_curate", "backfill_publish_day", "replay"} <= names
    for name in ("daily_pipeline", "backfill_ingest_curate", "backfill_publish_day"):
        nodes = defs.resolve_job_def(name).graph.node_dict
        assert not any("freshness" in node for node in nodes), name
