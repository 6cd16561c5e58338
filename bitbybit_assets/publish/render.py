"""Render a day's newsletter: Jinja2 templates -> HTML (CSS inlined by css-inline) and plain text.

The HTML template autoescapes everything; every link goes through :func:`sanitize.safe_url` first
(non-http(s) links are dropped, the text stays). When the HTML is larger than ``max_html_bytes``
(Gmail clips at ~102 KB) it is trimmed step by step: hero image, extra "also covered by" links,
tags, summaries down to one sentence, then the lowest-ranked stories down to ``min_articles``, then
shorter headlines and no summaries, and only then stories below ``min_articles``; each step is
recorded. Every field shown is capped in length (:data:`FIELD_CAPS`), so one huge feed value can
never push the other stories out. On a quiet day (``quiet_day``: fewer picks than ``top_n`` passed
the curation floor) a line under the intro says so instead of padding the issue with weak stories.
"""

from __future__ import annotations

import hashlib
import textwrap
import uuid
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from bitbybit_assets.enhance.summary import SOURCE_NOTES, source_label
from bitbybit_assets.ingest.translation import language_name
from bitbybit_assets.publish.sanitize import display_domain, plain_text, safe_unsubscribe_url, safe_url
from bitbybit_assets.publish.subject import Copy
from bitbybit_assets.text import split_sentences
from bitbybit_base.settings import NewsletterSettings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
NEWSLETTER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/bitbybit-news/bitbybit/newsletter")

SECTION_ORDER: list[tuple[str, str]] = [
    ("top", "Top story"),
    ("news", "News"),
    ("release", "Releases"),
    ("research", "Research"),
    ("tutorial", "Tutorials & guides"),
    ("opinion", "Opinion & analysis"),
    ("funding", "Funding & business"),
    ("other", "More reads"),
]
TRIM_STEPS = ("hero_image", "also_covered_by", "tags", "summaries_one_sentence")
# after dropping stories down to min_articles: make every story smaller before dropping more
COMPACT_STEPS = ("short_titles", "no_summaries")
# characters shown at most per field (plain text, before HTML escaping)
FIELD_CAPS = {"title": 300, "short_title": 120, "summary": 700, "tag": 40, "source": 60, "domain": 80}


@dataclass
class Rendered:
    html: str
    text: str
    sections: list[dict]  # [{"key", "title", "entry_keys"}]
    article_ids: list[str]  # entry_keys in newsletter order
    html_bytes: int
    trimmed: list[str] = field(default_factory=list)
    list_unsubscribe: str | None = None
    quiet_day: bool = False

    def newsletter_id(self, day: date) -> str:
        digest = hashlib.sha256(self.html.encode()).hexdigest()
        return str(uuid.uuid5(NEWSLETTER_NAMESPACE, f"{day.isoformat()}/{digest}"))


# ---------------------------------------------------------------- templates


