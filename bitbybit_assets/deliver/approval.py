"""When a day's newsletter may go out (no Dagster, no database).

``manual``: only once an editor approved exactly the content that is about to be sent.
``auto``: approved by ``auto`` once every blocking check passed and the configured send time of
the day after the partition (the issue covers day D and goes out on D+1) is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SendDecision:
    allowed: bool
    reason: str
    approve_as: str | None = None  # "auto" when the send itself records the approval


def send_due_at(day: date, send_time: str, timezone: str) -> datetime:
    """The moment an auto-approved issue of ``day`` may go out (aware datetime)."""
    hour, minute = (int(x) for x in send_time.split(":"))
    return datetime.combine(day + timedelta(days=1), time(hour, minute), tzinfo=ZoneInfo(timezone))


def decide(*, day: date, mode: str, content_sha256: str, approved_sha256: str | None, approved: bool,
           blocking_failures: list[str], now: datetime, send_time: str, timezone: str) -> SendDecision:
    """Whether the day's newsletter (with this content) may be sent now, and why (not)."""
    if approved and approved_sha256 == content_sha256:
        return SendDecision(True, "approved")
    if approved and approved_sha256 != content_sha256:
        stale = f"{day}: the newsletter changed after it was approved; approve the new version"
        if mode == "manual":
            return SendDecision(False, stale)
    if mode == "manual":
        return SendDecision(False, f"{day}: the newsletter is a draft; approve it first "
                                   f"(bitbybit approve --day {day}, or the desk)")
    if blocking_failures:
        return SendDecision(False, f"{day}: not auto-approved, blocking checks failed: "
                                   + "; ".join(blocking_failures))
    due = send_due_at(day, send_time, timezone)
    if now < due:
        return SendDecision(False, f"{day}: auto approval waits for the send time {due.isoformat()}")
    return SendDecision(True, "auto-approved: blocking checks passed and the send time is reached",
                        approve_as="auto")
