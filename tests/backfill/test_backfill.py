"""A 5-day backfill where day 3 fails a blocking check (its feeds arrived truncated): the other days
are published and equal to day-by-day runs, day 3 is failed with its reason, the warehouse stage runs
once for each stretch of published days around it, no freshness check runs inside the historical runs,
and a resume after the feeds are fixed completes day 3 only."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from bitbybit_assets.backfill import run_backfill, run_single_day
from bitbybit_assets.jobs import BACKFILL_WAREHOUSE_JOB_NAME
from bitbybit_assets.partitions import DAILY
from resources.lakehouse import Lakehouse
from tests.backfill.archive import DAYS, make_archive, pipeline_definitions, write_config, write_day

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BAD = DAYS[2]
VOLATILE = {"generated_at", "fetched_at", "elapsed_ms", "run_id", "called_at", "created_at", "latency_ms"}
TABLES = ("raw_feeds", "feed_entries", "filtered_articles", "scored_articles", "enhanced_articles", "newsletters")
KEYS = {"raw_feeds": ["partition_date", "feed_name"], "newsletters": ["partition_date"]}


def _table(lh: Lakehouse, name: str) -> pl.DataFrame:
    df = lh.read_days(name, DAYS[0], DAYS[-1])
    df = df.drop([c for c in df.columns if c in VOLATILE or c == "content"])
    return df.select(sorted(df.columns)).sort(KEYS.get(name, ["partition_date", "entry_key"]))


def _checks_run(instance: dg.DagsterInstance, run_ids: list[str]) -> set[str]:
    names = set()
    for run_id in run_ids:
        for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records:
            names.add(record.event_log_entry.dagster_event.event_specific_data.check_name)
    return names


def _materialised(instance: dg.DagsterInstance, run_ids: list[str]) -> set[tuple[str, str]]:
    out = set()
    for run_id in run_ids:
        for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
            mat = record.event_log_entry.asset_materialization
            out.add((mat.asset_key.to_user_string(), mat.partition))
    return out


STRETCHES: list[tuple[str, str, str]] = []  # (job, first day, last day) of each run of the stand-in below


@dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
def warehouse_stand_in(context) -> None:  # unannotated: Dagster cannot read a postponed annotation
    """Stands in for the warehouse stage (tests/backfill/test_backfill_warehouse.py runs the real one)."""
    days = context.partition_key_range
    STRETCHES.append((context.run.job_name, days.start, days.end))


def _with_warehouse_stage(defs: dg.Definitions) -> dg.Definitions:
    job = dg.define_asset_job(BACKFILL_WAREHOUSE_JOB_NAME, selection=[warehouse_stand_in], partitions_def=DAILY)
    return dg.Definitions.merge(defs, dg.Definitions(assets=[warehouse_stand_in], jobs=[job]))


def _stretches() -> list[tuple[str, str]]:
    return [(a, b) for job, a, b in STRETCHES if job == BACKFILL_WAREHOUSE_JOB_NAME]


@pytest.fixture
def archive_env(isolated_env, monkeypatch):
    archive = make_archive(isolated_env / "archive", broken=[BAD])
    feeds, production = write_config(isolated_env / "config")
    monkeypatch.setenv("BITBYBIT_FEED_ARCHIVE", str(archive))
    monkeypatch.setenv("BITBYBIT_FEEDS_FILE", str(feeds))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(production))
    return archive


def test_bad_day_fails_alone_equals_daily_runs_and_resume_completes_it(isolated_env, archive_env, monkeypatch):
    defs = _with_warehouse_stage(pipeline_definitions())
    STRETCHES.clear()
    lines: list[str] = []
    with dg.instance_for_test() as instance:
        result = run_backfill(DAYS[0], DAYS[-1], defs=defs, instance=instance, progress=lines.append)
        backfilled = Lakehouse(root=str(isolated_env / "lakehouse"))

        # day 3 failed with its reason; the four others are published
        assert [d.status for d in result.days] == ["published", "published", "failed", "published", "published"]
        bad = result.days[2]
        assert "scored_articles:min_picked_articles" in bad.reason and BAD.isoformat() in bad.reason
        good = [d for d in DAYS if d != BAD]
        assert backfilled.days_present("newsletters", DAYS[0], DAYS[-1]) == set(good)
        assert all(d.picks and d.picks >= 5 and d.newsletter for d in result.days if d.status == "published")
        out = isolated_env / "output" / "newsletter"
        assert sorted(p.stem for p in out.glob("*.html")) == [d.isoformat() for d in good]
        assert instance.get_materialized_partitions(dg.AssetKey("newsletters")) == {d.isoformat() for d in good}
        # a historical backfill never evaluates the newsletter freshness check (no late alert)
        assert "freshness_check" not in _checks_run(instance, result.run_ids)
        assert "min_picked_articles" in _checks_run(instance, result.run_ids)
        # the warehouse stage: one run per stretch of published days, around the failed one
        d = [x.isoformat() for x in DAYS]
        assert _stretches() == [(d[0], d[1]), (d[3], d[4])]
        # progress: one line per day and stage, with rows, seconds and an estimate of the time left
        day2 = [line for line in lines if line.startswith(DAYS[1].isoformat())]
        assert any("scored_articles" in line and "rows" in line and "ETA" in line for line in day2)
        assert any(line.startswith(BAD.isoformat()) and "FAILED" in line for line in lines)
        stage1 = instance.get_run_by_id(result.run_ids[0])
        assert stage1.tags["bitbybit/backfill_summary"] == "5 day(s): 4 published, 1 failed (2026-08-05)"

        # the same tables as five single-day runs of the daily job (day 3 failing there too)
        monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", str(isolated_env / "lakehouse_daily"))
        monkeypatch.setenv("BITBYBIT_OUTPUT_DIR", str(isolated_env / "output_daily"))
        with dg.instance_for_test() as daily_instance:
            daily = [run_single_day(d, defs=defs, instance=daily_instance).days[0] for d in DAYS]
        assert [d.status for d in daily] == ["published", "published", "failed", "published", "published"]
        assert "scored_articles:min_picked_articles" in daily[2].reason
        by_day = Lakehouse(root=str(isolated_env / "lakehouse_daily"))
        for name in TABLES:
            a, b = _table(backfilled, name), _table(by_day, name)
            assert a.height > 0, name
            assert a.equals(b), f"{name}: the backfill differs from day-by-day runs"
        for d in good:
            html = f"{d.isoformat()}.html"
            assert (out / html).read_text() == (isolated_env / "output_daily" / "newsletter" / html).read_text()

        # fix the cause (the day's feeds arrive whole) and resume: only day 3 runs
        monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", str(isolated_env / "lakehouse"))
        monkeypatch.setenv("BITBYBIT_OUTPUT_DIR", str(isolated_env / "output"))
        write_day(archive_env, BAD)
        resumed = run_backfill(DAYS[0], DAYS[-1], defs=defs, instance=instance, resume=True)
        assert resumed.success
        assert [d.status for d in resumed.days] == ["done before", "done before", "published", "done before",
                                                    "done before"]
        assert {part for _, part in _materialised(instance, resumed.run_ids)} == {BAD.isoformat()}
        assert _stretches()[-1] == (BAD.isoformat(), BAD.isoformat())
        assert backfilled.days_present("newsletters", DAYS[0], DAYS[-1]) == set(DAYS)
        assert (out / f"{BAD.isoformat()}.html").exists()
