"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources.

Resources are chosen from a dict keyed by the deployment (``BITBYBIT_ENV``), read when Dagster
loads the code location (the ``@dg.definitions`` function), never at import time.
"""

import dagster as dg

from bitbybit_assets.curate import assets as curate_assets
from bitbybit_assets.deliver import assets as deliver_assets
from bitbybit_assets.editorial import assets as editorial_assets
from bitbybit_assets.enhance import assets as enhance_assets
from bitbybit_assets.ingest import assets as ingest_assets
from bitbybit_assets.jobs import all_jobs
from bitbybit_assets.maintenance.job import maintenance_job, maintenance_schedule
from bitbybit_assets.publish import assets as publish_assets
from bitbybit_assets.warehouse.assets import warehouse_assets, warehouse_resources
from bitbybit_assets.warehouse.tests_sensor import warehouse_tests_sensor
from bitbybit_assets.wiring import operations_definitions
from bitbybit_base import settings
from resources.email import EmailSender
from resources.embeddings import EmbeddingModel
from resources.feeds import FeedSource
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.llm import LLMResource


def build_resources(env: str) -> dict:
    """Resources for a deployment. Every resource reads its locations and secrets from the
    environment at call time, so prod differs in where things live (S3, Postgres, an LLM endpoint,
    a GPU), not in code."""
    lakehouse = Lakehouse()
    common = {
        "lakehouse": lakehouse,
        "io_manager": DeltaIOManager(lakehouse=lakehouse),
        "feed_source": FeedSource(),
        "embeddings": EmbeddingModel.from_settings(),
        "llm": LLMResource(),
        "email_sender": EmailSender(),
        **warehouse_resources(),
    }
    by_env = {"local": common, "prod": common}
    return by_env[env]


def all_assets() -> list:
    modules = [ingest_assets, curate_assets, editorial_assets, enhance_assets, publish_assets, deliver_assets]
    return [*dg.load_assets_from_modules(modules), *deliver_assets.delivery_tables, *enhance_assets.llm_tables, *warehouse_assets()]


def _sensor_status() -> dg.DefaultSensorStatus:
    running = settings.runtime_settings().operations.start_running
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def build_definitions() -> dg.Definitions:
    """Assets, jobs, the schedule, sensors, quality checks and resources for ``BITBYBIT_ENV``."""
    env = settings.environment()
    assets = all_assets()
    ops = operations_definitions(env, jobs=all_jobs(), assets=assets)
    return dg.Definitions(
        assets=assets,
        jobs=[*ops["jobs"], maintenance_job],
        schedules=[*ops["schedules"], maintenance_schedule(settings.runtime_settings())],
        sensors=[*ops["sensors"], warehouse_tests_sensor(ops["jobs"], _sensor_status())],
        asset_checks=ops["asset_checks"],
        resources={**build_resources(env), **ops["resources"]},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
