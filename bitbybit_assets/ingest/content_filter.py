"""The content filter: one decision and one reason per entry. No Dagster here."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from bitbybit_base.settings import ContentFilterSettings

# A Latin word or one CJK character (the same unit as parsing.word_count).
_WORDISH = r"[A-Za-z\u00c0-\u024f0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"

REASONS = (
    "missing_title",
    "missing_url",
    "blocked_title",
    "blocked_domain",
    "blocked_keyword",
    "too_short",
    "outside_day",
    "language",
    "duplicate_url",
)


def _first_reason(checks: list[tuple[str, pl.Expr]]) -> pl.Expr:
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for reason, failed in reversed(checks):
        expr = pl.when(failed).then(pl.lit(reason)).otherwise(expr)
    return expr


def _any_pattern(column: str, patterns: list[str], *, literal: bool) -> pl.Expr:
    if not patterns:
        return pl.lit(False)
    joined = "|".join(re.escape(p.lower()) if literal else p for p in patterns)
    return pl.col(column).fill_null("").str.to_lowercase().str.contains(f"(?i){joined}" if not literal else joined)


def _outside_day(oldest: datetime, newest: datetime) -> pl.Expr:
    """Published before ``oldest`` or from ``newest`` on. A date at midnight on the first of a month
    is read as "some time that month" (too old only when the whole month is): feeds with month-granular
    dates (DeepMind's blog dates every August post "01 Aug 00:00") would otherwise drop a post that is
    new in the feed today but carries a date up to a month back."""
    pub = pl.col("published_at")
    month_only = pub.dt.truncate("1mo") == pub
    too_old = pl.when(month_only).then(pub.dt.offset_by("1mo") <= oldest).otherwise(pub < oldest)
    return pub.is_not_null() & (too_old | (pub >= newest))


def apply_content_filter(entries: pl.DataFrame, day: date, cfg: ContentFilterSettings) -> pl.DataFrame:
    """Add ``passed_filter``, ``filter_reason`` and ``duplicate_of`` to one day's entries.

    Checks run in the order of REASONS; the first failing check is the reason. Among entries that
    pass every other check, entries sharing a canonical URL keep one copy (richest text, then most
    trusted feed, then feed name) and the others point at it through ``duplicate_of``. A row with a
    ``translated_by`` value (see :mod:`bitbybit_assets.ingest.translation`) passes the language check.
    """
    if entries.is_empty():
        return entries.with_columns(
            pl.lit(None, dtype=pl.Boolean).alias("passed_filter"),
            pl.lit(None, dtype=pl.String).alias("filter_reason"),
            pl.lit(None, dtype=pl.String).alias("duplicate_of"),
        )
    day_start = datetime.combine(day, time.min, tzinfo=UTC)
    oldest = day_start - timedelta(days=cfg.max_age_days)
    newest = day_start + timedelta(days=1, hours=cfg.max_future_hours)
    allowed = [lang.lower() for lang in cfg.allowed_languages]
    blocked_domains = [d.lower().removeprefix("www.") for d in cfg.blocked_domains]
    text_len = pl.col("title").fill_null("").str.len_chars() + pl.col("clean_text").fill_null("").str.len_chars()
    title_words = pl.col("title").fill_null("").str.count_matches(_WORDISH)
    domain = pl.col("domain").fill_null("")
    domain_blocked = (
        pl.any_horizontal([(domain == d) | domain.str.ends_with("." + d) for d in blocked_domains])
        if blocked_domains
        else pl.lit(False)
    )
    language_ok = pl.col("language").fill_null("und").is_in(allowed)
    if "translated_by" in entries.columns:  # translated into the newsletter's language (translation.py)
        language_ok = language_ok | pl.col("translated_by").is_not_null()
    checks = [
        ("missing_title", pl.col("title").fill_null("").str.strip_chars() == ""),
        ("missing_url", pl.col("canonical_url").is_null()),
        ("blocked_title", _any_pattern("title", cfg.blocked_title_patterns, literal=False)),
        ("blocked_domain", domain_blocked),
        (
            "blocked_keyword",
            _any_pattern("title", cfg.blocked_keywords, literal=True)
            | _any_pattern("clean_text", cfg.blocked_keywords, literal=True),
        ),
        ("too_short", (text_len < cfg.min_chars) | (title_words + pl.col("word_count") < cfg.min_words)),
        ("outside_day", _outside_day(oldest, newest)),
        ("language", ~language_ok if allowed else pl.lit(False)),
    ]
    decided = entries.with_columns(_first_reason(checks).alias("filter_reason")).with_columns(
        pl.col("filter_reason").is_null().alias("_ok")
    )
    ranked = decided.sort(
        ["word_count", "feed_trust", "feed_name", "position"],
        descending=[True, True, False, False],
        nulls_last=True,
    ).with_columns(pl.int_range(pl.len()).over(["canonical_url", "_ok"]).alias("_dup_rank"))
    keeper = (
        ranked.filter(pl.col("_ok") & (pl.col("_dup_rank") == 0))
        .select("canonical_url", pl.col("entry_key").alias("_keeper"))
    )
    out = ranked.join(keeper, on="canonical_url", how="left", nulls_equal=False).with_columns(
        pl.when(pl.col("_ok") & (pl.col("_dup_rank") > 0))
        .then(pl.lit("duplicate_url"))
        .otherwise(pl.col("filter_reason"))
        .alias("filter_reason"),
    )
    out = out.with_columns(
        pl.when(pl.col("filter_reason") == "duplicate_url").then(pl.col("_keeper")).alias("duplicate_of"),
        pl.col("filter_reason").is_null().alias("passed_filter"),
    )
    order = entries.columns
    return out.drop("_dup_rank", "_keeper", "_ok").sort(["feed_name", "position"]).select(
        *order, "passed_filter", "filter_reason", "duplicate_of"
    )
