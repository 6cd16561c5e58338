"""Ad rules on crafted titles (no dev-set item), and how signals combine."""

from __future__ import annotations

import numpy as np
import pytest

from bitbybit_assets.curate.ads import combine, model_scores, rule_signals
from bitbybit_assets.curate.config import curate_config
from bitbybit_base.settings import AdSettings

SETTINGS = AdSettings(house_ad_categories=["Acme Summit"])


def is_ad(title: str, categories: list[str] | None = None, lead: str = "") -> bool:
    hits = rule_signals(title, categories, lead, SETTINGS)
    return combine(hits, 0.0, "model", SETTINGS.threshold).is_advertisement


@pytest.mark.parametrize(
    "title",
    [
        "Zyxt (YC W24) Is Hiring a Founding Engineer",
        "Quorbit (YC S25) is hiring in London – Staff Engineer",
        "Flumen Is Hiring Senior Backend Engineers (Remote)",
        "We're hiring: join the platform team",
        "Sponsored: How Globex cut cloud costs by 40%",
        "Get $300 off your pass to the Big Data Expo before Friday",
        "Save 25% on annual plans: this week only, promo code SUMMER",
        "Last chance to save on tickets for DevWorld 2027",
        "Apply to exhibit at the Builders Conference 2027",
        "Career stories at Initech: meet Jane, VP of Engineering",
        "Globex named a Leader in the 2026 Magic Quadrant for API Management",
        "Initech recognized as a Visionary in the 2026 analyst report",
        "Join our live webinar on zero-trust networking",
        "Ask HN: Who is hiring? (March 2027)",
        "Ask HN: Who wants to be hired? (March 2027)",
        "XY主办开发者大会AI论坛，10月8日聊聊智能体的下一站，大会报名开启！",
        "2027 AI创业峰会：立即报名，锁定最后席位",
        "Why I joined Initech by Jane Doe",
        "Jane Doe: Why I Joined Globex Labs",
    ],
)
def test_promotions_are_ads(title):
    assert is_ad(title), title


@pytest.mark.parametrize(
    "title",
    [
        "Globex raises $40M Series B to build AI coding agents",
        "Banks are hiring fewer analysts as AI takes over grunt work",
        "Researchers find a zero-day in a popular VPN client",
        "Launch HN: Zyxt (YC W24) – open-source observability for agents",
        "Show HN: A tiny SQLite clone in Rust",
        "Zyxt is joining Y Combinator",
        "State-sponsored hackers breached a telecom network, report says",
        "Initech cuts prices of its GPU cloud by 30 percent",
        "Why the conference season is changing for AI startups",
        "Ask HN: Who is hiring fewer juniors because of AI?",
        "2027年考研报名开启，报考人数或再创新高",
        "一张门票4万元，论坛嘉宾阵容首发",
        "Why joined-up thinking matters for AI policy",
        "Why I left Globex after ten years",
    ],
)
def test_editorial_is_not_an_ad(title):
    assert not is_ad(title), title


def test_house_ad_category_and_sponsored_category():
    assert is_ad("What to expect on the main stage this year", ["Startups", "Acme Summit"])
    assert is_ad("Five ways to modernise your data stack", ["Sponsored Content"])
    assert not is_ad("What to expect on the main stage this year", ["Startups", "AI"])


def test_sponsored_disclosure_in_lead():
    assert is_ad(
        "Five ways to modernise your data stack", [], "This post is sponsored by Globex. Data teams ..."
    )


def test_reason_is_the_strongest_signal_and_null_for_editorial():
    hits = rule_signals("Zyxt (YC W24) Is Hiring a Founding Engineer", [], "", SETTINGS)
    d = combine(hits, 0.2, "model: close to 'hiring'", 0.5)
    assert d.is_advertisement and d.ad_reason == "job post (YC company hiring)"
    assert 0.95 <= d.ad_score <= 1.0
    clean = combine([], 0.1, "model", 0.5)
    assert not clean.is_advertisement and clean.ad_reason is None and clean.ad_score == pytest.approx(0.1)


def test_model_alone_flags_only_clear_promotions(encoder):
    cfg = curate_config()
    ad = encoder.encode(cfg.topics.ad_prototypes)
    ed = encoder.encode(cfg.topics.editorial_prototypes)
    texts = [
        "Grab your ticket now and save before prices go up for our annual developer conference",
        "A startup raised a Series A to build robots for warehouses",
    ]
    scores, _ = model_scores(encoder.encode(texts), ad, ed, cfg.curation.ads)
    assert scores[0] > scores[1]
    assert scores[1] < cfg.curation.ads.threshold
    assert np.all((scores >= 0) & (scores <= cfg.curation.ads.model_weight))
