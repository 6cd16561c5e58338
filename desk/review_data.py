"""What the day review shows and checks: the day's candidates from the lakehouse with the editors'
overrides applied (the picks the next run will build), sorting and filtering, and the validation of
edits. No web framework here: :mod:`desk.review` serves it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

import polars as pl

from bitbybit_assets.editorial.apply import Report, apply_selection
from bitbybit_assets.editorial.overrides import (
    ARTICLE_FIELDS,
    ISSUE_FIELDS,
    Effective,
    Override,
    effective_overrides,
)

SCORED_COLUMNS = [
    "partition_date",
    "entry_key",
    "title",
    "url",
    "feed_name",
    "domain",
    "quality_score",
    "tech_relevance_score",
    "final_score",
    "rank",
    "selected",
    "selection_reason",
    "is_advertisement",
    "ad_score",
    "ad_reason",
    "content_type",
    "cluster_id",
    "cluster_size",
    "is_canonical",
    "canonical_entry_key",
    "also_covered_by",
    "previously_sent",
    "passed_filter",
    "filter_reason",
    "quiet_day",
]
ENHANCED_COLUMNS = ["entry_key", "title", "summary", "tags", "summary_source"]
NEWSLETTER_COLUMNS = ["subject_line", "preheader", "intro"]
COPY_COLUMNS = {"subject": "subject_line", "preheader": "preheader", "intro": "intro"}
SHOWS = ("all", "selected", "dropped", "ads")
LIMITS = {"title": 300, "summary": 2000, "subject": 200, "preheader": 200, "intro": 800, "tag": 40}


class EditError(ValueError):
    """An edit the desk refuses (empty, too long, unknown article, not a pick)."""


@dataclass
class Candidate:
    """One row of the review table."""

    key: str
    title: str
    url: str | None
    source: str
    quality: float | None
    relevance: float | None
    final: float | None
    rank: int | None
    pipeline_pick: bool
    reason: str
    ad: bool
    ad_score: float | None
    ad_reason: str | None
    content_type: str
    cluster_id: str | None
    cluster_size: int
    also: list[str]
    canonical_key: str | None
    filtered: str | None
    status: str = "out"  # pick | dropped | out
    position: int | None = None  # 1-based place in the newsletter (picks)
    pick_source: str | None = None  # pipeline | pin | replacement
    note: str = ""  # why an editor's action changed it
    edited: list[str] = field(default_factory=list)


@dataclass
class DayReview:
    """A day's candidates with the overrides applied, and the values the edit forms start from."""

    day: date
    revision: int
    overrides: list[Override]
    effective: Effective
    report: Report
    candidates: list[Candidate]
    by_key: dict[str, Candidate]
    picks: list[Candidate]
    snapshot_revision: int | None = None  # the revision the last run applied (None: never ran with edits)
    issue: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {value, edited}
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry_key -> enhanced values
    quiet_day: bool = False  # fewer than top_n candidates passed the curation floor (the issue says so)

    @property
    def pipeline_picks(self) -> int:
        """How many candidates the pipeline picked (before the editors' overrides)."""
        return sum(c.pipeline_pick for c in self.candidates)

    @property
    def pending_rerun(self) -> bool:
        """Edits were saved after the last run took its snapshot."""
        return self.revision > (self.snapshot_revision or 0)

    def article_values(self, key: str) -> dict[str, Any]:
        """title / summary / tags as the editor sees them: the latest edit, else the last run's."""
        base = self.articles.get(key, {})
        cand = self.by_key.get(key)
        values = {
            "title": base.get("title") or (cand.title if cand else ""),
            "summary": base.get("summary") or "",
            "tags": list(base.get("tags") or []),
        }
        for name, o in self.effective.article_edits.get(key, {}).items():
            values[name] = o.value
        return values


