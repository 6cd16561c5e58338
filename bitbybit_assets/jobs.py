"""Jobs over the asset graph.

Locally one job (``daily_pipeline``) runs everything. Production splits the day into three runs
so the GPU is paid for only while scoring: ``ingest`` (CPU) → ``scoring`` (GPU task) → ``publish``
(CPU). The scoring job's run tags are what the ECS run launcher reads to put that run on a GPU task.
"""

import json
from typing import Any

import dagster as dg

from bitbybit_assets.partitions import DAILY
from bitbybit_base.settings import DeploymentSettings, gpu_runner, runtime_settings
from resources.batch import RUNNER_TAG

DAILY_JOB_NAME = "daily_pipeline"
INGEST_JOB_NAME = "ingest"
SCORING_JOB_NAME = "scoring"
PUBLISH_JOB_NAME = "publish"
DELIVER_JOB_NAME = "deliver_newsletter"
# The dbt tests (asset checks of the dbt models) test whole warehouse tables, not one day: the local
# jobs that build the models (daily_pipeline, backfill_warehouse) leave them to this job, run once after each
# daily_pipeline run (sensor warehouse_tests_after_daily_pipeline) and once at the end of a backfill;
# production's publish job keeps them in each day's run.
WAREHOUSE_TESTS_JOB_NAME = "warehouse_tests"
DBT_UNIQUE_ID = "dagster_dbt/unique_id"  # check-spec metadata dagster-dbt puts on each dbt test

INGEST_GROUPS = ("ingest",)
SCORING_GROUPS = ("curate",)
PUBLISH_DAY_GROUPS = ("editorial", "enhance", "publish")  # editorial: the desk's actions
WAREHOUSE_GROUPS = ("warehouse", "analytics")
PUBLISH_GROUPS = PUBLISH_DAY_GROUPS + WAREHOUSE_GROUPS
DELIVER_GROUPS = ("deliver",)
DELIVERY_STATISTICS = dg.AssetKey(["warehouse", "delivery_statistics"])  # the dbt model over the ledger
# A backfill over a range (bitbybit_assets/backfill.py): one run of the heavy stages for the range,
# then one gated publish run per day, so one bad day does not sink the range, then one warehouse run
# over each stretch of published days.
BACKFILL_CURATE_JOB_NAME = "backfill_ingest_curate"
BACKFILL_PUBLISH_JOB_NAME = "backfill_publish_day"
BACKFILL_WAREHOUSE_JOB_NAME = "backfill_warehouse"
GATE_ASSET = "scored_articles"  # its blocking checks gate each day's publish run
# Dagster's time-partition freshness check on newsletters: judged by the newsletter_freshness sensor
# for the newest expected day only, never inside a pipeline run (a historical run is not "late").
FRESHNESS_CHECK = dg.AssetCheckKey(dg.AssetKey("newsletters"), "freshness_check")


def gpu_run_tags(deploy: DeploymentSettings | None = None) -> dict[str, str]:
    """Run tags for the GPU scoring run (dagster-aws EcsRunLauncher): one GPU on the container,
    more CPU/memory, and the GPU capacity provider (EC2 GPU instances; Fargate has no GPUs).
    ``bitbybit/gpu_runner`` (``deployment.gpu_runner``): ``batch`` sends the run to the AWS Batch
    GPU queue instead (``resources.batch.BatchGpuRunLauncher``, sized by the same tags)."""
    deploy = deploy or runtime_settings().deployment  # the one place the GPU task is sized
    provider = deploy.gpu_capacity_provider
    task_definition = deploy.gpu_task_definition
    return {
        "bitbybit/compute": "gpu",
        RUNNER_TAG: gpu_runner(deploy.gpu_runner),
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


class DefinedChecks(dg.AssetSelection):
    """The asset checks ``keys`` that the Definitions at hand define (``AssetSelection.checks`` fails
    on a key it lacks, e.g. Definitions without ``newsletters``); serialised as the plain selection."""

    def __init__(self, *keys: dg.AssetCheckKey) -> None:
        self._keys = frozenset(keys)

    def resolve_inner(self, asset_graph, allow_missing: bool) -> set:  # noqa: ANN001 - Dagster's signature
        return set()

    def resolve_checks_inner(self, asset_graph, allow_missing: bool) -> set:  # noqa: ANN001
        return set(self._keys & set(asset_graph.asset_check_keys))

    def to_serializable_asset_selection(self, asset_graph) -> dg.AssetSelection:  # noqa: ANN001
        return dg.AssetSelection.checks(*sorted(self.resolve_checks_inner(asset_graph, True), key=str))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DefinedChecks) and other._keys == self._keys

    def __hash__(self) -> int:
        return hash(self._keys)


class DbtTestChecks(dg.AssetSelection):
    """Every asset check that is a dbt test (dagster-dbt marks their specs with the test's unique id);
    serialised as the plain selection of those checks."""

    def resolve_inner(self, asset_graph, allow_missing: bool) -> set:  # noqa: ANN001 - Dagster's signature
        return set()

    def resolve_checks_inner(self, asset_graph, allow_missing: bool) -> set:  # noqa: ANN001
        return {k for k in asset_graph.asset_check_keys
                if DBT_UNIQUE_ID in (asset_graph.get_check_spec(k).metadata or {})}

    def to_serializable_asset_selection(self, asset_graph) -> dg.AssetSelection:  # noqa: ANN001
        return dg.AssetSelection.checks(*sorted(self.resolve_checks_inner(asset_graph, True), key=str))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DbtTestChecks)

    def __hash__(self) -> int:
        return hash(DbtTestChecks)


