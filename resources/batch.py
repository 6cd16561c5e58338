"""AWS Batch: the GPU option beside the ECS run launcher (``deployment.gpu_runner: batch``).

Why a run launcher and not Dagster Pipes: with Pipes the scoring code would run outside Dagster
(its own lakehouse IO, its own checks) while a CPU run waits and pays; launching the *whole scoring
run* as a Batch job keeps it an ordinary Dagster run (the same IO manager, asset checks, events in
the instance's Postgres, partitions, retries, run monitoring), so the Dagster UI shows its logs and
metadata live, as for an ECS run. Batch adds a queue across GPU instance types and Spot.

:class:`BatchClient` is the small boto3 client (submit with the GPU requirement, follow the
status, read the job's log stream, terminate; timeouts and retry attempts on the job).
:class:`BatchGpuRunLauncher` is ``dagster_aws``'s ``EcsRunLauncher`` that sends runs tagged
``bitbybit/gpu_runner: batch`` (``jobs.gpu_run_tags()``) to Batch and every other run to ECS;
``dagster.yaml`` names it; the queue, job definition and log group come from its config or else
``BITBYBIT_BATCH_JOB_QUEUE`` / ``BITBYBIT_BATCH_JOB_DEFINITION`` / ``BITBYBIT_BATCH_LOG_GROUP`` (the
stack sets them where ``batch: true``; a stack without Batch leaves them unset and no run is tagged). Run monitoring (``dagster.yaml``) calls
:meth:`BatchGpuRunLauncher.check_run_worker_health`: a failed job fails the run with Batch's reason
and the last lines of its log, which the run-failure alert then reports.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

RUNNER_TAG = "bitbybit/gpu_runner"
JOB_ID_TAG = "batch/job_id"
JOB_QUEUE_TAG = "batch/job_queue"
ACTIVE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
FINISHED = ("SUCCEEDED", "FAILED")
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class BatchJobError(RuntimeError):
    """A Batch job failed, timed out or could not be submitted."""


@dataclass(frozen=True)
class JobState:
    job_id: str
    status: str  # SUBMITTED ... RUNNING, SUCCEEDED, FAILED
    reason: str = ""  # statusReason (+ the container's reason)
    exit_code: int | None = None
    attempts: int = 0
    log_stream: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class GpuJobSpec:
    """What one GPU job asks for; :meth:`submit_kwargs` is the ``SubmitJob`` request."""

    name: str
    queue: str
    definition: str
    command: Sequence[str]
    vcpus: int = 4
    memory_mib: int = 14336
    gpus: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: int = 7200  # per attempt; Batch stops the job after it
    attempts: int = 2  # Batch retries; the job definition says which exits are retried
    tags: Mapping[str, str] = field(default_factory=dict)

    def submit_kwargs(self) -> dict[str, Any]:
        return {
            "jobName": _NAME_SAFE.sub("-", self.name)[:128],
            "jobQueue": self.queue,
            "jobDefinition": self.definition,
            "containerOverrides": {
                "command": list(self.command),
                "environment": [{"name": k, "value": v} for k, v in self.environment.items()],
                "resourceRequirements": [
                    {"type": "VCPU", "value": str(self.vcpus)},
                    {"type": "MEMORY", "value": str(self.memory_mib)},
                    {"type": "GPU", "value": str(self.gpus)},
                ],
            },
            "retryStrategy": {"attempts": self.attempts},
            "timeout": {"attemptDurationSeconds": max(60, self.timeout_seconds)},
            "propagateTags": True,
            "tags": dict(self.tags),
        }


class BatchClient:
    """Submit, follow and stop Batch jobs; read their CloudWatch log stream. Region, credentials and
    endpoints come from the usual AWS variables (``AWS_ENDPOINT_URL_BATCH`` and
    ``AWS_ENDPOINT_URL_LOGS`` for another endpoint, as in tests)."""

    def __init__(self, log_group: str | None = None, region_name: str | None = None,
                 timeout_seconds: float = 30.0, max_attempts: int = 5) -> None:
        import boto3  # here, not at import: the definitions load without boto3 (start-up time)
        from botocore.config import Config

        config = Config(connect_timeout=timeout_seconds, read_timeout=timeout_seconds,
                        retries={"max_attempts": max_attempts, "mode": "adaptive"})
        session = boto3.session.Session(region_name=region_name)
        self._batch = session.client("batch", config=config)
        self._logs = session.client("logs", config=config)
        self.log_group = log_group

    def submit(self, spec: GpuJobSpec) -> str:
        resp = self._batch.submit_job(**spec.submit_kwargs())
        log.info("submitted Batch job %s (%s) to %s", resp["jobId"], spec.name, spec.queue)
        return resp["jobId"]

    def state(self, job_id: str) -> JobState:
        jobs = self._batch.describe_jobs(jobs=[job_id]).get("jobs") or []
        if not jobs:
            return JobState(job_id, "NOT_FOUND", "no such job")
        job = jobs[0]
        container = job.get("container") or {}
        reason = "; ".join(r for r in (job.get("statusReason"), container.get("reason")) if r)
        return JobState(job_id, job["status"], reason, container.get("exitCode"),
                        len(job.get("attempts") or []), container.get("logStreamName"))

    def log_lines(self, state: JobState, limit: int = 50, start_from_head: bool = False) -> list[str]:
        """The job's last (or first) ``limit`` log lines; [] when it has no stream (yet)."""
        if not (self.log_group and state.log_stream):
            return []
        try:
            events = self._logs.get_log_events(logGroupName=self.log_group, logStreamName=state.log_stream,
                                               limit=limit, startFromHead=start_from_head)["events"]
        except self._logs.exceptions.ResourceNotFoundException:
            return []
        return [e["message"] for e in events]

    def terminate(self, job_id: str, reason: str) -> None:
        self._batch.terminate_job(jobId=job_id, reason=reason[:250])

    def wait(self, job_id: str, *, poll_seconds: float = 15.0, timeout_seconds: float = 7200.0,
             on_change: Callable[[JobState], None] | None = None,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> JobState:
        """Follow ``job_id`` until it finishes; report every status change to ``on_change``. Past
        ``timeout_seconds`` the job is terminated and :class:`BatchJobError` raised; a failed job
        raises it too, with Batch's reason and the last log lines."""
        deadline = clock() + timeout_seconds
        last = None
        while True:
            state = self.state(job_id)
            if state.status != last:
                last = state.status
                if on_change:
                    on_change(state)
            if state.status == "SUCCEEDED":
                return state
            if state.status in ("FAILED", "NOT_FOUND"):
                raise BatchJobError(failure_message(state, self.log_lines(state, limit=20)))
            if clock() >= deadline:
                self.terminate(job_id, f"bitbybit: no result after {timeout_seconds:.0f}s")
                raise BatchJobError(f"Batch job {job_id} timed out after {timeout_seconds:.0f}s "
                                    f"(last status {state.status}); terminated")
            sleep(poll_seconds)


def failure_message(state: JobState, log_tail: Sequence[str] = ()) -> str:
    """What a failed job tells the run (and so the alert)."""
    lines = [f"Batch job {state.job_id} {state.status}"
             + (f" after {state.attempts} attempt(s)" if state.attempts else "")
             + (f", exit code {state.exit_code}" if state.exit_code is not None else "")
             + (f": {state.reason}" if state.reason else "")]
    if log_tail:
        lines += ["", "Last log lines:", *log_tail]
    return "\n".join(lines)


def gpu_spec_for_run(run_id: str, job_name: str, command: Sequence[str], queue: str, definition: str,
                     tags: Mapping[str, str], timeout_seconds: int, attempts: int) -> GpuJobSpec:
    """The Batch job of one Dagster run: sized by the run's ``ecs/cpu`` / ``ecs/memory`` tags
    (``deployment.gpu_task_cpu/memory``), one GPU, the run's id and partition as job tags."""
    vcpus = max(1, int(tags.get("ecs/cpu", "4096")) // 1024)
    memory = int(tags.get("ecs/memory", "14336"))
    job_tags = {"dagster/run_id": run_id, "dagster/job_name": job_name, "bitbybit/compute": "gpu"}
    if "dagster/partition" in tags:
        job_tags["dagster/partition"] = tags["dagster/partition"]
    return GpuJobSpec(name=f"{job_name}-{run_id[:8]}", queue=queue, definition=definition, command=command,
                      vcpus=vcpus, memory_mib=memory, tags=job_tags, timeout_seconds=timeout_seconds,
                      attempts=attempts)


def _launcher_class():
    """:class:`BatchGpuRunLauncher`, built on first use (dagster-aws is only needed where it runs)."""
    from dagster import Field, IntSource, Noneable, StringSource
    from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
    from dagster._grpc.types import ExecuteRunArgs
    from dagster_aws.ecs import EcsRunLauncher

    class BatchGpuRunLauncher(EcsRunLauncher):
        """``EcsRunLauncher`` that launches runs tagged ``bitbybit/gpu_runner: batch`` as Batch jobs."""

        def __init__(self, inst_data=None, batch_job_queue=None, batch_job_definition=None,
                     batch_timeout_seconds=7200, batch_attempts=2, batch_log_group=None, **kwargs):
            super().__init__(inst_data=inst_data, **kwargs)
            # unset in dagster.yaml: the stack's variables (set only where the environment has Batch)
            self.batch_job_queue = batch_job_queue or os.environ.get("BITBYBIT_BATCH_JOB_QUEUE") or None
            self.batch_job_definition = (batch_job_definition
                                         or os.environ.get("BITBYBIT_BATCH_JOB_DEFINITION") or None)
            self.batch_timeout_seconds = batch_timeout_seconds
            self.batch_attempts = batch_attempts
            self._batch = BatchClient(log_group=batch_log_group or os.environ.get("BITBYBIT_BATCH_LOG_GROUP") or None)

        @classmethod
        def config_type(cls):
            return {
                **EcsRunLauncher.config_type(),
                "batch_job_queue": Field(Noneable(StringSource), is_required=False, default_value=None),
                "batch_job_definition": Field(Noneable(StringSource), is_required=False, default_value=None),
                "batch_timeout_seconds": Field(IntSource, is_required=False, default_value=7200),
                "batch_attempts": Field(IntSource, is_required=False, default_value=2),
                "batch_log_group": Field(Noneable(StringSource), is_required=False, default_value=None),
            }

        @staticmethod
        def _is_batch(run) -> bool:
            return run.tags.get(RUNNER_TAG) == "batch"

        def launch_run(self, context: LaunchRunContext) -> None:
            run = context.dagster_run
            if not self._is_batch(run):
                return super().launch_run(context)
            if not (self.batch_job_queue and self.batch_job_definition):
                raise BatchJobError("run tagged bitbybit/gpu_runner=batch but the launcher has no "
                                    "batch_job_queue/batch_job_definition (BITBYBIT_BATCH_JOB_*)")
            command = ExecuteRunArgs(job_origin=context.job_code_origin, run_id=run.run_id,
                                     instance_ref=self._instance.get_ref()).get_command_args()
            spec = gpu_spec_for_run(run.run_id, run.job_name, command, self.batch_job_queue,
                                    self.batch_job_definition, run.tags, self.batch_timeout_seconds,
                                    self.batch_attempts)
            job_id = self._batch.submit(spec)
            self._instance.add_run_tags(run.run_id, {JOB_ID_TAG: job_id, JOB_QUEUE_TAG: spec.queue})
            self._instance.report_engine_event(
                f"Launched the run as AWS Batch job {job_id} on queue {spec.queue} "
                f"({spec.vcpus} vCPU, {spec.memory_mib} MiB, {spec.gpus} GPU)", run, cls=self.__class__)

        def check_run_worker_health(self, run):
            if not self._is_batch(run):
                return super().check_run_worker_health(run)
            job_id = run.tags.get(JOB_ID_TAG)
            if not job_id:
                return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no Batch job id on the run")
            state = self._batch.state(job_id)
            if state.status in ACTIVE:
                return CheckRunHealthResult(WorkerStatus.RUNNING, state.status)
            if state.status == "SUCCEEDED":
                return CheckRunHealthResult(WorkerStatus.SUCCESS, "")
            if state.status == "NOT_FOUND":
                return CheckRunHealthResult(WorkerStatus.NOT_FOUND, f"Batch job {job_id} not found")
            return CheckRunHealthResult(WorkerStatus.FAILED, failure_message(state, self._batch.log_lines(state)))

        def terminate(self, run_id: str) -> bool:
            run = self._instance.get_run_by_id(run_id)
            if not run or not self._is_batch(run):
                return super().terminate(run_id)
            if run.is_finished or not run.tags.get(JOB_ID_TAG):
                return False
            self._instance.report_run_canceling(run)
            self._batch.terminate(run.tags[JOB_ID_TAG], f"Dagster run {run_id} terminated")
            return True

    return BatchGpuRunLauncher


def __getattr__(name: str) -> Any:  # dagster.yaml: module resources.batch, class BatchGpuRunLauncher
    if name == "BatchGpuRunLauncher":
        cls = _launcher_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)
