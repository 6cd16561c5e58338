"""What a run of the pipeline over days came to: per-day results, and why a Dagster run failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg


def error_text(error: Any) -> str:
    """The innermost cause of a serialised Dagster error (the user's exception, not the wrapper)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return (error.message or "").strip() if error else ""


@dataclass
class DayResult:
    day: date
    status: str  # published | failed | done before (resume)
    reason: str = ""
    picks: int | None = None
    newsletter: str | None = None
    run_ids: list[str] = field(default_factory=list)


@dataclass
class BackfillResult:
    days: list[DayResult]
    run_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(d.status != "failed" for d in self.days)

    @property
    def failed(self) -> list[DayResult]:
        return [d for d in self.days if d.status == "failed"]

    def summary(self) -> str:
        published = sum(d.status == "published" for d in self.days)
        failed = self.failed
        text = f"{len(self.days)} day(s): {published} published, {len(failed)} failed"
        if failed:
            text += " (" + ", ".join(d.day.isoformat() for d in failed) + ")"
        return text


def run_failure_reasons(result: dg.ExecuteInProcessResult) -> list[str]:
    """Why a run failed: failed blocking checks (``asset:check: why``) and failed steps with their error."""
    reasons = []
    for ev in result.get_asset_check_evaluations():
        if not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR and ev.blocking:
            why = (ev.description or "").removeprefix("FAILED: ")
            reasons.append(f"{ev.asset_key.to_user_string()}:{ev.check_name}: {why}")
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            text = error_text(error) if error else (event.message or "")
            if "blocking asset check" not in text:
                reasons.append(f"{event.step_key}: {text}")
    return reasons or ["run failed"]
