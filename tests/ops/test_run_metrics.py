"""CloudWatch run metrics: what a finished run publishes (pure), the resource against moto's
CloudWatch (on, off, stale data), and the run-tracking sensor publishing a real run's metrics."""

from datetime import UTC, datetime, timedelta

import boto3
import dagster as dg
import pytest
from moto import mock_aws

from bitbybit_base.settings import CostSettings, MetricsSettings
from resources.lakehouse import Lakehouse
from resources.metrics import CloudWatchMetrics, MetricDatum
from sensors.run_info import RunSummary
from sensors.run_metrics import METRIC_NAMES, compute_cost_usd, compute_kind, run_metric_data
from tests.ops.test_sensors import (
    DAY,
    FakePostgres,
    _run,
    _status_context,
    _tracking_sensor,
    enhanced,
    filtered,
    letters,
)

REGION = "us-east-1"
T0 = datetime(2026, 8, 3, 6, 0, tzinfo=UTC)
COST = CostSettings(cpu_usd_per_hour=0.06, gpu_usd_per_hour=0.6, gpu_jobs=["scoring"])


def _summary(job: str, seconds: float, compute: str | None = None, **materializations) -> RunSummary:
    return RunSummary(run_id="r1", job_name=job, status="SUCCESS", started_at=T0,
                      completed_at=T0 + timedelta(seconds=seconds), compute=compute,
                      materializations=materializations)


def _by_name(data: list[MetricDatum]) -> dict[tuple, float]:
    return {(d.name, *sorted(d.dimensions.values())): d.value for d in data}


def test_compute_kind_tag_then_job_name():
    assert compute_kind("gpu", "publish", ["scoring"]) == "gpu"
    assert compute_kind("CPU", "scoring", ["scoring"]) == "cpu"  # the tag wins
    assert compute_kind(None, "scoring", ["scoring"]) == "gpu"
    assert compute_kind("", "ingest", ["scoring"]) == "cpu"
    assert compute_cost_usd(1800, "gpu", COST) == pytest.approx(0.3)


def test_gpu_run_metrics():
    data = run_metric_data(_summary("scoring", 1800, scored_articles={"row_count": 250, "metadata": {}}), COST)
    assert _by_name(data) == {
        ("RunSeconds", "scoring"): 1800.0,
        ("ComputeCostUsd",): pytest.approx(0.3),
        ("GpuHours",): 0.5,
        ("Articles", "scored_articles"): 250.0,
    }
    assert {d.timestamp for d in data} == {T0 + timedelta(seconds=1800)}
    assert {d.name for d in data} <= set(METRIC_NAMES)


def test_publish_run_metrics_add_the_llm_spend_of_both_stages():
    data = run_metric_data(_summary(
        "publish", 120, "cpu",
        enhanced_articles={"row_count": 20, "metadata": {"llm_cost_usd": 0.012}},
        newsletters={"row_count": 1, "metadata": {"llm_cost_usd": 0.003}},
    ), COST)
    got = _by_name(data)
    assert got[("LlmCostUsd",)] == pytest.approx(0.015)
    assert got[("ComputeCostUsd",)] == pytest.approx(120 / 3600 * 0.06)
    assert ("GpuHours",) not in got and got[("Articles", "enhanced_articles")] == 20


def test_delivery_run_counts_emails():
    data = run_metric_data(_summary("deliver_newsletter", 30, newsletter_deliveries={"metadata": {"sent": 42}}), COST)
    assert _by_name(data)[("EmailsSent",)] == 42


def test_from_settings_is_on_in_prod_only_unless_forced():
    assert CloudWatchMetrics.from_settings(MetricsSettings(), "prod").enabled
    assert not CloudWatchMetrics.from_settings(MetricsSettings(), "local").enabled
    assert CloudWatchMetrics.from_settings(MetricsSettings(cloudwatch=True), "local").enabled
    assert not CloudWatchMetrics.from_settings(MetricsSettings(cloudwatch=False), "prod").enabled


@pytest.fixture
def cloudwatch(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDWATCH", raising=False)
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def _sum(client, name: str, dims: list[dict] | None = None, namespace: str = "bitbybit") -> float:
    now = datetime.now(UTC)
    stats = client.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims or [],
                                         StartTime=now - timedelta(days=1), EndTime=now + timedelta(hours=1),
                                         Period=86400, Statistics=["Sum"])
    return sum(p["Sum"] for p in stats["Datapoints"])


def test_resource_puts_the_data(cloudwatch):
    now = datetime.now(UTC)
    data = [MetricDatum("RunSeconds", 90.0, "Seconds", {"Job": "ingest"}, now),
            MetricDatum("LlmCostUsd", 0.25, timestamp=now)]
    assert CloudWatchMetrics(enabled=True).publish(data) == 2
    assert _sum(cloudwatch, "RunSeconds", [{"Name": "Job", "Value": "ingest"}]) == 90
    assert _sum(cloudwatch, "LlmCostUsd") == pytest.approx(0.25)


def test_disabled_resource_sends_nothing(cloudwatch):
    assert CloudWatchMetrics(enabled=False).publish([MetricDatum("LlmCostUsd", 1.0)]) == 0
    assert cloudwatch.list_metrics(Namespace="bitbybit")["Metrics"] == []


def test_data_older_than_two_weeks_is_dropped(cloudwatch):
    now = datetime.now(UTC)
    old = MetricDatum("EmailsSent", 5.0, "Count", timestamp=now - timedelta(days=15))
    new = MetricDatum("EmailsSent", 3.0, "Count", timestamp=now)
    assert CloudWatchMetrics(enabled=True).publish([old, new], now=now) == 1
    assert _sum(cloudwatch, "EmailsSent") == 3


def test_tracking_sensor_publishes_a_real_runs_metrics(isolated_env, cloudwatch):
    with dg.instance_for_test() as instance:
        result = _run([filtered, enhanced, letters], instance, partition_key=DAY)
        assert result.success
        ctx = _status_context(result, instance, result.get_run_success_event(),
                              {"postgres": FakePostgres(), "lakehouse": Lakehouse(),
                               "metrics": CloudWatchMetrics(enabled=True)})
        _tracking_sensor("success")(ctx)
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="bitbybit")["Metrics"]}
    assert {"RunSeconds", "ComputeCostUsd", "Articles"} <= names
    assert _sum(cloudwatch, "Articles", [{"Name": "Stage", "Value": "filtered_articles"}]) == 40
    assert _sum(cloudwatch, "Articles", [{"Name": "Stage", "Value": "enhanced_articles"}]) == 10
