"""Jobs over the asset graph.

Locally one job (``daily_pipeline``) runs everything. Production splits the day into three runs
so the GPU is paid for only while scoring: ``ingest`` (CPU) → ``scoring`` (GPU task) → ``publish``
(CPU). The scoring job's run tags are what the ECS run launcher reads to put that run on a GPU task.
"""

import json

import dagster as dg

from bitbybit_assets.deploy_config import deployment_settings
from bitbybit_assets.partitions import daily_partitions
from bitbybit_assets.settings import load_settings

DAILY_JOB_NAME = "daily_pipeline"
INGEST_JOB_NAME = "ingest"
SCORING_JOB_NAME = "scoring"
PUBLISH_JOB_NAME = "publish"
DELIVER_JOB_NAME = "deliver_newsletter"

INGEST_GROUPS = ("ingest",)
SCORING_GROUPS = ("curate",)
PUBLISH_GROUPS = ("editorial", "enhance", "publish", "warehouse", "analytics")  # editorial: the desk's actions
DELIVER_GROUPS = ("deliver",)
DELIVERY_STATISTICS = dg.AssetKey(["warehouse", "delivery_statistics"])  # the dbt model over the ledger


def gpu_run_tags() -> dict[str, str]:
    """Run tags for the GPU scoring run (dagster-aws EcsRunLauncher): one GPU on the container,
    more CPU/memory, and the GPU capacity provider (EC2 GPU instances; Fargate has no GPUs)."""
    deploy = deployment_settings(load_settings().deployment)  # the one place the GPU task is sized
    provider = deploy.gpu_capacity_provider
    task_definition = deploy.gpu_task_definition
    return {
        "bitbybit/compute": "gpu",
        "ecs/cpu": deploy.gpu_task_cpu,
        "ecs/memory": deploy.gpu_task_memory,
        "ecs/container_overrides": json.dumps({"resourceRequirements": [{"type": "GPU", "value": "1"}]}),
        "ecs/run_task_kwargs": json.dumps(
            {
                "taskDefinition": task_definition,  # the CUDA image
                "capacityProviderStrategy": [{"capacityProvider": provider, "weight": 1, "base": 0}],
            }
        ),
    }


def cpu_run_tags(concurrency: str) -> dict[str, str]:
    """CPU runs; ``bitbybit/concurrency`` is what the run coordinator's tag limits count."""
    return {"bitbybit/compute": "cpu", "bitbybit/concurrency": concurrency}


def _groups(groups: tuple[str, ...]) -> dg.AssetSelection:
    return dg.AssetSelection.groups(*groups)


def all_jobs() -> list:
    return [
        dg.define_asset_job(
            DAILY_JOB_NAME,
            # sending is its own job: it waits for an approval (or the send time in auto mode)
            selection=dg.AssetSelection.all() - _groups(DELIVER_GROUPS),
            partitions_def=daily_partitions,
            description="Fetch, filter, score, enhance, render and export one day (or a range in one run).",
        ),
        dg.define_asset_job(
            INGEST_JOB_NAME, selection=_groups(INGEST_GROUPS), partitions_def=daily_partitions,
            tags=cpu_run_tags("feed_fetch"), description="raw_feeds → filtered_articles (CPU task).",
        ),
        dg.define_asset_job(
            SCORING_JOB_NAME, selection=_groups(SCORING_GROUPS), partitions_def=daily_partitions,
            tags=gpu_run_tags(), description="Embeddings, ads, scores, clusters, selection (GPU task).",
        ),
        dg.define_asset_job(
            PUBLISH_JOB_NAME, selection=_groups(PUBLISH_GROUPS), partitions_def=daily_partitions,
            tags=cpu_run_tags("llm"), description="Enhancement, newsletter, warehouse and dbt (CPU task).",
        ),
        dg.define_asset_job(
            DELIVER_JOB_NAME,
            selection=_groups(DELIVER_GROUPS) | dg.AssetSelection.assets(DELIVERY_STATISTICS),
            partitions_def=daily_partitions,
            tags=cpu_run_tags("delivery"),
            description="Send the day's approved newsletter to every active subscriber, exactly once.",
        ),
    ]
