"""Subject-line candidates and the choice among them, the preheader and the intro.

Offline copy is built from the picks with rules; with an LLM session the model proposes the copy
(validated, cached like summaries) and the same scoring picks the subject line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bitbybit_assets.enhance import prompts
from bitbybit_assets.publish.sanitize import plain_text

log = logging.getLogger(__name__)

PURPOSE = "newsletter_copy"
SUBJECT_MAX = 70
PREHEADER_MAX = 100
_TYPE_NOUNS = {
    "news": ("news story", "news stories"),
    "research": ("research piece", "research pieces"),
    "tutorial": ("tutorial", "tutorials"),
    "opinion": ("opinion piece", "opinion pieces"),
    "release": ("release", "releases"),
    "funding": ("funding story", "funding stories"),
    "other": ("other read", "other reads"),
}


@dataclass
class Copy:
    subject_line: str
    subject_candidates: list[str]
    preheader: str
    intro: str
    source: str = "offline"  # offline | llm | llm_cache | offline_fallback
    cost_usd: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)


def _short(text: str, n: int) -> str:
    return plain_text(text, max_chars=n)


def subject_score(subject: str, lead_title: str) -> float:
    """Higher is better: 30-60 characters, names the lead story, no shouting or clickbait."""
    n = len(subject)
    score = 0.0
    if 25 <= n <= SUBJECT_MAX:
        score += 2.0
    elif n < 25:
        score += 0.5
    else:
        score -= 2.0
    lead_words = {w for w in re.findall(r"[a-z0-9]{4,}", lead_title.lower())}
    subj_words = set(re.findall(r"[a-z0-9]{4,}", subject.lower()))
    if lead_words:
        score += 1.5 * len(lead_words & subj_words) / len(lead_words)
    opening = " ".join(plain_text(lead_title).lower().split()[:3])
    if opening and opening in subject.lower():
        score += 1.0  # names the lead story, not just its keywords
    letters = [c for c in subject if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > 0.5 * len(letters):
        score -= 2.0
    score -= 1.0 * subject.count("!") + 1.0 * subject.count("…")
    if re.search(r"you won't believe|shocking|must[- ]read|\?\?", subject, re.I):
        score -= 2.0
    return round(score, 4)


def choose_subject(candidates: list[str], lead_title: str) -> tuple[str, dict[str, float]]:
    """The best-scoring candidate (first one wins a tie) and every score."""
    scores = {c: subject_score(c, lead_title) for c in candidates}
    best = max(candidates, key=lambda c: (scores[c], -candidates.index(c)))
    return best, scores


def _dedupe(items: list[str], n: int) -> list[str]:
    out: list[str] = []
    for item in items:
        item = plain_text(item)
        if item and item.lower() not in {o.lower() for o in out}:
            out.append(item)
    return out[:n]


_CLAUSE_BREAKS = (
    ": ",
    " — ",
    " – ",
    " - ",
    ", ",
    " to ",
    " as ",
    " with ",
    " after ",
    " for ",
    " in ",
    " and ",
)


def headline_clause(text: str, n: int = SUBJECT_MAX) -> str | None:
    """``text`` cut at a natural break (colon, comma, "to", "as"...) to fit ``n`` characters, without
    an ellipsis; ``None`` when no break leaves at least 25 characters."""
    text = plain_text(text)
    if len(text) <= n:
        return text
    best = None
    for sep in _CLAUSE_BREAKS:
        i = text.rfind(sep, 0, n + 1)
        if i >= 25 and (best is None or i > best):
            best = i
    return text[:best].rstrip(" ,:;—–-") if best else None


def offline_candidates(articles: list[dict], *, newsletter_title: str, n: int) -> list[str]:
    """Rule-based subject lines from the lead stories and the day's topics (untruncated ones first)."""
    lead = plain_text(articles[0]["title"])
    second = plain_text(articles[1]["title"]) if len(articles) > 1 else ""
    more = len(articles) - 1
    lead_clause = headline_clause(lead)
    tags = Counter(t for a in articles for t in dict.fromkeys(a.get("tags") or []))  # ordered: ties break by first use
    top = [t for t, c in tags.most_common(3) if c >= 2]  # themes of the day, not one story's keywords
    top = top if len(top) >= 2 else []
    whole = [
        lead,
        lead_clause or "",
        f"{lead_clause} + {more} more" if lead_clause and more > 0 else "",
        f"{lead} + {more} more" if more > 0 else "",
        f"{lead} · {second}" if second else "",
        f"{newsletter_title}: {lead}",
        f"Today in tech: {', '.join(top)}" if top else "",
    ]
    fitting = [c for c in whole if c and len(c) <= SUBJECT_MAX]
    cut = [
        _short(lead, SUBJECT_MAX),
        f"{_short(lead, 48)} + {more} more" if more > 0 else "",
        f"{_short(lead, 34)} · {_short(second, 30)}" if second else "",
    ]
    return _dedupe(fitting + [c for c in cut if c], n)


