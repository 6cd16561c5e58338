"""Incidents worth telling a person about, found in plain data (no Dagster, no I/O).

Four kinds, each with a key that names the incident (not the tick that saw it), so the sensor
that sends them (:mod:`sensors.incident_alerts`) alerts once per incident:

* ``newsletter_late``: the newest expected day has no newsletter past its deadline (only that day:
  an old missing day is a backfill's business, never an alert);
* ``warning_checks``: more WARN-level checks than the threshold fail on the newest day;
* ``feed_failing``: a feed failed to fetch N days in a row (key: the feed and the first failing
  day, so a feed that recovers and fails again is a new incident);
* ``llm_budget``: one run spent at least a share of ``llm.budget_usd_per_run``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

KEEP_DAYS = 90  # incident keys are remembered this long (far longer than any incident lasts)


@dataclass(frozen=True)
class Incident:
    key: str  # kind:day[:detail]; the same incident always has the same key
    kind: str
    day: date
    subject: str
    body: str


def _link(ui_url: str | None, path: str) -> str | None:
    return f"{ui_url.rstrip('/')}/{path.lstrip('/')}" if ui_url else None


def _body(lines: Sequence[str], link: str | None) -> str:
    return "\n".join([*lines, *([f"Link: {link}"] if link else [])])


def newest_expected_day(now: datetime, deadline_hour: int, timezone: str) -> date:
    """The newest day whose newsletter is due: day D is due at ``deadline_hour`` of D+1 (local)."""
    local = now.astimezone(ZoneInfo(timezone))
    today = local.date()
    return today - timedelta(days=1 if local.hour >= deadline_hour else 2)


def late_newsletter(day: date, present: bool, deadline_hour: int, ui_url: str | None) -> Incident | None:
    if present:
        return None
    link = _link(ui_url, f"assets/newsletters?partition={day.isoformat()}")
    return Incident(
        key=f"newsletter_late:{day}", kind="newsletter_late", day=day,
        subject=f"newsletter late: {day}",
        body=_body([f"Day: {day}", f"No newsletter for {day} at its deadline ({deadline_hour:02d}:00 the next day).",
                    "Check the day's runs (ingest, scoring, publish) and the failure alerts."], link),
    )


def warning_checks(day: date, failures: Sequence[str], threshold: int, ui_url: str | None) -> Incident | None:
    """``failures``: ``asset:check: why`` of every WARN check failing on ``day``."""
    if len(failures) <= threshold:
        return None
    return Incident(
        key=f"warning_checks:{day}", kind="warning_checks", day=day,
        subject=f"{len(failures)} warning checks failed: {day}",
        body=_body([f"Day: {day}", f"{len(failures)} WARN checks failed (threshold {threshold}):",
                    *(f"- {f}" for f in failures[:20])], _link(ui_url, "asset-groups")),
    )


def failing_feeds(raw_feeds: pl.DataFrame, newest: date, min_days: int, ui_url: str | None) -> list[Incident]:
    """Feeds whose fetch failed (``fetch_status == "error"``) on every day of a run of at least
    ``min_days`` consecutive days ending on ``newest``; a day without a row ends the run."""
    if raw_feeds.is_empty() or not {"partition_date", "feed_name", "fetch_status"} <= set(raw_feeds.columns):
        return []
    errors = (raw_feeds.filter(pl.col("partition_date") <= newest)
              .group_by("feed_name", "partition_date")
              .agg((pl.col("fetch_status") == "error").all().alias("failed")))
    out = []
    for feed, group in errors.group_by("feed_name"):
        failed = {d for d, f in zip(group["partition_date"].to_list(), group["failed"].to_list(), strict=True) if f}
        start = newest
        while start in failed:
            start -= timedelta(days=1)
        streak = (newest - start).days
        if streak < min_days:
            continue
        first = start + timedelta(days=1)
        name = feed[0] if isinstance(feed, tuple) else feed
        out.append(Incident(
            key=f"feed_failing:{name}:{first}", kind="feed_failing", day=newest,
            subject=f"feed failing {streak} days: {name} ({newest})",
            body=_body([f"Day: {newest}", f"Feed {name} failed to fetch on {streak} days in a row (since {first}).",
                        "See raw_feeds.error for the reason; disable or fix the feed on the desk's Feeds page."],
                       _link(ui_url, f"assets/raw_feeds?partition={newest.isoformat()}")),
        ))
    return sorted(out, key=lambda i: i.key)


def llm_budget(calls: pl.DataFrame, budget_usd: float, share: float, ui_url: str | None) -> list[Incident]:
    """Runs whose LLM spend (``llm_calls.cost_usd``, each ``call_id`` once) reached ``share`` of the
    per-run budget; ``budget_skipped`` calls (the cap was hit) are counted in the message."""
    if calls.is_empty() or budget_usd <= 0 or not {"run_id", "cost_usd", "partition_date"} <= set(calls.columns):
        return []
    if "call_id" in calls.columns:
        calls = calls.unique(subset=["call_id"], keep="first", maintain_order=True)
    skipped = (pl.col("status") == "budget_skipped").sum() if "status" in calls.columns else pl.lit(0)
    per_run = (calls.group_by("run_id")
               .agg(pl.col("cost_usd").fill_null(0).sum().alias("cost"), skipped.alias("skipped"),
                    pl.col("partition_date").max().alias("day"))
               .filter(pl.col("cost") >= share * budget_usd).sort("run_id"))
    out = []
    for run_id, cost, skipped_n, day in per_run.iter_rows():
        lines = [f"Day: {day}", f"Run {run_id} spent ${cost:.4f} of its ${budget_usd:.2f} LLM budget "
                 f"({cost / budget_usd:.0%}; alert at {share:.0%})."]
        if skipped_n:
            lines.append(f"{skipped_n} LLM call(s) were skipped at the cap (offline fallback).")
        out.append(Incident(key=f"llm_budget:{run_id}", kind="llm_budget", day=day,
                            subject=f"LLM budget {cost / budget_usd:.0%} used: {day}",
                            body=_body(lines, _link(ui_url, f"runs/{run_id}"))))
    return out


# ---------------------------------------------------------------- once per incident


def read_cursor(cursor: str | None) -> dict[str, str]:
    """Sent incident keys -> the incident's day (ISO), from the sensor cursor."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in (data.get("sent") or {}).items()} if isinstance(data, dict) else {}


def write_cursor(sent: dict[str, str], today: date) -> str:
    """The cursor with keys older than :data:`KEEP_DAYS` dropped."""
    oldest = (today - timedelta(days=KEEP_DAYS)).isoformat()
    return json.dumps({"sent": {k: v for k, v in sorted(sent.items()) if v >= oldest}}, sort_keys=True)


def unsent(incidents: Iterable[Incident], sent: dict[str, str]) -> list[Incident]:
    seen: set[str] = set()
    out = []
    for incident in incidents:
        if incident.key not in sent and incident.key not in seen:
            seen.add(incident.key)
            out.append(incident)
    return out