def href(url: Any) -> str | None:
    """``url`` when it is an absolute http(s) link, else ``None`` (never a ``javascript:`` href)."""
    if not isinstance(url, str) or len(url) > 2048 or not url[:8].lower().startswith(("http://", "https://")):
        return None
    return url


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def _candidate(r: dict[str, Any]) -> Candidate:
    feed, domain = r.get("feed_name") or "", r.get("domain") or ""
    return Candidate(
        key=r["entry_key"],
        title=r.get("title") or "(untitled)",
        url=href(r.get("url")),
        source=feed if not domain or domain in feed else f"{feed} · {domain}",
        quality=_float(r.get("quality_score")),
        relevance=_float(r.get("tech_relevance_score")),
        final=_float(r.get("final_score")),
        rank=r.get("rank"),
        pipeline_pick=bool(r.get("selected")),
        reason=r.get("selection_reason") or "",
        ad=bool(r.get("is_advertisement")),
        ad_score=_float(r.get("ad_score")),
        ad_reason=r.get("ad_reason"),
        content_type=r.get("content_type") or "",
        cluster_id=r.get("cluster_id"),
        cluster_size=int(r.get("cluster_size") or 1),
        also=[a.get("feed_name") or "" for a in (r.get("also_covered_by") or []) if a],
        canonical_key=r.get("canonical_entry_key")
        if r.get("canonical_entry_key") != r["entry_key"]
        else None,
        filtered=None if r.get("passed_filter") is not False else (r.get("filter_reason") or "filtered"),
    )


def build_review(
    day: date, scored: pl.DataFrame, overrides: list[Override], revision: int, top_n: int
) -> DayReview:
    """The day's candidates with ``overrides`` applied as the pipeline will apply them."""
    eff = effective_overrides(overrides)
    _, report = apply_selection(scored, eff, top_n)
    candidates = [_candidate(r) for r in scored.iter_rows(named=True)]
    by_key = {c.key: c for c in candidates}
    for i, key in enumerate(report.order):
        c = by_key[key]
        c.status, c.position, c.pick_source = "pick", i + 1, report.pick_source.get(key, "pipeline")
        if c.pick_source == "replacement":
            c.note = (
                f"replaces {by_key[report.replacements[key]].title}" if key in report.replacements else ""
            )
        elif c.pick_source == "pin":
            state = eff.selection.get(key)
            c.note = f"pinned by {state.row.actor}" if state else "pinned"
    for key, why in report.dropped.items():
        if key in by_key and by_key[key].status != "pick":
            by_key[key].status, by_key[key].note = "dropped", why
    for key, fields in eff.article_edits.items():
        if key in by_key:
            by_key[key].edited = sorted(fields)
    picks = [by_key[k] for k in report.order]
    return DayReview(
        day=day,
        revision=revision,
        overrides=overrides,
        effective=eff,
        report=report,
        candidates=candidates,
        by_key=by_key,
        picks=picks,
        quiet_day="quiet_day" in scored.columns and bool(scored["quiet_day"].fill_null(False).any()),
    )


def add_published(
    review: DayReview, enhanced: pl.DataFrame, newsletter: pl.DataFrame, snapshot: pl.DataFrame
) -> None:
    """The last run's values (summaries, tags, the copy) and the revision it applied."""
    review.articles = {r["entry_key"]: r for r in enhanced.iter_rows(named=True)} if enhanced.height else {}
    row = newsletter.row(0, named=True) if newsletter.height else {}
    for name in ISSUE_FIELDS:
        edit = review.effective.issue_edits.get(name)
        review.issue[name] = {
            "value": edit.value if edit else (row.get(COPY_COLUMNS[name]) or ""),
            "edited": edit is not None,
            "by": edit.actor if edit else None,
        }
    if snapshot.height and "revision" in snapshot.columns:
        review.snapshot_revision = int(snapshot["revision"].max())


# ---------------------------------------------------------------- sorting and filtering


def _num(v: float | int | None, missing: float) -> float:
    return missing if v is None else float(v)


SORTS: dict[str, Any] = {
    "status": lambda c: (
        {"pick": 0, "dropped": 1, "out": 2}[c.status],
        c.position or 0,
        _num(c.rank, 1e9),
        -_num(c.final, -1e9),
    ),
    "rank": lambda c: (_num(c.rank, 1e9), -_num(c.final, -1e9)),
    "title": lambda c: c.title.lower(),
    "source": lambda c: c.source.lower(),
    "quality": lambda c: _num(c.quality, -1e9),
    "relevance": lambda c: _num(c.relevance, -1e9),
    "final": lambda c: _num(c.final, -1e9),
    "ad": lambda c: _num(c.ad_score, -1e9),
    "type": lambda c: c.content_type,
    "cluster": lambda c: c.cluster_size,
}
DEFAULT_DIRECTION = {"quality": "desc", "relevance": "desc", "final": "desc", "ad": "desc", "cluster": "desc"}


