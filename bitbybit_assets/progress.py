"""Progress of a run or a backfill as plain values (no Dagster): the estimate of the time left, the
one line per day and stage the CLI prints, and which days a resume still has to run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from bitbybit_base.days import days_between


def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """``days`` as the fewest (first, last) runs of consecutive days, in order."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def days_to_resume(start: date, end: date, done: Iterable[date]) -> list[date]:
    """The days of ``start..end`` that are not ``done`` (published): what ``--resume`` runs."""
    finished = set(done)
    return [d for d in days_between(start, end) if d not in finished]


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class Eta:
    """Time left from the pace so far: ``total`` units of work (a step over N days is N units),
    ``done`` of them finished after ``elapsed`` seconds."""

    total: float
    clock: Callable[[], float] = time.monotonic
    done: float = 0.0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def add(self, units: float) -> None:
        self.done = min(self.total, self.done + units)

    def grow(self, units: float) -> None:
        """More work than planned (e.g. a range retried day by day)."""
        self.total += units

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def seconds_left(self) -> float | None:
        if self.done <= 0:
            return None
        return self.elapsed * (self.total - self.done) / self.done


def stage_line(day: str, stage: str, *, rows: int | None = None, seconds: float | None = None,
               days_in_step: int = 1, status: str = "ok", eta: float | None = None, note: str = "") -> str:
    """``2026-08-03  scored_articles       412 rows   61.2s/5 days  ETA 1m20s``."""
    count = f"{rows:>7} rows" if rows is not None else " " * 12
    took = "" if seconds is None else f"{seconds:6.1f}s" + (f"/{days_in_step} days" if days_in_step > 1 else "")
    flag = "" if status == "ok" else f" {status.upper()}"
    left = f"  ETA {format_seconds(eta)}" if eta is not None else ""
    tail = f"  {note}" if note else ""
    return f"{day:<10}  {stage:<32}{count}  {took:<14}{flag}{left}{tail}".rstrip()