def warehouse_tests_job() -> Any:
    """The dbt tests alone (``dbt build`` selecting only tests: no model is rebuilt); a run without a
    partition (the tests read whole tables; Dagster has no partition to give a run of checks alone)."""
    return dg.define_asset_job(
        WAREHOUSE_TESTS_JOB_NAME, selection=DbtTestChecks(), tags=cpu_run_tags("warehouse"),
        description="The dbt tests over the whole warehouse tables (after daily_pipeline runs and at the end "
        "of a backfill; production's publish job runs them per day).",
    )


def _groups(groups: tuple[str, ...]) -> dg.AssetSelection:
    """The assets of ``groups`` with their checks, never the freshness check."""
    return dg.AssetSelection.groups(*groups) - DefinedChecks(FRESHNESS_CHECK)


def gate_checks() -> dg.AssetSelection:
    """The blocking checks of ``scored_articles``: what a day must pass before it is published."""
    from bitbybit_assets.checks import planned_checks  # checks import settings; keep this module light

    keys = [dg.AssetCheckKey(dg.AssetKey(p.asset), p.name) for p in planned_checks()
            if p.asset == GATE_ASSET and p.blocking]
    return DefinedChecks(*keys)


def backfill_jobs(partitions_def: dg.PartitionsDefinition = DAILY) -> list:
    """The three jobs of a range backfill (``bitbybit run --start --end``; see ``bitbybit_assets.backfill``)."""
    return [
        dg.define_asset_job(
            BACKFILL_CURATE_JOB_NAME,
            selection=_groups(INGEST_GROUPS + SCORING_GROUPS) - gate_checks(),
            partitions_def=partitions_def,
            description="Backfill stage 1: raw_feeds → scored_articles for a range of days in one run "
            "(the per-day quality gate runs in each day's publish run).",
        ),
        dg.define_asset_job(
            BACKFILL_PUBLISH_JOB_NAME,
            selection=gate_checks() | _groups(PUBLISH_DAY_GROUPS),
            partitions_def=partitions_def,
            description="Backfill stage 2, one run per day: the blocking checks of scored_articles, then "
            "editorial, enhancement and newsletter. A day that fails its gate fails alone.",
        ),
        dg.define_asset_job(
            BACKFILL_WAREHOUSE_JOB_NAME,
            selection=_groups(WAREHOUSE_GROUPS) - DbtTestChecks(),
            partitions_def=partitions_def,
            description="Backfill stage 3, one run per stretch of published days: warehouse load, dbt models "
            "and API export over the stretch (the dbt tests run once after the range, warehouse_tests).",
        ),
    ]


def all_jobs(partitions_def: dg.PartitionsDefinition = DAILY, deploy: DeploymentSettings | None = None) -> list:
    """Every job, partitioned by ``partitions_def`` (the assets' bound definition: see
    ``partitions.bind_partitions``; the stand-in ``DAILY`` for assets used unbound, as in tests)."""
    from bitbybit_assets.replay.job import replay_job  # what-if replays (op job with config)

    return [
        replay_job,
        dg.define_asset_job(
            DAILY_JOB_NAME,
            # sending is its own job: it waits for an approval (or the send time in auto mode)
            selection=dg.AssetSelection.all() - _groups(DELIVER_GROUPS) - DefinedChecks(FRESHNESS_CHECK)
            - DbtTestChecks(),  # in warehouse_tests, after the run
            partitions_def=partitions_def,
            description="Fetch, filter, score, enhance, render and export one day (or a range in one run).",
        ),
        dg.define_asset_job(
            INGEST_JOB_NAME, selection=_groups(INGEST_GROUPS), partitions_def=partitions_def,
            tags=cpu_run_tags("feed_fetch"), description="raw_feeds → filtered_articles (CPU task).",
        ),
        dg.define_asset_job(
            SCORING_JOB_NAME, selection=_groups(SCORING_GROUPS), partitions_def=partitions_def,
            tags=gpu_run_tags(deploy), description="Embeddings, ads, scores, clusters, selection (GPU task).",
        ),
        dg.define_asset_job(
            PUBLISH_JOB_NAME, selection=_groups(PUBLISH_GROUPS), partitions_def=partitions_def,
            tags=cpu_run_tags("llm"), description="Enhancement, newsletter, warehouse and dbt (CPU task).",
        ),
        dg.define_asset_job(
            DELIVER_JOB_NAME,
            selection=_groups(DELIVER_GROUPS) | dg.AssetSelection.assets(DELIVERY_STATISTICS),
            partitions_def=partitions_def,
            tags=cpu_run_tags("delivery"),
            description="Send the day's approved newsletter to every active subscriber, exactly once.",
        ),
        *backfill_jobs(partitions_def),
        warehouse_tests_job(),
    ]
