"""Advertising / sponsored-content detection: transparent rules plus a prototype model over embeddings.

Every rule is generic (a kind of promotion, never a specific article) and carries a weight; the
model compares an article's embedding with ad and editorial prototype sentences from config. The
signals are combined with a noisy-or into ``ad_score``; ``ad_reason`` names the strongest signal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from bitbybit_base.settings import AdSettings


@dataclass(frozen=True)
class Rule:
    name: str
    weight: float
    pattern: re.Pattern[str]
    field: str = "title"  # title | categories | lead


def _rx(p: str) -> re.Pattern[str]:
    return re.compile(p, re.IGNORECASE)


RULES: tuple[Rule, ...] = (
    # Job posts: "Acme (YC W25) Is Hiring ...", "We're hiring", "Acme is hiring a founding engineer".
    Rule("job post (YC company hiring)", 0.95, _rx(r"\(YC [A-Z]\d{2}\)\s*(is|are)\s+hiring")),
    Rule(
        "job post",
        0.8,
        re.compile(r"^[A-Z][\w.&'-]*(?:\s[A-Z0-9][\w.&'-]*){0,3}\s+(?:\([^)]*\)\s+)?(?i:is\s+hiring)\b"),
    ),
    Rule("job post", 0.8, _rx(r"\bwe'?re hiring\b")),
    # Job-board threads: "Ask HN: Who is hiring? (August 2026)", "Who wants to be hired?"
    Rule("job board thread", 0.9, _rx(r"^(ask \w+:\s*)?who\s+(is|wants\s+to\s+be)\s+(hiring|hired)\?")),
    Rule("job post", 0.8, _rx(r"^(join our team|careers at|job opening|open roles?\b)")),
    # Sponsored / partner content, marked in the title or the categories.
    Rule("sponsored content", 0.95, _rx(r"^\W*(sponsored|sponsor|promoted|partner content|advertorial)\b")),
    Rule(
        "sponsored content",
        0.9,
        _rx(
            r"\b(sponsored (post|content|by)|partner content|paid (post|content|partnership)|advertorial|brought to you by)\b"
        ),
    ),
    Rule(
        "sponsored content",
        0.95,
        _rx(
            r"^(sponsored|sponsored content|sponsored post|partner content|paid content|advertisement|advertorial|promoted|brandvoice)$"
        ),
        "categories",
    ),
    Rule(
        "sponsored content",
        0.85,
        _rx(
            r"^\W*(this (post|article|content) (is|was) (sponsored|paid for|produced in partnership)|sponsored by)\b"
        ),
        "lead",
    ),
    # Pricing, discount and ticket promotions.
    Rule("discount promo", 0.9, _rx(r"(\$\s?\d[\d,]*|\d+\s?%)\s+off\b")),
    Rule(
        "discount promo",
        0.85,
        _rx(r"\b(promo code|coupon code|discount code|early[- ]bird (pricing|tickets?|rates?))\b"),
    ),
    Rule(
        "discount promo",
        0.8,
        _rx(r"\b(limited[- ]time (offer|deal|discount|pricing|only)|for a limited time)\b"),
    ),
    Rule("discount promo", 0.8, _rx(r"\b(last|final) chance to (save|register|buy|grab|get|apply|book)\b")),
    Rule(
        "discount promo",
        0.8,
        _rx(r"\b(tickets?|passes|pass) (are |is )?(on sale|selling fast|prices? (rise|increase|go up))\b"),
    ),
    Rule(
        "affiliate deals",
        0.75,
        _rx(r"\b(best|top) [\w\s-]{0,30}\bdeals (on|for|this|right now|today)\b|\bdeals? of the day\b"),
    ),
    # Event promotion: registration / exhibit / side-event calls.
    Rule(
        "event promotion",
        0.85,
        _rx(r"\b(apply|register|sign up) (now |today )?to (exhibit|host|speak|run|sponsor|pitch|attend)\b"),
    ),
    Rule(
        "event promotion",
        0.8,
        _rx(r"\b(exhibit at|host a side event|apply to run a side event|get your (ticket|pass))\b"),
    ),
    Rule(
        "event promotion", 0.75, _rx(r"\b(register (now|today)|save your (seat|spot)|join us (at|in|for) )\b")
    ),
    # The same in Chinese (the feeds' second language): an event noun, then its registration call
    # ("...论坛，9月11日...，大会报名开启"); registration news without an event noun ("考研报名开启") is not one.
    Rule(
        "event promotion",
        0.8,
        re.compile(
            r"(大会|论坛|峰会|沙龙|训练营|黑客松|发布会|研讨会|创投活动).{0,30}(报名(开启|启动|通道|中|倒计时)|立即报名|扫码报名|限时报名)"
        ),
    ),
    Rule(
        "webinar promotion",
        0.75,
        _rx(r"\b(join (our|us for a|the) (live )?webinar|register for (our|the) (webinar|event))\b"),
    ),
    # Employer branding.
    Rule(
        "employer branding",
        0.9,
        _rx(r"^(career stories at|careers? spotlight|life at [A-Z]|inside the team at)\b"),
    ),
    # "Why I joined Acme", "Jane Doe: Why I joined Acme Labs" (a staff testimonial)
    Rule("employer branding", 0.85, _rx(r"^([^:]{1,60}:\s*)?why (i|we) joined\b")),
    # Vendor celebrating an analyst ranking (Gartner / Forrester / IDC ...).
    Rule(
        "analyst-ranking promotion",
        0.85,
        _rx(
            r"\b(named|recogni[sz]ed( as)?|positioned( as)?)\s+(a|an|the)\s+(only\s+)?(vendor\s+)?"
            r"(leader|visionary|challenger|strong performer|niche player)\b|\bonly vendor named\b"
        ),
    ),
    Rule("analyst-ranking promotion", 0.85, _rx(r"\b(magic quadrant|forrester wave|idc marketscape)\b")),
)


def rule_signals(
    title: str | None,
    categories: list[str] | None = None,
    lead: str | None = None,
    settings: AdSettings | None = None,
) -> list[tuple[str, float]]:
    """Every rule that fires, as (reason, weight), strongest first."""
    settings = settings or AdSettings()
    title = (title or "").strip()
    cats = [c.strip() for c in (categories or []) if c and c.strip()]
    lead = (lead or "")[:400]
    hits: list[tuple[str, float]] = []
    for rule in RULES:
        if rule.field == "title":
            matched = bool(rule.pattern.search(title))
        elif rule.field == "categories":
            matched = any(rule.pattern.search(c) for c in cats)
        else:
            matched = bool(rule.pattern.search(lead))
        if matched:
            hits.append((rule.name, rule.weight))
    house = {c.lower() for c in settings.house_ad_categories}
    for c in cats:
        if c.lower() in house:
            hits.append((f"house ad (category '{c}')", 0.9))
            break
    low_title = title.lower()
    for name in settings.house_ad_categories:
        if name and name.lower() in low_title:
            hits.append((f"house ad (names the publisher's event '{name}')", 0.8))
            break
    for name, pattern in settings.extra_title_patterns.items():
        if re.search(pattern, title, re.IGNORECASE):
            hits.append((name, 0.85))
    hits.sort(key=lambda h: -h[1])
    return hits


def model_scores(
    emb: np.ndarray, ad_protos: np.ndarray, editorial_protos: np.ndarray, settings: AdSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the model's ad probability (0..model_weight) and the index of the nearest ad prototype."""
    n = emb.shape[0]
    if n == 0 or ad_protos.size == 0 or editorial_protos.size == 0:
        return np.zeros(n), np.zeros(n, dtype=int)
    sim_ad = emb @ ad_protos.T
    sim_ed = emb @ editorial_protos.T
    margin = sim_ad.max(axis=1) - sim_ed.max(axis=1)
    z = (margin - settings.model_margin) / max(settings.model_temperature, 1e-6)
    prob = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    return prob * settings.model_weight, sim_ad.argmax(axis=1)


@dataclass(frozen=True)
class AdDecision:
    is_advertisement: bool
    ad_score: float
    ad_reason: str | None


def combine(
    rule_hits: list[tuple[str, float]], model_score: float, model_reason: str, threshold: float
) -> AdDecision:
    """Noisy-or of all signals; the reason is the strongest one (null when not an ad)."""
    signals = list(rule_hits)
    if model_score > 0.01:
        signals.append((model_reason, float(model_score)))
    score = 1.0 - math.prod(1.0 - w for _, w in signals) if signals else 0.0
    score = round(min(max(score, 0.0), 1.0), 4)
    is_ad = score >= threshold
    reason = max(signals, key=lambda s: s[1])[0] if (is_ad and signals) else None
    return AdDecision(is_ad, score, reason)
