"""One ``newsletters`` row per day from ``enhanced_articles``: copy, HTML, text, files."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from bitbybit_assets.editorial.apply import apply_issue_edits
from bitbybit_assets.editorial.overrides import Override
from bitbybit_assets.publish import subject
from bitbybit_assets.publish.files import write_newsletter_files
from bitbybit_assets.publish.render import NewsletterSettings, Rendered, render_newsletter
from bitbybit_assets.schemas import NEWSLETTERS

log = logging.getLogger(__name__)


@dataclass
class DayResult:
    day: date
    row: dict
    rendered: Rendered
    html_path: Path | None
    text_path: Path | None
    copy: subject.Copy


def build_day(
    day: date,
    articles: list[dict],
    *,
    settings: NewsletterSettings,
    session: Any = None,
    write_files: bool = True,
    output_base: Path | None = None,
    generated_at: datetime | None = None,
    overrides: list[Override] | None = None,
) -> DayResult:
    """Copy, render and (optionally) write the newsletter of ``day`` from its picks; the editor's
    subject / preheader / intro (``overrides``) replace the generated copy."""
    articles = sorted(articles, key=lambda a: a.get("rank") or 10**6)
    if len(articles) < settings.min_articles:
        log.warning("%s: only %d articles (min_articles %d)", day, len(articles), settings.min_articles)
    make = subject.llm_copy if session is not None else None
    kwargs = {"day": day, "newsletter_title": settings.title, "n": settings.subject_candidates}
    copy = make(session, articles, **kwargs) if make else subject.offline_copy(articles, **kwargs)
    copy, edited = apply_issue_edits(copy, overrides or [])
    rendered = render_newsletter(articles, copy, day=day, settings=settings)
    html_path = text_path = None
    if write_files:
        html_path, text_path = write_newsletter_files(day, rendered.html, rendered.text, output_base)
    row = {
        "partition_date": day,
        "newsletter_id": rendered.newsletter_id(day),
        "subject_line": copy.subject_line,
        "subject_candidates": copy.subject_candidates,
        "preheader": copy.preheader,
        "intro": copy.intro,
        "sections_json": json.dumps(rendered.sections, ensure_ascii=False),
        "html": rendered.html,
        "text": rendered.text,
        "article_ids": rendered.article_ids,
        "article_count": len(rendered.article_ids),
        "html_bytes": rendered.html_bytes,
        "generated_at": generated_at or datetime.now(UTC),
        "llm_cost_usd": float(copy.cost_usd),
        "copy_source": copy.source,
        "list_unsubscribe": rendered.list_unsubscribe,
        "trimmed": rendered.trimmed,
        "edited_fields": edited,
    }
    return DayResult(day, row, rendered, html_path, text_path, copy)


def build_newsletters(
    enhanced: pl.DataFrame,
    days: list[date],
    *,
    settings: NewsletterSettings | None = None,
    session: Any = None,
    write_files: bool = True,
    output_base: Path | None = None,
    overrides: dict[date, list[Override]] | None = None,
) -> tuple[pl.DataFrame, list[DayResult]]:
    """``newsletters`` rows for ``days`` (a day without picks gets no newsletter); ``overrides``:
    each day's editorial overrides (issue edits)."""
    settings = settings or NewsletterSettings()
    results: list[DayResult] = []
    for day in days:
        picks = enhanced.filter(pl.col("partition_date") == day).to_dicts() if not enhanced.is_empty() else []
        if not picks:
            log.warning("%s: no enhanced articles, no newsletter", day)
            continue
        results.append(
            build_day(
                day,
                picks,
                settings=settings,
                session=session,
                write_files=write_files,
                output_base=output_base,
                overrides=(overrides or {}).get(day),
            )
        )
    df = pl.DataFrame([r.row for r in results], schema=NEWSLETTERS)
    return df, results
