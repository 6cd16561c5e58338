"""Launch real Dagster runs from the desk: re-run a day's pipeline, send a day's newsletter.

Two ways, chosen by ``BITBYBIT_DAGSTER_URL``:

* set (production, the compose stack): through the Dagster webserver's GraphQL API
  (``DagsterGraphQLClient.submit_job_execution``); the instance's run launcher starts the run
  (an ECS task in production). A pipeline re-run submits the job the daily schedule runs
  (``daily_pipeline`` locally, ``ingest`` in production, which the chaining sensors follow with
  ``scoring`` and ``publish``).
* unset (a laptop): a detached ``python -m bitbybit_assets.cli run|send`` process against the
  same ``DAGSTER_HOME``, with a run id chosen here so the desk can follow the run in the instance.
  Its output goes to ``<data dir>/desk/launches/<run id>.log``.

The request that launches never waits for the run: the pages poll its status from the instance.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from bitbybit_assets.jobs import DAILY_JOB_NAME, DELIVER_JOB_NAME, PUBLISH_JOB_NAME
from bitbybit_assets.runs import delivery_run_config
from bitbybit_assets.schedules import scheduled_job_name
from desk.launches import Launch

log = logging.getLogger("bitbybit")

DAGSTER_URL_ENV = "BITBYBIT_DAGSTER_URL"
DAGSTER_UI_URL_ENV = "BITBYBIT_DAGSTER_UI_URL"
DEFAULT_DAGSTER_UI = "http://127.0.0.1:3000"
PARTITION_TAG = "dagster/partition"


class LaunchError(RuntimeError):
    pass


def desk_actor(username: str) -> str:
    """How the desk names a user in run tags, ledgers and approvals."""
    return f"desk:{username}"


class SubprocessLauncher:
    """Runs ``bitbybit`` CLI commands as detached processes (they outlive a desk restart)."""

    via = "subprocess"

    def __init__(self, log_dir: Path, *, python: str = sys.executable, cwd: Path | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.log_dir = log_dir
        self.python = python
        self.cwd = cwd
        self._now = now or (lambda: datetime.now(UTC))
        self._procs: dict[str, subprocess.Popen] = {}
        self._launches: dict[str, Launch] = {}  # what this process launched (newest last)
        self._lock = threading.Lock()

    def final_job(self, kind: str) -> str | None:
        return None

    def command(self, kind: str, day: date, username: str, run_id: str) -> list[str]:
        base = [self.python, "-m", "bitbybit_assets.cli"]
        if kind == "pipeline":
            return [*base, "run", "--start", day.isoformat(), "--run-id", run_id, "--trigger", "desk"]
        if kind == "delivery":
            return [*base, "send", "--day", day.isoformat(), "--by", desk_actor(username), "--run-id", run_id]
        raise ValueError(f"unknown launch kind {kind!r}")

    def prepare(self, kind: str, day: date, username: str) -> Launch:
        """The launch about to be made (run id and output file chosen; ``error`` when it cannot be)."""
        run_id = str(uuid.uuid4())
        job = DAILY_JOB_NAME if kind == "pipeline" else DELIVER_JOB_NAME
        self.command(kind, day, username, run_id)  # validates kind
        launch = Launch(run_id=run_id, kind=kind, partition_date=day, job_name=job, via=self.via,
                        requested_by=desk_actor(username), requested_at=self._now(),
                        log_path=str(self.log_dir / f"{run_id}.log"))
        if not os.environ.get("DAGSTER_HOME"):
            return Launch(**{**launch.__dict__, "error": "DAGSTER_HOME is not set: the run would not be recorded"})
        return launch

    def start(self, launch: Launch) -> Launch:
        """Start the prepared launch's process; the launch with its pid, or with ``error``."""
        username = launch.requested_by.removeprefix("desk:")
        argv = self.command(launch.kind, launch.partition_date, username, launch.run_id)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with open(launch.log_path, "wb") as out:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        cwd=self.cwd, env=env,
                                        start_new_session=True)  # its own session: a desk restart leaves it running
        except OSError as exc:
            return Launch(**{**launch.__dict__, "error": f"could not start: {exc}"})
        started = Launch(**{**launch.__dict__, "pid": proc.pid})
        with self._lock:
            self._reap()
            self._procs[launch.run_id] = proc
            self._launches[launch.run_id] = started
        log.info("desk: launched %s for %s as process %d (run %s)", launch.job_name, launch.partition_date,
                 proc.pid, launch.run_id)
        return started

    def launch(self, kind: str, day: date, username: str) -> Launch:
        launch = self.prepare(kind, day, username)
        return launch if launch.error else self.start(launch)

    def _reap(self) -> None:
        """Collect ended processes (no zombies); forget the oldest ended ones beyond 100."""
        for rid, proc in list(self._procs.items()):
            if proc.poll() is not None and len(self._procs) > 100:
                del self._procs[rid]
                self._launches.pop(rid, None)

    def known(self, run_id: str) -> Launch | None:
        """A launch made by this process (no database read)."""
        with self._lock:
            return self._launches.get(run_id)

    def launches(self) -> list[Launch]:
        """The launches made by this process, newest first."""
        with self._lock:
            return list(reversed(self._launches.values()))

    def running(self) -> list[Launch]:
        """Launches whose process has not ended yet."""
        with self._lock:
            return [self._launches[rid] for rid, proc in self._procs.items() if proc.poll() is None]

    def exit_code(self, run_id: str) -> int | None:
        """The launch process's exit code once it ended (``None``: running, or not launched here)."""
        with self._lock:
            proc = self._procs.get(run_id)
            return proc.poll() if proc is not None else None


