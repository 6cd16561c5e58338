"""The ``deployment:`` section of production.yaml: the one place the GPU scoring task is sized.

``bitbybit_assets.jobs.gpu_run_tags`` turns it into the run tags the ECS run launcher reads; the
curate assets' op tags no longer carry a size of their own, and ``deploy/aws/ecs/run-gpu.json`` is
checked against it by the tests. No Dagster here (``load_settings`` validates it at load).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

# CPU units ECS accepts for a task (1024 = one vCPU)
ECS_CPU_UNITS = ("256", "512", "1024", "2048", "4096", "8192", "16384")


class DeploymentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu_capacity_provider: str = Field("bitbybit-gpu", min_length=1, pattern=r"^[A-Za-z0-9_.:/-]+$")
    gpu_task_definition: str = Field("bitbybit-run-gpu", min_length=1, pattern=r"^[A-Za-z0-9_.:/-]+$")
    gpu_task_cpu: str = "4096"  # 4 vCPUs of a g4dn/g5 xlarge
    gpu_task_memory: str = "14336"  # MiB: fits a g4dn.xlarge / g5.xlarge (16 GiB, ~15 GiB schedulable)

    @field_validator("gpu_task_cpu", mode="before")
    @classmethod
    def _cpu(cls, v: object) -> str:
        text = str(v).strip()
        if text not in ECS_CPU_UNITS:
            raise ValueError(f"gpu_task_cpu must be one of {', '.join(ECS_CPU_UNITS)} (ECS CPU units)")
        return text

    @field_validator("gpu_task_memory", mode="before")
    @classmethod
    def _memory(cls, v: object) -> str:
        text = str(v).strip()
        if not text.isdigit() or not 512 <= int(text) <= 1_048_576:
            raise ValueError("gpu_task_memory must be a whole number of MiB between 512 and 1048576")
        return text


def deployment_settings(section: dict | None = None) -> DeploymentSettings:
    """``deployment:`` of ``section`` (default: the loaded production.yaml)."""
    if section is None:
        from bitbybit_assets.settings import load_settings

        section = load_settings().deployment
    return DeploymentSettings.model_validate(section or {})
