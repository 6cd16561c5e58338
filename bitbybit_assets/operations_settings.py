"""Operations values derived from more than one settings section (checks, schedule, freshness).

The ``operations:`` section itself is :class:`bitbybit_base.settings.OperationsSettings`
(``settings.operations``); these helpers combine it with thresholds other sections own.
"""

from __future__ import annotations

from bitbybit_base.settings import Settings, SettingsError, runtime_settings


def min_picked_articles(cfg: Settings | None = None) -> int:
    """``operations.checks.min_picked_articles``, else ``newsletter.min_articles``."""
    cfg = cfg or runtime_settings()
    if cfg.operations.checks.min_picked_articles is not None:
        return cfg.operations.checks.min_picked_articles
    return cfg.newsletter.min_articles


def summary_max_words(cfg: Settings | None = None) -> int:
    return (cfg or runtime_settings()).enhancement.summary_max_words


def deadline_hour(cfg: Settings | None = None) -> int:
    """``pipeline.newsletter_deadline_hours`` as an hour of the next day (1..23)."""
    hours = (cfg or runtime_settings()).pipeline.newsletter_deadline_hours
    if not 1 <= hours <= 23:
        raise SettingsError(
            f"pipeline.newsletter_deadline_hours={hours}: must be 1..23 (hours after the end of the day)"
        )
    return hours