class GraphQLLauncher:
    """Submits runs to the Dagster webserver at ``url`` (``http(s)://host[:port][/prefix]``)."""

    via = "graphql"

    def __init__(self, url: str, *, env: str = "local", now: Callable[[], datetime] | None = None,
                 client_factory: Callable[..., object] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LaunchError(f"{DAGSTER_URL_ENV}={url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self.env = env
        self._parts = parts
        self._now = now or (lambda: datetime.now(UTC))
        self._client_factory = client_factory

    def final_job(self, kind: str) -> str | None:
        if kind == "pipeline" and scheduled_job_name(self.env) != DAILY_JOB_NAME:
            return PUBLISH_JOB_NAME  # production: ingest → scoring → publish
        return None

    def client(self):
        if self._client_factory is not None:
            return self._client_factory()
        from dagster_graphql import DagsterGraphQLClient

        p = self._parts
        return DagsterGraphQLClient(p.hostname, port_number=p.port, use_https=p.scheme == "https",
                                    path_prefix=p.path.rstrip("/"), timeout=30)

    def launch(self, kind: str, day: date, username: str) -> Launch:
        actor = desk_actor(username)
        tags = {PARTITION_TAG: day.isoformat(), "bitbybit/trigger": "desk", "bitbybit/requested_by": actor}
        if kind == "pipeline":
            job, run_config = scheduled_job_name(self.env), None
        elif kind == "delivery":
            job, run_config = DELIVER_JOB_NAME, delivery_run_config(requested_by=actor)
        else:
            raise ValueError(f"unknown launch kind {kind!r}")
        base = dict(kind=kind, partition_date=day, job_name=job, via=self.via, requested_by=actor,
                    requested_at=self._now())
        try:
            run_id = self.client().submit_job_execution(job, run_config=run_config, tags=tags)
        except Exception as exc:  # noqa: BLE001 - any client error is reported on the page and recorded
            return Launch(run_id=f"failed-{uuid.uuid4()}", error=f"Dagster refused the run: {exc}"[:2000], **base)
        log.info("desk: submitted %s for %s through %s (run %s)", job, day, self.url, run_id)
        return Launch(run_id=str(run_id), **base)

    def exit_code(self, run_id: str) -> int | None:
        return None

    def known(self, run_id: str) -> Launch | None:
        return None

    def launches(self) -> list[Launch]:
        return []

    def running(self) -> list[Launch]:
        return []  # the runs execute elsewhere (the instance's run launcher)


def launcher_from_env(log_dir: Path, *, env: str) -> SubprocessLauncher | GraphQLLauncher:
    """GraphQL when ``BITBYBIT_DAGSTER_URL`` is set, else detached subprocesses."""
    url = os.environ.get(DAGSTER_URL_ENV, "").strip()
    return GraphQLLauncher(url, env=env) if url else SubprocessLauncher(log_dir)


def dagster_ui_url() -> str:
    """Where run links point (the editor's browser): ``BITBYBIT_DAGSTER_UI_URL`` (when the desk
    reaches the webserver at an internal address), else ``BITBYBIT_DAGSTER_URL``, else the local
    ``make ui`` address."""
    for name in (DAGSTER_UI_URL_ENV, DAGSTER_URL_ENV):
        value = os.environ.get(name, "").strip()
        if value:
            return value.rstrip("/")
    return DEFAULT_DAGSTER_UI
