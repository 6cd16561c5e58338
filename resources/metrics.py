"""CloudWatch custom metrics (``cloudwatch:PutMetricData``): the run metrics the dashboard plots.

One resource, :class:`CloudWatchMetrics`, built from ``operations.metrics`` (:meth:`from_settings`):
on in production (``BITBYBIT_ENV=prod``) unless ``cloudwatch: false``, a no-op locally unless
``cloudwatch: true``. Region from ``AWS_REGION``/``AWS_DEFAULT_REGION`` (set in ECS tasks);
``AWS_ENDPOINT_URL_CLOUDWATCH`` for a non-AWS endpoint (the global ``AWS_ENDPOINT_URL``, which may
point at S3-compatible storage, is ignored). Data older than CloudWatch accepts (two weeks) is
dropped with a log line rather than failing the whole call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from bitbybit_base.settings import MetricsSettings

log = logging.getLogger(__name__)

MAX_PER_CALL = 500  # PutMetricData takes up to 1000 data (1 MB) per request
MAX_AGE = timedelta(days=14)  # CloudWatch refuses older timestamps


@dataclass(frozen=True)
class MetricDatum:
    """One value of one metric (``sensors.run_metrics`` builds them)."""

    name: str
    value: float
    unit: str = "None"  # a CloudWatch StandardUnit: Seconds, Count, None
    dimensions: dict[str, str] = field(default_factory=dict)
    timestamp: datetime | None = None


class MetricsError(RuntimeError):
    """CloudWatch refused the data (permissions, bad input, throttling after retries)."""


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


class CloudWatchMetrics(dg.ConfigurableResource):
    """Publishes :class:`MetricDatum` lists to one CloudWatch namespace."""

    enabled: bool = Field(default=False, description="False: publish() does nothing (local runs).")
    namespace: str = Field(default="bitbybit", description="CloudWatch namespace (the dashboard's).")
    region: str | None = Field(default=None, description="Default: AWS_REGION / AWS_DEFAULT_REGION.")
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, cfg: MetricsSettings, environment: str) -> CloudWatchMetrics:
        """``operations.metrics`` for deployment ``environment`` (``cloudwatch: null`` = on in prod)."""
        enabled = cfg.cloudwatch if cfg.cloudwatch is not None else environment == "prod"
        return cls(enabled=enabled, namespace=cfg.namespace)

    def _client(self):
        import boto3
        from botocore.config import Config

        endpoint = _env("AWS_ENDPOINT_URL_CLOUDWATCH")
        return boto3.session.Session().client(
            "cloudwatch",
            region_name=self.region or _env("AWS_REGION") or _env("AWS_DEFAULT_REGION"),
            endpoint_url=endpoint,
            config=Config(connect_timeout=self.timeout_seconds, read_timeout=self.timeout_seconds,
                          retries={"max_attempts": 3, "mode": "standard"},
                          ignore_configured_endpoint_urls=endpoint is None),
        )

    def publish(self, data: Sequence[MetricDatum], now: datetime | None = None) -> int:
        """Put ``data`` (in calls of :data:`MAX_PER_CALL`); returns how many were sent (0 when
        disabled). Raises :class:`MetricsError` when CloudWatch refuses them."""
        if not self.enabled or not data:
            return 0
        from botocore.exceptions import BotoCoreError, ClientError

        now = now or datetime.now(UTC)
        fresh = [d for d in data if d.timestamp is None or now - d.timestamp <= MAX_AGE]
        if len(fresh) < len(data):
            log.warning("dropped %d metric data older than %s (CloudWatch refuses them)",
                        len(data) - len(fresh), MAX_AGE)
        client = self._client()
        for i in range(0, len(fresh), MAX_PER_CALL):
            chunk = [_as_api(d, now) for d in fresh[i : i + MAX_PER_CALL]]
            try:
                client.put_metric_data(Namespace=self.namespace, MetricData=chunk)
            except (ClientError, BotoCoreError) as exc:
                raise MetricsError(f"PutMetricData to {self.namespace} failed: {exc}") from exc
        return len(fresh)


def _as_api(d: MetricDatum, now: datetime) -> dict:
    item: dict = {"MetricName": d.name, "Value": float(d.value), "Unit": d.unit,
                  "Timestamp": d.timestamp or now}
    if d.dimensions:
        item["Dimensions"] = [{"Name": k, "Value": str(v)} for k, v in sorted(d.dimensions.items())]
    return item
