"""The CloudWatch metrics of one finished run (pure functions over :class:`~sensors.run_info.RunSummary`).

What the run-tracking sensor publishes through :class:`resources.metrics.CloudWatchMetrics` after every
tracked run, the names the dashboard (``infra/stack_monitoring.py``) plots:

* ``RunSeconds`` (dimension ``Job``): the run's wall time;
* ``ComputeCostUsd``: that time at the ``cost:`` price of what it ran on (CPU or GPU);
* ``GpuHours``: the wall time of a GPU run, in hours;
* ``Articles`` (dimension ``Stage``): rows each pipeline stage wrote in the run;
* ``LlmCostUsd``: the LLM spend of the run (ledger totals of the stages that call the model);
* ``EmailsSent``: recipients the delivery run sent to.

The same compute rule and prices make the ``cost_per_newsletter`` dbt model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bitbybit_base.settings import CostSettings
from resources.metrics import MetricDatum

if TYPE_CHECKING:
    from sensors.run_info import RunSummary

STAGES = ("feed_entries", "filtered_articles", "scored_articles", "enhanced_articles")
LLM_ASSETS = ("enhanced_articles", "newsletters")  # the stages that call the model (metadata llm_cost_usd)
DELIVERY_ASSET = "newsletter_deliveries"
# every metric name published here (the dashboard test checks its widgets against these)
METRIC_NAMES = ("RunSeconds", "ComputeCostUsd", "GpuHours", "Articles", "LlmCostUsd", "EmailsSent")


def compute_kind(compute_tag: str | None, job_name: str | None, gpu_jobs: Sequence[str]) -> str:
    """``gpu`` or ``cpu``: the run's ``bitbybit/compute`` tag, else ``gpu`` for the jobs of ``gpu_jobs``
    (``cost.gpu_jobs``). The ``cost_per_newsletter`` model applies the same rule to ``pipeline_runs``."""
    tag = (compute_tag or "").strip().lower()
    if tag in ("cpu", "gpu"):
        return tag
    return "gpu" if job_name in gpu_jobs else "cpu"


def compute_cost_usd(seconds: float, kind: str, cost: CostSettings) -> float:
    """``seconds`` of a ``kind`` run at the configured hourly price."""
    per_hour = cost.gpu_usd_per_hour if kind == "gpu" else cost.cpu_usd_per_hour
    return seconds / 3600.0 * per_hour


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def run_metric_data(summary: RunSummary, cost: CostSettings, now: datetime | None = None) -> list[MetricDatum]:
    """The metrics of a finished run (any status: a failed run cost its time too), stamped with its
    end time."""
    at = summary.completed_at or now or datetime.now(UTC)
    out: list[MetricDatum] = []
    seconds = summary.seconds
    if seconds is not None:
        kind = compute_kind(summary.compute, summary.job_name, cost.gpu_jobs)
        out.append(MetricDatum("RunSeconds", round(seconds, 3), "Seconds", {"Job": summary.job_name}, at))
        out.append(MetricDatum("ComputeCostUsd", round(compute_cost_usd(seconds, kind, cost), 6), timestamp=at))
        if kind == "gpu":
            out.append(MetricDatum("GpuHours", round(seconds / 3600.0, 6), timestamp=at))
    for stage in STAGES:
        rows = summary.row_count(stage)
        if rows is not None:
            out.append(MetricDatum("Articles", float(rows), "Count", {"Stage": stage}, at))
    llm = [_number((summary.materializations.get(a) or {}).get("metadata", {}).get("llm_cost_usd")) for a in LLM_ASSETS]
    if any(v is not None for v in llm):
        out.append(MetricDatum("LlmCostUsd", round(sum(v for v in llm if v is not None), 6), timestamp=at))
    sent = _number((summary.materializations.get(DELIVERY_ASSET) or {}).get("metadata", {}).get("sent"))
    if sent is not None:
        out.append(MetricDatum("EmailsSent", sent, "Count", timestamp=at))
    return out
