"""Sensors against real runs of a test instance: failure alerts reach each local receiver, run
tracking writes pipeline_runs rows (fake connection) and run metrics, cursors survive restarts,
feeds.yaml changes are reported once."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import polars as pl
import pytest

from bitbybit_assets import checks
from bitbybit_assets.partitions import DAILY, days_in_context
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.metrics import CloudWatchMetrics
from resources.notify import Notifier
from resources.postgres import PostgresResource
from resources.warehouse_db import Warehouse
from sensors.alerts import build_alert_sensor
from sensors.config_change import build_config_change_sensor
from sensors.run_tracking import build_run_tracking_sensors, is_check_only
from tests.ops.frames import D1, D2, enhanced_day, newsletter_day, scored_day
from tests.ops.receivers import smtp_server, sns_topic, webhook_server

DAY = D1.isoformat()


# ---------------------------------------------------------------- tiny pipeline


@dg.asset(name="filtered_articles", partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
def filtered(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return pl.concat([scored_day(d, picks=10, extra_unselected=30) for d in days_in_context(context)])


@dg.asset(name="enhanced_articles", partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(),
          deps=["filtered_articles"])
def enhanced(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return pl.concat([enhanced_day(d) for d in days_in_context(context)])


@dg.asset(name="newsletters", partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(),
          deps=["enhanced_articles"])
def letters(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return pl.concat([newsletter_day(d) for d in days_in_context(context)])


@dg.asset(name="newsletters", partitions_def=DAILY, deps=["enhanced_articles"])
def broken_letters(context: dg.AssetExecutionContext) -> pl.DataFrame:
    raise RuntimeError("template missing: kaboom")


NO_METRICS = CloudWatchMetrics()  # disabled: the run-tracking sensors publish nothing


def _resources(**extra) -> dict:
    lh = Lakehouse()
    return {"lakehouse": lh, "io_manager": DeltaIOManager(lakehouse=lh), "metrics": NO_METRICS, **extra}


def _run(assets, instance, job_name="daily_pipeline", checks_defs=(), **kwargs):
    job = dg.define_asset_job(job_name, partitions_def=DAILY)
    defs = dg.Definitions(assets=assets, asset_checks=list(checks_defs), jobs=[job], resources=_resources())
    return defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False, **kwargs)


def _failure_context(result, instance, notifier: Notifier | None = None):
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=result.dagster_run, resources={"notifier": notifier or Notifier()},
    ).for_run_failure()


# ---------------------------------------------------------------- failure alerts


@pytest.fixture
def failed_run(isolated_env):
    with dg.instance_for_test() as instance:
        result = _run([filtered, enhanced, broken_letters], instance, partition_key=DAY)
        assert not result.success
        yield result, instance


def _assert_alert(subject: str, body: str, run_id: str):
    assert subject.endswith(f"run failed: daily_pipeline {DAY}")
    assert f"Run id: {run_id}" in body and f"Partition: {DAY}" in body
    assert "newsletters:" in body and "template missing: kaboom" in body


def test_failure_alert_via_webhook(failed_run, monkeypatch):
    result, instance = failed_run
    with webhook_server() as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        build_alert_sensor()(_failure_context(result, instance, Notifier(channel="webhook")))
    (payload,) = hook.received
    subject, body = payload["text"].split("\n", 1)
    _assert_alert(subject.strip("*"), body, result.run_id)


def test_failure_alert_via_smtp(failed_run, monkeypatch):
    result, instance = failed_run
    with smtp_server() as box:
        for k, v in {"HOST": box.host, "PORT": str(box.port), "FROM": "bitbybit@example.org",
                     "TO": "ops@example.org", "STARTTLS": "false"}.items():
            monkeypatch.setenv(f"BITBYBIT_ALERT_SMTP_{k}", v)
        build_alert_sensor()(_failure_context(result, instance, Notifier(channel="smtp")))
    (msg,) = box.messages
    _assert_alert(msg["Subject"], msg.get_content(), result.run_id)


def test_failure_alert_via_sns(failed_run, monkeypatch):
    result, instance = failed_run
    with sns_topic(monkeypatch) as topic:
        monkeypatch.setenv("BITBYBIT_ALERT_SNS_TOPIC_ARN", topic.topic_arn)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", topic.endpoint)
        build_alert_sensor()(_failure_context(result, instance, Notifier(channel="sns")))
        (note,) = topic.messages()
    _assert_alert(note["Subject"], note["Message"], result.run_id)


def test_failure_alert_names_the_failed_blocking_check(isolated_env, monkeypatch):
    plans = [p for p in checks.planned_checks() if p.asset == "enhanced_articles" and p.name == "summaries_valid"]

    @dg.asset(name="enhanced_articles", partitions_def=DAILY, deps=["filtered_articles"])
    def long_summaries(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return enhanced_day(D1).with_columns(pl.lit("word " * 80).alias("summary"))

    with dg.instance_for_test() as instance:
        result = _run([filtered, long_summaries, letters], instance, checks_defs=[checks.build_check(plans[0])],
                      partition_key=DAY)
        assert not result.success
        assert "newsletters" not in {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
        with webhook_server() as hook:
            monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
            build_alert_sensor()(_failure_context(result, instance, Notifier(channel="webhook")))
    text = hook.received[0]["text"]
    assert "enhanced_articles:summaries_valid (ERROR): FAILED: 2026-08-05: 10 over 60 words" in text


# ---------------------------------------------------------------- run tracking

WRITTEN: list[tuple[str, Any]] = []


class FakeWarehouse(Warehouse):
    """Records every statement (looks like PostgreSQL to the warehouse code)."""

    dialect = "postgres"

    def __init__(self) -> None:
        super().__init__(raw=None)

    def _exec(self, sql, params):
        WRITTEN.append((sql, params))

        class _Cursor:
            description = ()

            def fetchall(self):
                return []

        return _Cursor()


class FakePostgres(PostgresResource):
    dsn: str | None = "postgresql://fake@127.0.0.1/none"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        yield FakeWarehouse()


def _inserted_run() -> dict[str, Any]:
    (sql, params), = [(s, p) for s, p in WRITTEN if s.startswith("INSERT INTO pipeline_runs")]
    cols = sql[sql.index("(") + 1: sql.index(")")].split(", ")
    return dict(zip(cols, params, strict=False))


def _tracking_sensor(status: str) -> dg.SensorDefinition:
    return {s.name: s for s in build_run_tracking_sensors()}[f"pipeline_runs_{status}"]


def _status_context(result, instance, event, resources):
    return dg.build_run_status_sensor_context(
        sensor_name="pipeline_runs", dagster_event=event, dagster_instance=instance,
        dagster_run=result.dagster_run, resources=resources,
    )


def test_successful_run_is_recorded_with_counts_and_metrics(isolated_env):
    WRITTEN.clear()
    with dg.instance_for_test() as instance:
        result = _run([filtered, enhanced, letters], instance, partition_key=DAY)
        assert result.success
        ctx = _status_context(result, instance, result.get_run_success_event(),
                              {"postgres": FakePostgres(), "lakehouse": Lakehouse(), "metrics": NO_METRICS})
        out = _tracking_sensor("success")(ctx)
    row = _inserted_run()
    assert row["dagster_run_id"] == result.run_id and row["status"] == "completed"
    assert row["job_name"] == "daily_pipeline" and row["partition_key"] == DAY
    assert row["total_articles_input"] == 40 and row["articles_output"] == 10
    assert row["s3_output_path"] == Lakehouse().root_uri()
    assert row["partition_start"] == D1 and row["partition_end"] == D1
    assert row["processing_time_seconds"] >= 0 and row["completed_at"] >= row["started_at"]
    assert "error_message" not in row
    (obs,) = out.asset_events
    assert obs.asset_key == dg.AssetKey("newsletters") and obs.partition == DAY
    meta = {k: v.value for k, v in obs.metadata.items()}
    assert meta["articles_input"] == 40 and meta["articles_output"] == 10
    assert meta["article_success_rate"] == 0.25 and meta["llm_cost_usd"] == pytest.approx(0.0123)
    assert meta["pipeline_execution_seconds"] >= 0


def test_range_run_metrics_per_day(isolated_env):
    WRITTEN.clear()
    tags = {"dagster/asset_partition_range_start": DAY, "dagster/asset_partition_range_end": D2.isoformat()}
    with dg.instance_for_test() as instance:
        result = _run([filtered, enhanced, letters], instance, tags=tags)
        assert result.success
        out = _tracking_sensor("success")(_status_context(result, instance, result.get_run_success_event(),
                                                          {"postgres": FakePostgres(), "lakehouse": Lakehouse(), "metrics": NO_METRICS}))
    row = _inserted_run()
    assert row["partition_start"] == D1 and row["partition_end"] == D2 and "partition_key" not in row
    assert row["total_articles_input"] == 80 and row["articles_output"] == 20
    assert sorted(o.partition for o in out.asset_events) == [DAY, D2.isoformat()]


def test_failed_run_is_recorded_with_its_error(failed_run):
    WRITTEN.clear()
    result, instance = failed_run
    out = _tracking_sensor("failure")(_status_context(result, instance, result.get_run_failure_event(),
                                                      {"postgres": FakePostgres(), "lakehouse": Lakehouse(), "metrics": NO_METRICS}))
    assert out is None  # no metrics for a failed run
    row = _inserted_run()
    assert row["status"] == "failed" and row["total_articles_input"] == 40 and "articles_output" in row
    assert "newsletters: " in row["error_message"] and "template missing: kaboom" in row["error_message"]


def test_no_dsn_skips_the_row(failed_run, monkeypatch):
    WRITTEN.clear()
    monkeypatch.delenv("BITBYBIT_POSTGRES_DSN", raising=False)
    monkeypatch.delenv("POSTGRES_HOST", raising=False)
    result, instance = failed_run
    ctx = _status_context(result, instance, result.get_run_failure_event(),
                          {"postgres": PostgresResource(), "lakehouse": Lakehouse(), "metrics": NO_METRICS})
    _tracking_sensor("failure")(ctx)
    assert WRITTEN == []


def test_check_only_runs_are_not_tracked():
    check = dg.AssetCheckKey(dg.AssetKey("newsletters"), "freshness_check")
    assert is_check_only(dg.DagsterRun(job_name="__ASSET_JOB", run_id="r", asset_selection=frozenset(),
                                       asset_check_selection=frozenset({check})))
    assert not is_check_only(dg.DagsterRun(job_name="daily_pipeline", run_id="r"))
    assert not is_check_only(dg.DagsterRun(job_name="__ASSET_JOB", run_id="r",
                                           asset_selection=frozenset({dg.AssetKey("raw_feeds")}),
                                           asset_check_selection=frozenset({check})))


def test_run_tracking_cursor_survives_a_restart(isolated_env):
    """The real tick machinery: each run is recorded once, whichever evaluation sees it."""
    WRITTEN.clear()
    sensor = _tracking_sensor("success")
    defs = dg.Definitions(assets=[filtered, enhanced, letters], sensors=[sensor],
                          jobs=[dg.define_asset_job("daily_pipeline", partitions_def=DAILY)],
                          resources=_resources(postgres=FakePostgres()))
    repo = defs.get_repository_def()

    def tick(instance, cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repo,
                                     resources=_resources(postgres=FakePostgres())) as ctx:
            return sensor.evaluate_tick(ctx).cursor

    with dg.instance_for_test() as instance:
        cursor = tick(instance, None)  # first evaluation: starts from now
        job = defs.resolve_job_def("daily_pipeline")
        first = job.execute_in_process(instance=instance, partition_key=DAY)
        cursor = tick(instance, cursor)  # a fresh context (a restart) with only the stored cursor
        assert [p[1] for s, p in WRITTEN if s.startswith("INSERT INTO pipeline_runs")] == [first.run_id]
        cursor = tick(instance, cursor)
        second = job.execute_in_process(instance=instance, partition_key=D2.isoformat())
        tick(instance, cursor)
    assert [p[1] for s, p in WRITTEN if s.startswith("INSERT INTO pipeline_runs")] == [first.run_id, second.run_id]


# ---------------------------------------------------------------- feeds.yaml changes


FEEDS = """feeds:
  - {name: alpha, url: "https://alpha.example/rss"}
  - {name: beta, url: "https://beta.example/rss", enabled: false}
