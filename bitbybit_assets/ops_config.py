"""The ``operations:`` section of ``config/production.yaml`` (schedule, checks, alerts, sensors).

Read at call time through :func:`operations_settings`; thresholds that other sections own
(``newsletter.min_articles``, ``enhancement.summary_max_words``, ``pipeline.*``) are read from there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bitbybit_assets import settings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckSettings(_Section):
    # null: newsletter.min_articles (then 10)
    min_picked_articles: int | None = Field(None, ge=1)
    # WARN when more than this share of the day's feeds failed to fetch (status "error")
    max_failed_feed_share: float = Field(0.25, ge=0.0, le=1.0)
    # per-day row floors (WARN); tables not listed need at least one row
    min_rows: dict[str, int] = {}
    allowed_link_schemes: list[str] = ["http", "https"]
    # newsletter HTML may hold merge tags such as {{unsubscribe_url}} (filled in by the mail tool)
    allow_merge_tags: bool = True


class AlertSettings(_Section):
    channel: Literal["log", "sns", "webhook", "smtp"] = "log"
    timeout_seconds: float = Field(10.0, gt=0)
    max_attempts: int = Field(3, ge=1, le=10)
    backoff_seconds: float = Field(2.0, ge=0)
    subject_prefix: str = "[bitbybit]"
    ui_url: str | None = None  # Dagster UI base URL, for a link to the failed run
    smtp_starttls: bool = True


class ConfigChangeSettings(_Section):
    # observe: record what changed as an observation of raw_feeds (new feeds are picked up by the
    # next run or a backfill); request_raw_feeds: also re-materialise raw_feeds for the latest day.
    on_new_feed: Literal["observe", "request_raw_feeds"] = "observe"
    interval_seconds: int = Field(60, ge=10)


class RunTrackingSettings(_Section):
    enabled: bool = True
    emit_metrics: bool = True  # observation with run metrics on newsletters after a successful run


class OperationsSettings(_Section):
    start_running: bool = True  # schedules and sensors start RUNNING (a toggle in the UI wins)
    checks: CheckSettings = CheckSettings()
    alerts: AlertSettings = AlertSettings()
    config_change: ConfigChangeSettings = ConfigChangeSettings()
    run_tracking: RunTrackingSettings = RunTrackingSettings()


def operations_settings(cfg: settings.Settings | None = None) -> OperationsSettings:
    cfg = cfg or settings.load_settings()
    try:
        return OperationsSettings.model_validate(cfg.operations or {})
    except ValueError as exc:
        raise settings.SettingsError(f"operations settings: {exc}") from exc


def min_picked_articles(cfg: settings.Settings | None = None) -> int:
    """``operations.checks.min_picked_articles``, else ``newsletter.min_articles``, else 10."""
    cfg = cfg or settings.load_settings()
    ops = operations_settings(cfg)
    if ops.checks.min_picked_articles is not None:
        return ops.checks.min_picked_articles
    return int((cfg.newsletter or {}).get("min_articles", 10))


def summary_max_words(cfg: settings.Settings | None = None) -> int:
    cfg = cfg or settings.load_settings()
    return int((cfg.enhancement or {}).get("summary_max_words", 60))


def deadline_hour(cfg: settings.Settings | None = None) -> int:
    """``pipeline.newsletter_deadline_hours`` as an hour of the next day (1..23)."""
    cfg = cfg or settings.load_settings()
    hours = cfg.pipeline.newsletter_deadline_hours
    if not 1 <= hours <= 23:
        raise settings.SettingsError(
            f"pipeline.newsletter_deadline_hours={hours}: must be 1..23 (hours after the end of the day)"
        )
    return hours
