"""dbt in this process (``dbtRunner``) behind dagster-dbt's ``DbtCliInvocation``.

dagster-dbt starts ``dbt`` as a subprocess for every invocation: a new interpreter importing dbt-core
and its adapter (≈ 2.5 s of CPU on a small machine) before dbt does any work, once per day's run. This
process has already imported dbt (dagster-dbt needs it to read the manifest), so the invocation runs
here instead: :class:`InProcessDbtInvocation` runs the same command line through ``dbtRunner`` with the
same environment (target path, log path, profiles, indirect selection), collects dbt's events as the
JSON lines the subprocess would have printed, and hands them to dagster-dbt's own event handling (asset
materialisations, asset checks, errors) unchanged. dbt runs to completion before its events are
streamed. One invocation at a time per process (dbt keeps global state).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dagster_dbt.core.resource as dbt_resource_module
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

T = TypeVar("T")
_LOCK = threading.RLock()
PARTIAL_PARSE = "partial_parse.msgpack"
SHOWN_LEVELS = ("info", "warn", "error")  # what the subprocess prints (dbt's default log level)
# variables dagster-dbt sets for the dbt subprocess that dbt reads as its flags
DBT_VARIABLES = ("DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_PROFILES_DIR", "DBT_PROJECT_DIR",
                 "DBT_INDIRECT_SELECTION", "DBT_SEND_ANONYMOUS_USAGE_STATS", "DAGSTER_DBT_CLI")


@dataclass
class FinishedDbt:
    """What dagster-dbt reads from a finished ``subprocess.Popen``: args, exit code, output lines."""

    args: list[str]
    returncode: int
    stdout: io.BytesIO = field(default_factory=io.BytesIO)

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode

    def poll(self) -> int:
        return self.returncode

    def send_signal(self, signal: int) -> None:  # finished already: nothing to interrupt
        return None


@contextmanager
def exported(env: Mapping[str, str]) -> Iterator[None]:
    """``env`` set in ``os.environ`` for the block, the previous values (or their absence) restored."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_dbt(args: Sequence[str], env: Mapping[str, str]) -> FinishedDbt:
    """``dbt <args>`` through ``dbtRunner`` in this process; its info/warn/error events as JSON lines."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    lines: list[bytes] = []

    def collect(msg: Any) -> None:
        if msg.info.level in SHOWN_LEVELS:
            lines.append(json.dumps(msg_to_dict(msg)).encode() + b"\n")

    with _LOCK, exported({k: env[k] for k in DBT_VARIABLES if k in env}), _cheap_flag_sources():
        try:
            result = dbtRunner(callbacks=[collect]).invoke([*args, "--quiet", "--no-use-colors"])
        finally:
            _release_connections()
    if result.exception is not None:
        lines.append(f"dbt failed in process: {type(result.exception).__name__}: {result.exception}\n".encode())
    code = 0 if result.success else (2 if result.exception is not None else 1)
    return FinishedDbt(args=["dbt", *args], returncode=code, stdout=io.BytesIO(b"".join(lines)))


@contextmanager
def _cheap_flag_sources() -> Iterator[None]:
    """dbt-common names the module that registered each adapter behaviour flag by walking
    ``inspect.stack()``, which reads the source lines of every frame: under a Dagster step (~100 frames
    deep) that took ~1 s per dbt invocation. The same answer (the first caller outside dbt-common's
    ``behavior_flags``) from the frames' globals, for the invocation."""
    import sys

    from dbt_common import behavior_flags

    def default_source() -> str:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_globals.get("__name__")
            if name and name != behavior_flags.__name__:
                return str(name)
            frame = frame.f_back
        return "Unknown"

    original = behavior_flags.BehaviorFlagRendered.__dict__["_default_source"]
    behavior_flags.BehaviorFlagRendered._default_source = staticmethod(default_source)  # type: ignore[method-assign]
    try:
        yield
    finally:
        behavior_flags.BehaviorFlagRendered._default_source = original  # type: ignore[method-assign]


def echo_to_log(events: Iterator[T], log: Callable[[str], None]) -> Iterator[T]:
    """``events``, with what producing each one writes to ``sys.stdout`` passed to ``log`` instead.

    dagster-dbt re-prints every dbt event on the process's stdout (``DbtCliInvocation.stream_raw_events``),
    which put ~80 lines per day on the console of ``bitbybit run``; the events themselves still reach
    Dagster (materialisations, checks), and ``log`` keeps the lines in the run's event log (the UI).
    Only the producer's own writes are captured: stdout is redirected around each ``next``, not while
    the consumer handles the event."""
    it = iter(events)
    while True:
        buf = io.StringIO()
        done = False
        try:
            with redirect_stdout(buf):
                try:
                    item = next(it)
                except StopIteration:
                    done = True
        finally:
            if buf.getvalue().strip():
                log(buf.getvalue().rstrip())
        if done:
            return
        yield item


def _release_connections() -> None:
    """Close what dbt keeps open between in-process invocations: its adapters' connections and
    dbt-duckdb's process-wide DuckDB instance. Left open, the warehouse file stays held by this process
    with dbt's configuration, and the next reader here (loads, exports, the desk's queries, tests)
    fails or sees the file as it was before dbt's writes were checkpointed."""
    from dbt.adapters.factory import reset_adapters

    reset_adapters()
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # no DuckDB adapter installed: nothing more is held
        return
    with DuckDBConnectionManager._LOCK:
        env, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if env is not None:
        env.close()


class InProcessDbtInvocation(DbtCliInvocation):
    """``DbtCliInvocation.run`` with dbt run here (see the module doc); everything else inherited."""

    @classmethod
    def run(cls, args: Sequence[str], env: dict[str, str], manifest: Mapping[str, Any], dagster_dbt_translator: Any,
            project_dir: Path, target_path: Path, raise_on_error: bool, context: Any, adapter: Any,
            cli_version: Any, dbt_project: Any = None) -> DbtCliInvocation:
        target_path.mkdir(parents=True, exist_ok=True)
        kept = project_dir / "target" / PARTIAL_PARSE  # as dagster-dbt does: reuse the project's parse state
        if kept.exists() and not (target_path / PARTIAL_PARSE).exists():
            shutil.copyfile(kept, target_path / PARTIAL_PARSE)
        process = run_dbt(list(args)[1:], env)  # args[0] is the dbt executable
        return cls(process=process, manifest=manifest, project=dbt_project,  # type: ignore[arg-type]
                   dagster_dbt_translator=dagster_dbt_translator, project_dir=project_dir, target_path=target_path,
                   raise_on_error=raise_on_error, context=context, adapter=adapter, cli_version=cli_version)


@contextmanager
def in_process_invocations() -> Iterator[None]:
    """While open, dagster-dbt's ``DbtCliResource.cli`` builds :class:`InProcessDbtInvocation` (it names
    ``DbtCliInvocation`` from its module; dagster-dbt is pinned in ``uv.lock``)."""
    with _LOCK:
        original = dbt_resource_module.DbtCliInvocation
        dbt_resource_module.DbtCliInvocation = InProcessDbtInvocation  # type: ignore[misc]
        try:
            yield
        finally:
            dbt_resource_module.DbtCliInvocation = original  # type: ignore[misc]
