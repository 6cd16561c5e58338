"""Operations in one call: schedule, sensors, asset checks (quality gates + freshness) and the
``notifier`` and ``metrics`` resources, ready to merge into the one ``Definitions``::

    jobs = all_jobs()
    ops = operations_definitions(env, jobs=jobs, assets=assets)
    dg.Definitions(assets=assets, jobs=ops["jobs"], schedules=ops["schedules"], sensors=ops["sensors"],
                   asset_checks=ops["asset_checks"], resources={**build_resources(env), **ops["resources"]})

The schedule and the production chaining sensors target job *objects*; Dagster refuses two job
objects with one name, so pass the Definitions' own ``jobs`` (or use the ``jobs`` returned, which
are those same objects, or ``all_jobs()`` when none were given).
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from bitbybit_assets.checks import build_asset_checks, build_freshness_checks, build_freshness_sensor
from bitbybit_assets.jobs import all_jobs
from bitbybit_assets.partitions import DAILY
from bitbybit_assets.schedules import build_schedules
from bitbybit_base.settings import Settings, runtime_settings
from resources.metrics import CloudWatchMetrics
from resources.notify import Notifier
from resources.postgres import PostgresResource
from sensors import all_sensors


def _daily(assets: Sequence[Any] | None) -> dg.PartitionsDefinition:
    """The daily partitions the ``assets`` are on (bound or the stand-in), for jobs built here."""
    for a in assets or ():
        for spec in a.specs if isinstance(a, dg.AssetsDefinition) else [a] if isinstance(a, dg.AssetSpec) else []:
            if isinstance(spec.partitions_def, dg.DailyPartitionsDefinition):
                return spec.partitions_def
    return DAILY


def operations_definitions(env: str, jobs: Sequence | None = None, assets: Sequence[Any] | None = None,
                           settings: Settings | None = None) -> dict:
    """``{"jobs", "schedules", "sensors", "asset_checks", "resources"}`` for deployment ``env``.

    ``assets``: when given, checks are built only for assets among them (partitioned like them);
    without, for every pipeline asset on the daily partitions. Resources needed besides those
    returned: ``lakehouse`` (checks, run tracking). ``settings``: what ``build_definitions`` loaded
    (default: the settings file).
    """
    settings = settings or runtime_settings()
    if jobs is None:
        jobs = all_jobs(_daily(assets), settings.deployment)
    running = settings.operations.start_running
    sensor_status = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
    schedule_status = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    freshness = build_freshness_checks(assets)
    sensors = all_sensors(env, jobs, sensor_status)
    if freshness:
        sensors.append(build_freshness_sensor(freshness, sensor_status))
    return {
        "jobs": list(jobs),
        "schedules": build_schedules(env, jobs, schedule_status, settings.pipeline),
        "sensors": sensors,
        "asset_checks": [*build_asset_checks(assets), *freshness],
        # postgres: the same resource the warehouse assets use (run tracking writes pipeline_runs);
        # metrics: CloudWatch, on in prod (operations.metrics), published by the run-tracking sensors
        "resources": {"notifier": Notifier(), "postgres": PostgresResource(),
                      "metrics": CloudWatchMetrics.from_settings(settings.operations.metrics, env)},
    }
