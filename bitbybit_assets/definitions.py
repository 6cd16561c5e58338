"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources.

Resources are chosen from a dict keyed by the deployment (``BITBYBIT_ENV``), read when Dagster
loads the code location (the ``@dg.definitions`` function), never at import time.
"""


import dagster as dg

from bitbybit_assets import settings
from bitbybit_assets.ingest import assets as ingest_assets
from bitbybit_assets.jobs import all_jobs
from bitbybit_assets.warehouse.assets import warehouse_assets, warehouse_resources
from resources.feeds import FeedSource
from resources.lakehouse import DeltaIOManager, Lakehouse


def build_resources(env: str) -> dict:
    """Resources for a deployment. Both read their locations/secrets from the environment at
    call time; prod differs in where things live (S3, Postgres), not in code."""
    lakehouse = Lakehouse()
    common = {
        "lakehouse": lakehouse,
        "io_manager": DeltaIOManager(lakehouse=lakehouse),
        "feed_source": FeedSource(),
    }
    common |= warehouse_resources()
    by_env = {"local": common, "prod": common}
    return by_env[env]


def all_assets() -> list:
    return [*dg.load_assets_from_modules([ingest_assets]), *warehouse_assets()]


def build_definitions() -> dg.Definitions:
    env = settings.environment()
    return dg.Definitions(assets=all_assets(), jobs=all_jobs(), resources=build_resources(env))


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
