"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources.

Resources are chosen from a dict keyed by the deployment (``BITBYBIT_ENV``), read when Dagster
loads the code location (the ``@dg.definitions`` function), never at import time. The settings are
loaded and validated there, once: they bind the assets' daily partitions (``pipeline.start_date``,
``ingest.history_days``: :func:`~bitbybit_assets.partitions.bind_partitions`), size the jobs, schedules
and sensors, and are the ``settings`` resource the assets read.
"""

import dagster as dg

from bitbybit_assets.curate import assets as curate_assets
from bitbybit_assets.deliver import assets as deliver_assets
from bitbybit_assets.editorial import assets as editorial_assets
from bitbybit_assets.enhance import assets as enhance_assets
from bitbybit_assets.ingest import assets as ingest_assets
from bitbybit_assets.jobs import all_jobs
from bitbybit_assets.maintenance.job import maintenance_job, maintenance_schedule
from bitbybit_assets.partitions import bind_partitions, daily_partitions
from bitbybit_assets.publish import assets as publish_assets
from bitbybit_assets.warehouse.assets import warehouse_assets, warehouse_resources
from bitbybit_assets.warehouse.tests_sensor import warehouse_tests_sensor
from bitbybit_assets.wiring import operations_definitions
from bitbybit_base import settings
from bitbybit_base.settings import Settings
from resources.email import EmailSender
from resources.embeddings import EmbeddingModel
from resources.feeds import FeedSource
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.llm import LLMResource


def build_resources(env: str, cfg: Settings | None = None) -> dict:
    """Resources for a deployment. Every resource reads its locations and secrets from the
    environment at call time, so prod differs in where things live (S3, Postgres, an LLM endpoint,
    a GPU), not in code. ``settings``: ``cfg`` (default: the settings file), what the assets read."""
    lakehouse = Lakehouse()
    common = {
        "lakehouse": lakehouse,
        "io_manager": DeltaIOManager(lakehouse=lakehouse),
        "feed_source": FeedSource(),
        "embeddings": EmbeddingModel.from_settings(),
        "llm": LLMResource(),
        "email_sender": EmailSender(),
        **warehouse_resources(cfg or settings.runtime_settings()),  # with the settings the assets read
    }
    by_env = {"local": common, "prod": common}
    return by_env[env]


def all_assets(cfg: Settings) -> list:
    """Every asset, on the daily partitions of ``cfg`` (``pipeline.start_date``, ``ingest.history_days``)."""
    modules = [ingest_assets, curate_assets, editorial_assets, enhance_assets, publish_assets, deliver_assets]
    declared = [*dg.load_assets_from_modules(modules), *deliver_assets.delivery_tables, *enhance_assets.llm_tables,
                *warehouse_assets()]
    return bind_partitions(declared, cfg)


def _sensor_status(cfg: Settings) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if cfg.operations.start_running else dg.DefaultSensorStatus.STOPPED


def build_definitions(cfg: Settings | None = None) -> dg.Definitions:
    """Assets, jobs, the schedule, sensors, quality checks and resources for ``BITBYBIT_ENV``, from
    ``cfg`` (default: the settings file, loaded and validated here)."""
    env = settings.environment()
    cfg = cfg or settings.runtime_settings()
    assets = all_assets(cfg)
    jobs = all_jobs(daily_partitions(cfg.pipeline.start_date), cfg.deployment)
    ops = operations_definitions(env, jobs=jobs, assets=assets, settings=cfg)
    return dg.Definitions(
        assets=assets,
        jobs=[*ops["jobs"], maintenance_job],
        schedules=[*ops["schedules"], maintenance_schedule(cfg)],
        sensors=[*ops["sensors"], warehouse_tests_sensor(ops["jobs"], _sensor_status(cfg))],
        asset_checks=ops["asset_checks"],
        resources={**build_resources(env, cfg), **ops["resources"]},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