def offline_preheader(articles: list[dict]) -> str:
    others = [plain_text(a["title"]) for a in articles[1:4]]
    if not others:
        return _short(articles[0].get("preview") or articles[0]["title"], PREHEADER_MAX)
    rest = len(articles) - 1 - len(others)
    text = "Also: " + " · ".join(_short(o, 40) for o in others)
    if rest > 0:
        text += f" and {rest} more"
    return _short(text, PREHEADER_MAX)


def offline_intro(articles: list[dict], *, day: date) -> str:
    n = len(articles)
    sources = len({a.get("feed_name") for a in articles})
    lead = plain_text(articles[0]["title"])
    first = (
        f"Good morning! {n} {'story' if n == 1 else 'stories'} from {sources} "
        f"{'source' if sources == 1 else 'sources'} for {day:%A, %B} {day.day}, led by “{_short(lead, 90)}”."
    )
    kinds = Counter(a.get("content_type") or "other" for a in articles[1:])
    parts = []
    for kind, count in kinds.most_common(3):
        one, many = _TYPE_NOUNS.get(kind, (kind, kind))
        parts.append(f"{count} {one if count == 1 else many}")
    if not parts:
        return first
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}"
    return f"{first} Also inside: {listed}."


def offline_copy(articles: list[dict], *, day: date, newsletter_title: str, n: int) -> Copy:
    cands = offline_candidates(articles, newsletter_title=newsletter_title, n=n)
    subject, scores = choose_subject(cands, articles[0]["title"])
    return Copy(
        subject, cands, offline_preheader(articles), offline_intro(articles, day=day), "offline", 0.0, scores
    )


def _stories(articles: list[dict]) -> list[dict]:
    return [
        {
            "title": plain_text(a["title"]),
            "source": plain_text(a.get("feed_name")),
            "summary": plain_text(a.get("summary")),
        }
        for a in articles[:12]
    ]


def llm_copy(session: Any, articles: list[dict], *, day: date, newsletter_title: str, n: int) -> Copy:
    """Copy from the model (or its cache); falls back to :func:`offline_copy` on failure or budget."""
    fallback = offline_copy(articles, day=day, newsletter_title=newsletter_title, n=n)
    stories = _stories(articles)
    digest = hashlib.sha256(json.dumps([str(day), n, stories], sort_keys=True).encode()).hexdigest()
    key = session.key(digest)
    data = session.cache_get(key, purpose=PURPOSE, partition_date=day)
    source, cost = "llm_cache", 0.0
    if data is None:
        result = session.complete_json(
            purpose=PURPOSE,
            messages=prompts.newsletter_messages(str(day), stories, n_subjects=n),
            schema=prompts.NEWSLETTER_COPY_SCHEMA,
            partition_date=day,
            item_count=len(stories),
        )
        if not result.ok:
            fallback.source = "offline" if result.status == "budget_skipped" else "offline_fallback"
            fallback.cost_usd = result.cost_usd
            return fallback
        data, source, cost = result.data, "llm", result.cost_usd
        session.cache_put(key, data, purpose=PURPOSE, partition_date=day)
    # model output is plain text by contract: markup it sends anyway is stripped before it is stored
    lines = [plain_text(c, strip_markup=True) for c in data.get("subject_lines") or [] if isinstance(c, str)]
    cands = _dedupe([c for c in lines if len(c) <= SUBJECT_MAX + 10], n)
    # keep the rule-based candidates in the running: the best subject wins whoever wrote it
    pool = _dedupe(cands + fallback.subject_candidates, max(n, len(cands)) + len(fallback.subject_candidates))
    if not cands:
        fallback.source, fallback.cost_usd = "offline_fallback", cost
        return fallback
    subject, scores = choose_subject(pool, articles[0]["title"])
    preheader = _short(plain_text(data.get("preheader"), strip_markup=True) or fallback.preheader, PREHEADER_MAX)
    intro = plain_text(plain_text(data.get("intro"), strip_markup=True) or fallback.intro, max_chars=600)
    return Copy(subject, pool, preheader, intro, source, cost, scores)
