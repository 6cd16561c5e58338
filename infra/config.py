"""The environment parameter sets (``infra/environments.yaml``), validated."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENVIRONMENTS_FILE = Path(__file__).resolve().parent / "environments.yaml"
NAME = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"
# the cost allocation tags every taggable resource carries (activate them in Billing; infra/tagging.py)
COST_TAG_KEYS = ("project", "environment", "cost-center")


class AlarmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rds_free_storage_gib: int = Field(2, ge=1)
    rds_cpu_percent: int = Field(80, ge=1, le=100)
    rds_max_connections: int = Field(80, ge=1)
    failed_runs: int = Field(1, ge=1)
    newsletter_late_hours: int = Field(24, ge=1, le=24)  # CloudWatch: at most one day


class Environment(BaseModel):
    """One environment's parameters (defaults merged with its own section)."""

    model_config = ConfigDict(extra="forbid")

    env: Literal["staging", "prod"]
    name: str = Field(pattern=NAME)  # prefix of every resource name
    project: str = Field(pattern=NAME)
    repository: str = Field(pattern=NAME)
    vpc_cidr: str
    availability_zones: int = Field(2, ge=2, le=3)
    interface_endpoints: bool = True
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365] = 30
    db_engine_version: str = Field("15.14", pattern=r"^\d+\.\d+$")
    db_instance_class: str = "db.t4g.small"
    db_allocated_storage_gib: int = Field(20, ge=20)
    db_max_allocated_storage_gib: int = Field(100, ge=20)
    db_backup_retention_days: int = Field(7, ge=1, le=35)
    db_multi_az: bool = False
    db_deletion_protection: bool = True
    rds_proxy: bool = False
    gpu_instance_types: list[str] = Field(min_length=1)
    gpu_max_instances: int = Field(1, ge=1, le=8)
    gpu_spot: bool = False
    gpu_root_volume_gib: int = Field(60, ge=30)
    batch: bool = False
    run_cpu: str = "1024"
    run_memory: str = "4096"
    service_cpu: str = "512"
    service_memory: str = "2048"
    webserver_count: int = Field(1, ge=0, le=1)
    desk_count: int = Field(1, ge=0)
    monthly_budget_usd: int = Field(150, ge=1)
    budget_alert_percent: int = Field(80, ge=1, le=100)
    alarms: AlarmSettings = AlarmSettings()
    tags: dict[str, str] = {}

    @model_validator(mode="after")
    def _cost_tags(self) -> Environment:
        missing = [k for k in COST_TAG_KEYS if not self.resource_tags().get(k)]
        if missing:
            raise ValueError(f"tags need {', '.join(missing)} (cost allocation: {', '.join(COST_TAG_KEYS)})")
        return self

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        net = ipaddress.ip_network(v)
        if net.prefixlen > 20:
            raise ValueError("vpc_cidr needs at least a /20 (four /24 subnets and room)")
        return str(net)

    @property
    def secrets_prefix(self) -> str:
        """Secrets Manager names: ``<project>/<env>/...``."""
        return f"{self.project}/{self.env}"

    @property
    def log_group(self) -> str:
        return f"/ecs/{self.name}"

    def subnet_cidrs(self) -> tuple[list[str], list[str]]:
        """(private, public) /24 subnets, one of each per availability zone."""
        subnets = list(ipaddress.ip_network(self.vpc_cidr).subnets(new_prefix=24))
        n, half = self.availability_zones, len(subnets) // 2
        return [str(s) for s in subnets[:n]], [str(s) for s in subnets[half : half + n]]

    def resource_tags(self) -> dict[str, str]:
        """Tags on every resource (cost allocation: :data:`COST_TAG_KEYS`)."""
        return {"project": self.project, "environment": self.env, **self.tags}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_environments(path: Path = ENVIRONMENTS_FILE) -> dict[str, Environment]:
    """Every environment of ``path``, defaults merged in, validated."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    defaults = data.get("defaults") or {}
    return {
        env: Environment.model_validate({**_merge(defaults, section or {}), "env": env})
        for env, section in (data.get("environments") or {}).items()
    }