@dataclass(frozen=True)
class View:
    """Sorting and filtering of the table (query parameters ``sort``, ``dir``, ``show``)."""

    sort: str = "status"
    dir: str = "asc"
    show: str = "all"

    @classmethod
    def parse(cls, params: Any) -> View:
        sort = params.get("sort") if params.get("sort") in SORTS else "status"
        direction = (
            params.get("dir") if params.get("dir") in ("asc", "desc") else DEFAULT_DIRECTION.get(sort, "asc")
        )
        show = params.get("show") if params.get("show") in SHOWS else "all"
        return cls(sort, direction, show)

    def query(self, **change: str) -> str:
        values = {"sort": self.sort, "dir": self.dir, "show": self.show, **change}
        return urlencode({k: v for k, v in values.items() if v != getattr(View, k)})

    def sort_link(self, name: str) -> str:
        """The query that sorts by ``name`` (toggling the direction when it already does)."""
        if name == self.sort:
            return self.query(dir="desc" if self.dir == "asc" else "asc")
        return self.query(sort=name, dir=DEFAULT_DIRECTION.get(name, "asc"))

    def apply(self, candidates: list[Candidate]) -> list[Candidate]:
        keep = {
            "all": lambda c: True,
            "selected": lambda c: c.status == "pick",
            "dropped": lambda c: c.status != "pick",
            "ads": lambda c: c.ad,
        }[self.show]
        rows = [c for c in candidates if keep(c)]
        return sorted(rows, key=SORTS[self.sort], reverse=self.dir == "desc")


# ---------------------------------------------------------------- validation of edits


def clean_text(name: str, raw: Any, *, required: bool = True) -> str:
    """A text field as given (surrounding whitespace trimmed; nothing else removed: HTML stays text)."""
    text = str(raw or "").strip()
    if "\x00" in text:
        raise EditError(f"{name} contains a NUL character")
    if required and not text:
        raise EditError(f"{name} cannot be empty")
    if len(text) > LIMITS[name]:
        raise EditError(f"{name} is {len(text)} characters long (at most {LIMITS[name]})")
    return text


def clean_summary(raw: Any, max_words: int) -> str:
    text = clean_text("summary", raw)
    words = len(text.split())
    if words > max_words:
        raise EditError(f"summary has {words} words (at most {max_words}: enhancement.summary_max_words)")
    return text


def clean_tags(raw: Any, tags_max: int) -> list[str]:
    tags = [t.strip() for t in str(raw or "").split(",") if t.strip()]
    if not tags:
        raise EditError("give at least one tag (comma-separated)")
    if len(tags) > tags_max:
        raise EditError(f"{len(tags)} tags (at most {tags_max})")
    for t in tags:
        clean_text("tag", t)
    return list(dict.fromkeys(tags))


def article_changes(values: dict[str, Any], form: Any, *, max_words: int, tags_max: int) -> dict[str, Any]:
    """The article fields the form changes (validated), compared with ``values`` (what was shown).
    A summary or tags left empty where there are none yet (a pick not enhanced yet) stay unset."""
    new: dict[str, Any] = {"title": clean_text("title", form.get("title"))}
    if str(form.get("summary") or "").strip() or values.get("summary"):
        new["summary"] = clean_summary(form.get("summary"), max_words)
    if str(form.get("tags") or "").strip() or values.get("tags"):
        new["tags"] = clean_tags(form.get("tags"), tags_max)
    return {k: v for k, v in new.items() if k in ARTICLE_FIELDS and v != values.get(k)}


def issue_changes(issue: dict[str, dict[str, Any]], form: Any) -> dict[str, str]:
    """The issue fields the form changes (validated)."""
    new = {name: clean_text(name, form.get(name), required=name == "subject") for name in ISSUE_FIELDS}
    return {k: v for k, v in new.items() if v != (issue.get(k) or {}).get("value", "")}


def moved(order: list[str], key: str, to: str) -> list[str]:
    """``order`` with ``key`` moved ``up``, ``down``, to the ``top`` or to a 1-based position."""
    if key not in order:
        raise EditError("only a pick can be moved")
    out = [k for k in order if k != key]
    i = order.index(key)
    target = {"up": i - 1, "down": i + 1, "top": 0}.get(to)
    if target is None:
        try:
            target = int(to) - 1
        except ValueError:
            raise EditError(f"cannot move to {to!r}") from None
    out.insert(max(0, min(target, len(out))), key)
    return out