def _wrap(text: str, width: int = 78, indent: str = "", first: bool = True) -> str:
    return textwrap.fill(
        plain_text(text),
        width=width,
        initial_indent=indent if first else "",
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _url_line(url: str, prefix: int = 10, indent: str = "   ", width: int = 78) -> str:
    """A URL after a label of ``prefix`` characters, moved to its own line when it would not fit."""
    return url if prefix + len(url) <= width else f"\n{indent}{url}"


@cache
def _environments() -> tuple[Environment, Environment]:
    loader = FileSystemLoader(str(TEMPLATES))
    html_env = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
    text_env = Environment(
        loader=loader, autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    text_env.filters["wrap"] = _wrap
    text_env.filters["url_line"] = _url_line
    return html_env, text_env


@cache
def _css() -> str:
    return (TEMPLATES / "newsletter.css").read_text(encoding="utf-8")


_INLINER = css_inline.CSSInliner(
    keep_style_tags=False,
    keep_at_rules=True,  # @media (dark mode, mobile) stays in a <style> for clients that read it
    load_remote_stylesheets=False,
    keep_link_tags=False,
    minify_css=True,
    apply_width_attributes=True,
)


# ---------------------------------------------------------------- the view


def _without_title(summary: str, title: str) -> str:
    """The summary without a first sentence that only repeats the headline shown above it."""
    head = title.rstrip(".!?… ").lower()
    if head and summary.lower().startswith(head):
        rest = summary[len(head) :].lstrip(".!?… ")
        if rest:
            return rest
    return summary


def _article_view(row: dict, *, number: int, top: bool, settings: NewsletterSettings, trim: set[str]) -> dict:
    caps = FIELD_CAPS
    url = safe_url(row.get("url"))
    raw_domain = plain_text(row.get("domain"), max_chars=caps["domain"])
    source = plain_text(
        source_label(plain_text(row.get("feed_name"), max_chars=caps["source"]), raw_domain),
        max_chars=caps["source"],
    )
    domain = plain_text(display_domain(url, raw_domain), max_chars=caps["domain"])
    title_cap = caps["short_title"] if "short_titles" in trim else caps["title"]
    title = plain_text(row.get("title"), max_chars=title_cap) or "Untitled"
    summary = _without_title(plain_text(row.get("summary"), max_chars=caps["summary"]), title)
    if summary.startswith(SOURCE_NOTES) or "no_summaries" in trim:
        summary = ""  # a title-only link: the headline and source line say it all
    if "summaries_one_sentence" in trim:
        summary = (split_sentences(summary) or [summary])[0]
    also = []
    limit = 1 if "also_covered_by" in trim else settings.max_also_covered
    for other in row.get("also_covered_by") or []:
        if len(also) >= limit:
            break
        other_url = safe_url((other or {}).get("url"))
        if other_url and len(also) < limit:
            also.append(
                {
                    "name": plain_text(
                        source_label(
                            plain_text(other.get("feed_name"), max_chars=caps["source"]), display_domain(other_url)
                        ),
                        max_chars=caps["source"],
                    ),
                    "title": plain_text(other.get("title"), max_chars=120),
                    "url": other_url,
                }
            )
    image = (
        safe_url(row.get("image_url")) if top and settings.hero_image and "hero_image" not in trim else None
    )
    translated = bool(row.get("translated_by")) and bool(row.get("original_language"))
    translated_from = language_name(row.get("original_language")) if translated else ""
    try:
        reading = min(999, max(1, int(row.get("reading_time_minutes") or 1)))
    except (TypeError, ValueError, OverflowError):
        reading = 1
    return {
        "entry_key": row["entry_key"],
        "number": number,
        "top": top,
        "title": title,
        # a pick translated in ingest: the note after its title, its original title (link tooltip)
        "title_note": f" (translated from {translated_from})" if translated else "",
        "original_title": plain_text(row.get("original_title"), max_chars=caps["title"]) if translated else "",
        "url": url,
        "source": source,
        "domain": domain,
        "reading_time": reading,
        "meta": " · ".join(
            x
            for x in (source, domain if domain.lower() != source.lower() else "", f"{reading} min read")
            if x
        ),
        "summary": summary,
        "tags": [] if "tags" in trim else [plain_text(t, max_chars=caps["tag"]) for t in (row.get("tags") or [])[:5]],
        "also": also,
        "image_url": image,
        "image_alt": title,
    }


def build_sections(articles: list[dict], *, settings: NewsletterSettings, trim: set[str]) -> list[dict]:
    """The top story, then one section per content type (by rank inside each)."""
    if not articles:
        return []
    ordered = sorted(articles, key=lambda a: a.get("rank") or 10**6)
    groups: dict[str, list[dict]] = {"top": [ordered[0]]}
    known = {k for k, _ in SECTION_ORDER}
    for a in ordered[1:]:
        kind = (a.get("content_type") or "other").lower()
        groups.setdefault(kind if kind in known else "other", []).append(a)
    sections, number = [], 0
    for key, title in SECTION_ORDER:
        rows = groups.get(key) or []
        if not rows:
            continue
        views = []
        for r in rows:
            number += 1
            views.append(_article_view(r, number=number, top=key == "top", settings=settings, trim=trim))
        sections.append({"key": key, "title": title, "articles": views})
    return sections


def quiet_note(count: int) -> str:
    """The line a quiet day's issue carries under the intro."""
    return f"A quiet day: {count} {'story' if count == 1 else 'stories'} met our bar today."


def is_quiet_day(articles: list[dict]) -> bool:
    """Whether the day's picks came out short of ``top_n`` (``quiet_day`` of the picks' rows)."""
    return any(bool(a.get("quiet_day")) for a in articles)


def _context(
    day: date,
    copy: Copy,
    sections: list[dict],
    settings: NewsletterSettings,
    sources: set[str],
    quiet: bool = False,
) -> dict:
    title = plain_text(settings.title) or "bitbybit"
    unsubscribe = safe_unsubscribe_url(settings.unsubscribe_url) or "#unsubscribe"
    llm = bool(sources & {"llm", "llm_cache"})
    offline = bool(sources & {"offline", "offline_fallback"})
    note = (
        "written by an AI model or extracted from the articles"
        if llm and offline
        else "written by an AI model"
        if llm
        else "extracted from the articles"
    )
    head, tail = (title[:-3], title[-3:]) if title.lower().endswith("bit") and len(title) > 3 else (title, "")
    count = sum(len(s["articles"]) for s in sections)
    return {
        "title": title,
        "brand_head": head,
        "brand_tail": tail,
        "tagline": plain_text(settings.tagline),
        "subject": plain_text(copy.subject_line, max_chars=200),
        "preheader": plain_text(copy.preheader, max_chars=200),
        "intro": plain_text(copy.intro, max_chars=800),
        "date_long": f"{day:%A}, {day:%B} {day.day}, {day.year}",
        "year": day.year,
        "article_count": count,
        "quiet_note": quiet_note(count) if quiet else "",
        "sections": sections,
        "unsubscribe_url": unsubscribe,
        "list_unsubscribe": unsubscribe
        if unsubscribe.startswith(("http", "mailto:", "{", "*", "%", "["))
        else None,
        "summary_note": note,
        "heading": title.upper(),
        "footer": f"You are receiving {title} because you subscribed to the daily digest. Summaries are {note}.",
    }


def render_html(ctx: dict) -> str:
    html_env, _ = _environments()
    raw = html_env.get_template("newsletter.html.j2").render(**ctx, css=Markup(_css()))
    return _INLINER.inline(raw)


def render_text(ctx: dict, width: int = 78) -> str:
    _, text_env = _environments()
    text_env.filters["wrap"] = lambda t, indent="", first=True: _wrap(t, width, indent, first)
    text_env.filters["url_line"] = lambda u, prefix=10, indent="   ": _url_line(u, prefix, indent, width)
    out = text_env.get_template("newsletter.txt.j2").render(**ctx)
    lines = [line.rstrip() for line in out.splitlines()]
    cleaned: list[str] = []
    for line in lines:  # at most one blank line in a row
        if line or (cleaned and cleaned[-1]):
            cleaned.append(line)
    return "\n".join(cleaned).strip() + "\n"


def render_newsletter(
    articles: list[dict], copy: Copy, *, day: date, settings: NewsletterSettings
) -> Rendered:
    """HTML and text of one day from its enhanced articles (dicts of ``enhanced_articles`` rows)."""
    sources = {a.get("summary_source") for a in articles}
    quiet = is_quiet_day(articles)
    ordered = sorted(articles, key=lambda a: a.get("rank") or 10**6)
    trim: set[str] = set()
    trimmed: list[str] = []
    steps = list(TRIM_STEPS)
    compact = list(COMPACT_STEPS)
    keep = max(1, settings.min_articles)
    while True:
        sections = build_sections(ordered, settings=settings, trim=trim)
        ctx = _context(day, copy, sections, settings, sources, quiet)
        html = render_html(ctx)
        size = len(html.encode("utf-8"))
        if size <= settings.max_html_bytes:
            break
        if steps:
            step = steps.pop(0)
        elif len(ordered) > keep:
            step = f"dropped:{ordered.pop()['entry_key']}"
        elif compact:
            step = compact.pop(0)
        elif len(ordered) > 1:  # still too big at min_articles compact stories: drop more, warn
            step = f"dropped:{ordered.pop()['entry_key']}"
        else:
            break  # one story that alone is too big: send it anyway
        if not step.startswith("dropped:"):
            trim.add(step)
        trimmed.append(step)
    text = render_text(ctx, settings.text_width)
    section_rows = [
        {"key": s["key"], "title": s["title"], "entry_keys": [a["entry_key"] for a in s["articles"]]}
        for s in sections
    ]
    article_ids = [k for s in section_rows for k in s["entry_keys"]]
    list_unsub = ctx["list_unsubscribe"]
    return Rendered(
        html=html,
        text=text,
        sections=section_rows,
        article_ids=article_ids,
        html_bytes=size,
        trimmed=trimmed,
        list_unsubscribe=f"<{list_unsub}>" if list_unsub else None,
        quiet_day=quiet,
    )


def preview_text(rendered: Rendered, lines: int = 25) -> str:
    """The first lines of the plain-text version (asset metadata)."""
    return "\n".join(rendered.text.splitlines()[:lines])


def articles_for_day(rows: list[dict[str, Any]], day: date) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("partition_date") == day]