"""


@pytest.fixture
def feeds_file(tmp_path, monkeypatch):
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS)
    archive = tmp_path / "archive"
    for day in ("2026-08-01", "2026-08-02"):
        (archive / day).mkdir(parents=True)
        (archive / day / "gamma.xml").write_text("<rss/>")
    monkeypatch.setenv("BITBYBIT_FEEDS_FILE", str(path))
    monkeypatch.setenv("BITBYBIT_FEED_ARCHIVE", str(archive))
    return path


@dg.asset(name="raw_feeds", partitions_def=DAILY)
def raw_stub() -> None:
    return None


def _evaluate(sensor, cursor):
    """One evaluation with a brand-new context: only the cursor carries over (as after a restart)."""
    repo = dg.Definitions(assets=[raw_stub], sensors=[sensor]).get_repository_def()
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repo) as ctx,
    ):
        return sensor.evaluate_tick(ctx)


def test_config_change_sensor_reports_each_change_once(feeds_file):
    sensor = build_config_change_sensor()
    first = _evaluate(sensor, None)
    assert "baseline recorded: 2 feeds" in first.skip_message and first.cursor
    assert _evaluate(sensor, first.cursor).skip_message == "feeds.yaml unchanged"

    feeds_file.write_text(FEEDS.replace("enabled: false", "enabled: true")
                          + '  - {name: gamma, url: "https://gamma.example/feed"}\n')
    changed = _evaluate(sensor, first.cursor)
    (obs,) = changed.asset_events
    meta = {k: v.value for k, v in obs.metadata.items()}
    assert obs.asset_key == dg.AssetKey("raw_feeds")
    assert meta["added"] == "gamma" and meta["enabled"] == "beta" and meta["removed"] == ""
    assert meta["archive_days_for_new_feeds"]["gamma"] == {"days": 2, "first": "2026-08-01", "last": "2026-08-02"}
    assert changed.run_requests == []  # default: observe only
    assert json.loads(changed.cursor)["feeds"]["gamma"]["url"] == "https://gamma.example/feed"

    again = _evaluate(sensor, changed.cursor)  # restarted with the stored cursor: nothing new
    assert again.skip_message == "feeds.yaml unchanged" and not again.asset_events

    feeds_file.write_text(FEEDS.replace("beta.example", "beta.example.org"))
    edited = _evaluate(sensor, again.cursor)
    meta = {k: v.value for k, v in edited.asset_events[0].metadata.items()}
    assert meta["removed"] == "gamma" and meta["disabled"] == "beta" and meta["edited"] == "beta"


def test_config_change_can_request_raw_feeds_for_the_latest_day(feeds_file, tmp_path, monkeypatch):
    cfg = tmp_path / "production.yaml"
    cfg.write_text("operations:\n  config_change:\n    on_new_feed: request_raw_feeds\n")
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(cfg))
    sensor = build_config_change_sensor()
    base = _evaluate(sensor, None)
    feeds_file.write_text(FEEDS + '  - {name: gamma, url: "https://gamma.example/feed"}\n')
    result = _evaluate(sensor, base.cursor)
    (request,) = result.run_requests
    assert request.asset_selection == [dg.AssetKey("raw_feeds")]
    assert request.partition_key == DAILY.get_last_partition_key()
    assert request.tags["bitbybit/trigger"] == "feeds_config_change" and request.tags["bitbybit/new_feeds"] == "gamma"
    # disabling a feed launches nothing
    feeds_file.write_text(FEEDS.replace("name: alpha, url", "name: alpha, enabled: false, url"))
    assert _evaluate(sensor, result.cursor).run_requests == []


def test_broken_feeds_file_fails_the_tick_and_keeps_the_cursor(feeds_file):
    sensor = build_config_change_sensor()
    base = _evaluate(sensor, None)
    feeds_file.write_text("feeds:\n  - {name: 'bad name', url: 'ftp://x'}\n")
    with pytest.raises(Exception, match="bad name"):
        _evaluate(sensor, base.cursor)
    feeds_file.write_text(FEEDS + '  - {name: gamma, url: "https://gamma.example/feed"}\n')
    fixed = _evaluate(sensor, base.cursor)
    assert {k: v.value for k, v in fixed.asset_events[0].metadata.items()}["added"] == "gamma"
