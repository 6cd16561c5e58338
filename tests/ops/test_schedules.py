"""The daily schedule asks for the previous day; in prod the chaining sensors launch scoring and
publish for the partition (or range) of the run that succeeded."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from bitbybit_assets.definitions import build_resources
from bitbybit_assets.ingest import assets as ingest_assets
from bitbybit_assets.jobs import all_jobs
from bitbybit_assets.partitions import DAILY
from bitbybit_assets.schedules import build_schedules, daily_schedule, previous_day_partition
from bitbybit_assets.wiring import operations_definitions
from sensors.chain import chain_sensors, follow_up_request


def _jobs_by_name():
    return {j.name: j for j in all_jobs()}


def _evaluate(schedule: dg.ScheduleDefinition, when: datetime):
    """Evaluate one tick inside Definitions holding the real jobs (partition resolved like the daemon)."""
    defs = dg.Definitions(assets=dg.load_assets_from_modules([ingest_assets]), schedules=[schedule],
                          resources=build_resources("local"))
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                  repository_def=defs.get_repository_def()) as ctx,
    ):
        data = schedule.evaluate_tick(ctx)
    return list(data.run_requests or []), data.skip_message


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 8, 5, 6, 30, tzinfo=UTC), "2026-08-04"),
        (datetime(2026, 8, 1, 0, 0, tzinfo=UTC), "2026-07-31"),  # month boundary
        (datetime(2026, 8, 5, 6, 30, tzinfo=ZoneInfo("America/Los_Angeles")), "2026-08-04"),  # 13:30 UTC
        (datetime(2026, 8, 5, 6, 30, tzinfo=ZoneInfo("Asia/Tokyo")), "2026-08-03"),  # 21:30 UTC on Aug 4
    ],
)
def test_previous_day_is_the_last_complete_utc_day(when, expected):
    assert previous_day_partition(when) == expected


def test_schedule_requests_previous_day_for_the_local_job():
    (schedule,) = build_schedules("local", all_jobs(), dg.DefaultScheduleStatus.STOPPED)
    assert schedule.job_name == "daily_pipeline"
    assert schedule.cron_schedule == "30 6 * * *" and schedule.execution_timezone == "UTC"
    (request,), _ = _evaluate(schedule, datetime(2026, 8, 5, 6, 30, tzinfo=UTC))
    assert request.partition_key == "2026-08-04"
    assert request.run_key == "daily_pipeline:2026-08-04"
    assert request.tags["dagster/partition"] == "2026-08-04" and request.tags["bitbybit/trigger"] == "schedule"
    assert "2026-08-04" in DAILY.get_partition_keys()


def test_prod_schedules_the_ingest_job():
    (schedule,) = build_schedules("prod", all_jobs(), dg.DefaultScheduleStatus.RUNNING)
    assert schedule.job_name == "ingest" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    (request,), _ = _evaluate(schedule, datetime(2026, 8, 10, 6, 30, tzinfo=UTC))
    assert request.partition_key == "2026-08-09"


def test_schedule_skips_days_before_the_start_date():
    schedule = daily_schedule(_jobs_by_name()["daily_pipeline"])
    requests, skip = _evaluate(schedule, datetime(2026, 7, 18, 6, 30, tzinfo=UTC))
    assert requests == [] and "before pipeline.start_date" in skip


def test_schedule_follows_config(tmp_path, monkeypatch):
    cfg = tmp_path / "production.yaml"
    cfg.write_text("pipeline:\n  schedule_cron: '0 7 * * *'\n  schedule_timezone: Europe/Berlin\n")
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(cfg))
    schedule = daily_schedule(_jobs_by_name()["daily_pipeline"])
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 7 * * *", "Europe/Berlin")
    # 07:00 Berlin = 05:00 UTC: the previous UTC day is complete
    (request,), _ = _evaluate(schedule, datetime(2026, 8, 5, 7, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    assert request.partition_key == "2026-08-04"


def test_ops_definitions_bind_to_the_given_jobs():
    jobs = all_jobs()
    local = operations_definitions("local", jobs=jobs)
    prod = operations_definitions("prod", jobs=jobs)
    assert local["jobs"] == jobs and [s.job_name for s in local["schedules"]] == ["daily_pipeline"]
    assert [s.job_name for s in prod["schedules"]] == ["ingest"]
    names = {s.name for s in prod["sensors"]}
    assert {"scoring_after_ingest", "publish_after_scoring"} <= names
    assert not {"scoring_after_ingest", "publish_after_scoring"} & {s.name for s in local["sensors"]}
    assert {"run_failure_alert", "pipeline_runs_success", "pipeline_runs_failure", "pipeline_runs_canceled",
            "feeds_config_change", "newsletter_freshness"} <= names
    assert set(local["resources"]) == {"metrics", "notifier", "postgres"}


# ---------------------------------------------------------------- production chaining


@dg.asset(partitions_def=DAILY)
def marker() -> None:
    return None


def _succeeded_run(instance, **kwargs):
    job = dg.define_asset_job("ingest", selection=[marker], partitions_def=DAILY)
    defs = dg.Definitions(assets=[marker], jobs=[job])
    result = defs.resolve_job_def("ingest").execute_in_process(instance=instance, **kwargs)
    return result.dagster_run, result.get_run_success_event()


def test_scoring_follows_a_successful_ingest_run_for_the_same_day():
    sensors = {s.name: s for s in chain_sensors(all_jobs(), dg.DefaultSensorStatus.RUNNING)}
    sensor = sensors["scoring_after_ingest"]
    assert sensor.job_name == "scoring"
    with dg.instance_for_test() as instance:
        run, event = _succeeded_run(instance, partition_key="2026-08-04")
        ctx = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run
        )
        request = sensor(ctx)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2026-08-04"
    assert request.run_key == run.run_id and request.tags["bitbybit/parent_run_id"] == run.run_id


def test_a_range_run_chains_the_same_range():
    with dg.instance_for_test() as instance:
        run, _ = _succeeded_run(instance, tags={"dagster/asset_partition_range_start": "2026-08-01",
                                             "dagster/asset_partition_range_end": "2026-08-05"})
        request = follow_up_request(run, "scoring")
    assert request.partition_key is None
    assert request.partition_key_range == dg.PartitionKeyRange("2026-08-01", "2026-08-05")


def test_unpartitioned_run_is_not_chained():
    run = dg.DagsterRun(job_name="ingest", run_id="r1", tags={})
    assert isinstance(follow_up_request(run, "scoring"), dg.SkipReason)
