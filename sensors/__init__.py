"""Sensors: run tracking into ``pipeline_runs``, failure and incident alerts, ``feeds.yaml`` changes, and in
production the chaining of ``ingest`` → ``scoring`` → ``publish``."""

from collections.abc import Sequence

import dagster as dg

from bitbybit_assets.jobs import DELIVER_JOB_NAME, all_jobs
from sensors.alerts import build_alert_sensor
from sensors.chain import chain_sensors
from sensors.config_change import build_config_change_sensor
from sensors.delivery import build_delivery_sensor
from sensors.feedback import build_feedback_sensor
from sensors.incident_alerts import build_incident_sensor
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
        build_incident_sensor(default_status),
        *build_run_tracking_sensors(default_status),
        build_config_change_sensor(default_status),
    ]
    if jobs is None:
        jobs = all_jobs()
    by_name = {job.name: job for job in jobs}
    if DELIVER_JOB_NAME in by_name:
        sensors.append(build_delivery_sensor(by_name[DELIVER_JOB_NAME], default_status))
    sensors.append(build_feedback_sensor(default_status))
    if env == "prod":
        sensors += chain_sensors(jobs, default_status)
    return sensors


__all__ = ["all_sensors"]
