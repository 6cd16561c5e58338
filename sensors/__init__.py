"""Sensors: run tracking into ``pipeline_runs``, failure alerts, ``feeds.yaml`` changes, and in
production the chaining of ``ingest`` → ``scoring`` → ``publish``."""

from collections.abc import Sequence

import dagster as dg

from sensors.alerts import build_alert_sensor
from sensors.chain import chain_sensors
from sensors.config_change import build_config_change_sensor
from sensors.run_tracking import build_run_tracking_sensors


def all_sensors(
    env: str,
    jobs: Sequence | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> list[dg.SensorDefinition]:
    """The sensors of a deployment. ``jobs`` (the Definitions' job objects) are needed in prod,
    where the chaining sensors target them; default: ``bitbybit_assets.jobs.all_jobs()``."""
    sensors: list[dg.SensorDefinition] = [
        build_alert_sensor(default_status),
        *build_run_tracking_sensors(default_status),
        build_config_change_sensor(default_status),
    ]
    if env == "prod":
        if jobs is None:
            from bitbybit_assets.jobs import all_jobs

            jobs = all_jobs()
        sensors += chain_sensors(jobs, default_status)
    return sensors


__all__ = ["all_sensors"]
