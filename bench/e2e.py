"""The pipeline end to end from the CLI: one day cold and warm, and a backfill in one run.

Every figure comes from a child process (``python -m bitbybit_assets.cli run …``) in a fresh
environment: temporary ``DAGSTER_HOME``, lakehouse, data and output folders, so caches (embeddings,
LLM answers) start empty. Wall time is measured here; CPU time and peak RSS come from the child's
own ``rusage`` (``os.wait4``); the time per stage comes from the run's STEP_START/STEP_SUCCESS
events in that instance's event log.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.corpus import ROOT, archive_days

TAIL_CHARS = 2000
LOG_DIR = ROOT / ".bench" / "logs"  # the children's full output, kept after their temp folders go
# Left out of the children's environment: the benchmark never writes to a configured Postgres and
# keeps the local DuckDB warehouse inside its temporary data folder.
ISOLATE = frozenset({"BITBYBIT_POSTGRES_DSN", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER",
                     "POSTGRES_PASSWORD", "POSTGRES_DB", "BITBYBIT_DUCKDB_PATH", "BITBYBIT_DBT_TARGET"})


@dataclass
class ChildRun:
    """One child process: what it cost and how it ended."""

    command: str
    returncode: int | None
    wall_s: float
    user_s: float
    sys_s: float
    max_rss_mib: float  # peak RSS of the child process itself
    tree_rss_mib: float = 0.0  # peak of the summed PSS of the child and its subprocesses (sampled)
    timed_out: bool = False
    output_tail: str = ""
    run: dict[str, Any] = field(default_factory=dict)  # the Dagster run's steps (see run_summary)

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_s"] = self.cpu_s
        d["ok"] = self.ok
        return d


def _kib(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _pss_kib(pid: int) -> int:
    """Proportional set size (shared pages split between their users; a fork before exec counts
    once), else RSS."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return _kib(pid, "VmRSS")


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for t in tasks:
            try:
                kids = [int(k) for k in (t / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def run_child(args: list[str], env: dict[str, str], log_path: Path, timeout_s: float,
              poll_s: float = 0.1, slow_poll_s: float = 1.0, fast_for_s: float = 10.0) -> ChildRun:
    """Run ``args`` (cwd: the repository) and measure it.

    CPU time comes from ``os.wait4`` (this child and the processes it waited for). Peak RSS is
    sampled from ``/proc``: the child's own ``VmHWM`` (its high-water mark since exec, so no peak is
    missed between samples; rusage's ``ru_maxrss`` would also count the forked copy of this process
    before exec) and the largest sum of PSS over the child and its subprocesses (e.g. dbt; PSS so
    shared pages count once). Polls every ``poll_s``; the PSS sum over the process tree is taken at
    each poll for the first ``fast_for_s`` seconds, then every ``slow_poll_s``: walking every thread's
    children costs CPU that the measured child, on 2 cores, would otherwise have (at every 0.1 s poll
    it took ~17 % of a 30-day backfill's CPU).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    hwm = tree = 0
    last_tree = 0.0
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            hwm = max(hwm, _kib(proc.pid, "VmHWM"))
            now = time.perf_counter()
            if now - t0 < fast_for_s or now - last_tree >= slow_poll_s:
                tree = max(tree, sum(_pss_kib(p) for p in [proc.pid, *_descendants(proc.pid)]))
                last_tree = now
            if time.perf_counter() - t0 > timeout_s:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: only what it started
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(poll_s)
    wall = time.perf_counter() - t0
    if not hwm:  # exited before any sample could read /proc (a child of a few ms): rusage's peak, an upper bound
        hwm = usage.ru_maxrss
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log_path.read_text(errors="replace")
    return ChildRun(
        command=" ".join(args[1:]) if args and args[0] == sys.executable else " ".join(args),
        returncode=proc.returncode,
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        max_rss_mib=hwm / 1024,
        tree_rss_mib=max(tree, hwm) / 1024,
        timed_out=timed_out,
        output_tail=text[-TAIL_CHARS:],
    )


def run_summary(home: Path, since: float | None = None) -> dict[str, Any]:
    """The runs of the instance at ``home`` created at or after ``since`` (a backfill is several runs:
    the range run, one publish run per day, the dbt tests), else its newest run, summed: ids, status,
    seconds in runs, seconds per step (a step of several runs summed)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(limit=None if since is not None else 1)
        if since is not None:
            records = [r for r in records if r.create_timestamp.timestamp() >= since]
        runs = [r.dagster_run for r in sorted(records, key=lambda r: r.create_timestamp)]
        summaries = [_one_run(instance, run) for run in runs]
    if not summaries:
        return {}
    if len(summaries) == 1:
        return summaries[0] | {"runs": 1}
    steps: dict[str, dict[str, Any]] = {}
    for one in summaries:
        for k, v in one["steps"].items():
            st = steps.setdefault(k, {"seconds": 0.0, "ok": True})
            st["seconds"] = None if st["seconds"] is None or v["seconds"] is None else st["seconds"] + v["seconds"]
            st["ok"] = st["ok"] and v["ok"]
    metadata: dict[str, dict[str, float]] = {}
    for one in summaries:
        for asset, nums in one["metadata"].items():
            _add_numbers(metadata.setdefault(asset, {}), nums)
    failed = [one for one in summaries if one["status"] != "SUCCESS"]
    return {
        "run_id": summaries[0]["run_id"],
        "runs": len(summaries),
        "status": failed[0]["status"] if failed else "SUCCESS",
        "run_s": sum(one["run_s"] or 0.0 for one in summaries),
        "steps": steps,
        "assets": sorted({a for one in summaries for a in one["assets"]}),
        "metadata": metadata,
        # a step that materialises in any run (warehouse_dbt) is an asset step, even where another
        # run (warehouse_tests) has it evaluate checks only
        "check_steps": sorted({k for one in summaries for k in one["check_steps"]}
                              - {k for one in summaries for k in one.get("asset_steps", [])}),
        "failed_checks": [c for one in summaries for c in one["failed_checks"]],
        "errors": {k: v for one in summaries for k, v in one["errors"].items()},
    }


def _one_run(instance: Any, run: Any) -> dict[str, Any]:
    """One run: id, status, duration and seconds per step, from its event log."""
    import dagster as dg

    t = dg.DagsterEventType
    kinds = {t.RUN_START, t.RUN_SUCCESS, t.RUN_FAILURE, t.STEP_START, t.STEP_SUCCESS, t.STEP_FAILURE,
             t.ASSET_MATERIALIZATION, t.ASSET_CHECK_EVALUATION}
    logs = instance.all_logs(run.run_id, of_type=kinds)
    start: dict[str, float] = {}
    steps: dict[str, dict[str, Any]] = {}
    run_start = run_end = None
    assets: set[str] = set()
    numbers: dict[str, dict[str, float]] = {}
    check_steps: set[str] = set()
    asset_steps: set[str] = set()  # steps that materialise (an asset step that also runs checks is not a check step)
    failed_checks: list[str] = []
    errors: dict[str, str] = {}
    for entry in logs:
        ev = entry.dagster_event
        if ev is None:
            continue
        kind = ev.event_type
        if kind == t.RUN_START:
            run_start = entry.timestamp
        elif kind in (t.RUN_SUCCESS, t.RUN_FAILURE):
            run_end = entry.timestamp
        elif kind == t.STEP_START and ev.step_key:
            start[ev.step_key] = entry.timestamp
        elif kind in (t.STEP_SUCCESS, t.STEP_FAILURE) and ev.step_key in start:
            if kind == t.STEP_FAILURE:
                err = getattr(ev.event_specific_data, "error", None)
                errors[ev.step_key] = (getattr(err, "message", None) or ev.message or "").strip()[:300]
            steps[ev.step_key] = {
                "seconds": entry.timestamp - start[ev.step_key],
                "ok": kind == t.STEP_SUCCESS,
                "started": start[ev.step_key],
            }
        elif kind == t.ASSET_CHECK_EVALUATION:
            if ev.step_key:
                check_steps.add(ev.step_key)
            data = ev.event_specific_data
            if data is not None and not getattr(data, "passed", True):
                failed_checks.append(f"{data.asset_key.to_user_string()}.{data.check_name}: "
                                     f"{(data.description or '').strip()[:300]}")
        elif kind == t.ASSET_MATERIALIZATION and ev.asset_key is not None:
            name = ev.asset_key.to_user_string()
            assets.add(name)
            if ev.step_key:
                asset_steps.add(ev.step_key)
            _add_numbers(numbers.setdefault(name, {}), ev.event_specific_data.materialization.metadata)
    for key in start.keys() - steps.keys():  # started, never finished (killed)
        steps[key] = {"seconds": None, "ok": False, "started": start[key]}
    ordered = dict(sorted(steps.items(), key=lambda kv: kv[1]["started"]))
    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "run_s": (run_end - run_start) if run_start and run_end else None,
        "steps": {k: {"seconds": v["seconds"], "ok": v["ok"]} for k, v in ordered.items()},
        "assets": sorted(assets),
        "metadata": numbers,
        "check_steps": sorted(check_steps - asset_steps),
        "asset_steps": sorted(asset_steps),
        "failed_checks": failed_checks,
        "errors": errors,
    }


def _add_numbers(into: dict[str, float], metadata: dict[str, Any]) -> None:
    """Numeric materialisation metadata, summed over the partitions of a range run."""
    for key, value in (metadata or {}).items():
        v = getattr(value, "value", value)
        if isinstance(v, int | float) and not isinstance(v, bool):
            into[key] = into.get(key, 0) + v


PREPARE_ENCODER = ["-m", "resources.embeddings", "prepare"]  # what `make setup` runs


def bench_env(tmp: Path, corpus: Path) -> dict[str, str]:
    """A fresh environment under ``tmp``: instance, lakehouse, data and output folders."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    local_yaml = ROOT / "deploy" / "local" / "dagster.yaml"
    if local_yaml.exists():  # what `make run` uses
        shutil.copy(local_yaml, home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ISOLATE}
    env.update(
        BITBYBIT_ENV="local",
        DAGSTER_HOME=str(home),
        BITBYBIT_LAKEHOUSE_ROOT=str(tmp / "lakehouse"),
        BITBYBIT_DATA_DIR=str(tmp / "data"),
        BITBYBIT_OUTPUT_DIR=str(tmp / "output"),
        BITBYBIT_FEED_ARCHIVE=str(corpus.resolve()),
        BITBYBIT_FEED_SOURCE="archive",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        DAGSTER_DISABLE_TELEMETRY="1",
    )
    return env


def llm_mode(env: dict[str, str]) -> str:
    base = env.get("BITBYBIT_LLM_BASE_URL")
    if base:
        return f"LLM endpoint {base}"
    if env.get("BITBYBIT_LLM_API_KEY") or env.get("OPENAI_API_KEY"):
        return "LLM endpoint: OpenAI"
    return "no LLM endpoint configured: the enhancement stage's offline path"


def _cli(start: date, end: date) -> list[str]:
    return [sys.executable, "-m", "bitbybit_assets.cli", "run", "--start", start.isoformat(), "--end", end.isoformat()]


def _measured(args: list[str], env: dict[str, str], tmp: Path, name: str, timeout_s: float) -> ChildRun:
    since = time.time()
    child = run_child(args, env, tmp / f"{name}.log", timeout_s)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp / f"{name}.log", LOG_DIR / f"{tmp.name.split('-')[2]}-{name}.log")
    try:
        child.run = run_summary(Path(env["DAGSTER_HOME"]), since=since)
    except Exception as exc:  # a broken instance must not hide the other figures
        child.run = {"error": f"{type(exc).__name__}: {exc}"}
    return child


def history_window(corpus: Path, day: date, history_days: int) -> tuple[date, date] | None:
    """Archive days before ``day`` that day assignment reads (None when there are none)."""
    earlier = [d for d in archive_days(corpus) if day - timedelta(days=history_days) <= d < day]
    return (earlier[0], earlier[-1]) if earlier else None


def bench_day(corpus: Path, day: date, *, timeout_s: float = 900, keep: bool = False) -> dict[str, Any]:
    """Cold then warm run of ``day``; raw_feeds of the history window are materialised first (untimed)."""
    from bitbybit_base.settings import runtime_settings

    tmp = Path(tempfile.mkdtemp(prefix="bitbybit-bench-day-"))
    try:
        env = bench_env(tmp, corpus)
        out: dict[str, Any] = {"day": day.isoformat(), "corpus": str(corpus), "llm": llm_mode(env)}
        window = history_window(corpus, day, runtime_settings().ingest.history_days)
        if window:
            prep = _measured([sys.executable, "-m", "bench.prep", window[0].isoformat(), window[1].isoformat()],
                             env, tmp, "prep", timeout_s)
            out["prep"] = prep.as_dict() | {"days": [window[0].isoformat(), window[1].isoformat()]}
            if not prep.ok:
                out["error"] = "materialising raw_feeds for the history window failed"
                return out
        # The encoder's one-off conversion (OpenVINO IR in the model cache) belongs to installing the
        # machine, like the virtualenv: done here in its own process, timed but not counted as cold.
        install = _measured([sys.executable, *PREPARE_ENCODER], env, tmp, "install", timeout_s)
        out["install"] = install.as_dict()
        out["cold"] = _measured(_cli(day, day), env, tmp, "cold", timeout_s).as_dict()
        out["warm"] = _measured(_cli(day, day), env, tmp, "warm", timeout_s).as_dict()
        return out
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def bench_backfill(corpus: Path, first: date, last: date, *, timeout_s: float = 1800,
                   keep: bool = False) -> dict[str, Any]:
    """``first..last`` in one CLI run on a fresh lakehouse, after the install step (encoder conversion)."""
    tmp = Path(tempfile.mkdtemp(prefix="bitbybit-bench-backfill-"))
    try:
        env = bench_env(tmp, corpus)
        # as in bench_day: the encoder's conversion belongs to installing (`make setup`), not to the run
        install = _measured([sys.executable, *PREPARE_ENCODER], env, tmp, "install", timeout_s)
        run = _measured(_cli(first, last), env, tmp, "backfill", timeout_s)
        return {"first": first.isoformat(), "last": last.isoformat(), "days": (last - first).days + 1,
                "corpus": str(corpus), "llm": llm_mode(env), "install": install.as_dict(), "run": run.as_dict()}
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
