from datetime import UTC, date, datetime

import polars as pl

from bitbybit_assets.ingest.content_filter import apply_content_filter
from bitbybit_assets.schemas import FEED_ENTRIES, conform
from bitbybit_base.settings import ContentFilterSettings

DAY = date(2026, 8, 5)


def row(key, **kw):
    base = {
        "partition_date": DAY, "entry_key": key, "article_id": key, "feed_name": "f", "feed_trust": 0.5,
        "entry_id": key, "url": f"https://ex.com/{key}", "canonical_url": f"https://ex.com/{key}",
        "domain": "ex.com", "title": f"A perfectly fine title {key}", "clean_text": "some body text here",
        "word_count": 4, "language": "en", "published_at": datetime(2026, 8, 5, 12, tzinfo=UTC), "position": 0,
    }
    base.update(kw)
    return base


def run(rows, **cfg):
    df = conform(pl.DataFrame(rows, infer_schema_length=None), FEED_ENTRIES)
    return {r["entry_key"]: r for r in apply_content_filter(df, DAY, ContentFilterSettings(**cfg)).iter_rows(named=True)}


def test_every_drop_has_its_reason():
    out = run(
        [
            row("ok"),
            row("notitle", title=""),
            row("nourl", canonical_url=None, url=None),
            row("short", title="Hi", clean_text="", word_count=0),
            row("old", published_at=datetime(2026, 7, 1, 10, tzinfo=UTC)),
            row("future", published_at=datetime(2026, 8, 9, tzinfo=UTC)),
            row("zh", language="zh"),
            row("blockeddomain", domain="sub.spam.com"),
            row("kw", title="Buy crypto now and win"),
            row("pattern", title="RSS feed"),
            row("nodate", published_at=None),
        ],
        blocked_domains=["spam.com"], blocked_keywords=["crypto"], blocked_title_patterns=["^RSS feed$"],
    )
    reasons = {k: v["filter_reason"] for k, v in out.items()}
    assert reasons == {
        "ok": None, "notitle": "missing_title", "nourl": "missing_url", "short": "too_short",
        "old": "outside_day", "future": "outside_day", "zh": "language", "blockeddomain": "blocked_domain",
        "kw": "blocked_keyword", "pattern": "blocked_title", "nodate": None,
    }
    assert all(v["passed_filter"] == (v["filter_reason"] is None) for v in out.values())


def test_a_month_granular_date_counts_as_that_month():
    # DAY is 08-05, max_age_days 7 (07-29 on): "01 Aug 00:00" may be any day of August, "01 Jul 00:00"
    # any of July (07-29..31 are recent enough); all of June is too old
    out = run(
        [
            row("month_aug", published_at=datetime(2026, 8, 1, tzinfo=UTC)),
            row("month_jul", published_at=datetime(2026, 7, 1, tzinfo=UTC)),
            row("month_jun", published_at=datetime(2026, 6, 1, tzinfo=UTC)),
            row("precise_old", published_at=datetime(2026, 7, 20, 9, 30, tzinfo=UTC)),
            row("first_not_midnight", published_at=datetime(2026, 7, 1, 8, tzinfo=UTC)),
            row("precise_at_oldest", published_at=datetime(2026, 7, 29, tzinfo=UTC)),
        ],
        max_age_days=7,
    )
    reasons = {k: v["filter_reason"] for k, v in out.items()}
    assert reasons == {
        "month_aug": None, "month_jul": None, "month_jun": "outside_day", "precise_old": "outside_day",
        "first_not_midnight": "outside_day", "precise_at_oldest": None,
    }


def test_duplicate_url_keeps_richest_copy_and_points_to_it():
    url = "https://ex.com/same"
    out = run(
        [
            row("a", feed_name="thin", canonical_url=url, word_count=5, feed_trust=0.9),
            row("b", feed_name="rich", canonical_url=url, word_count=500, feed_trust=0.5),
            row("c", feed_name="other", canonical_url=url, language="zh"),
        ]
    )
    assert out["b"]["passed_filter"] and out["b"]["duplicate_of"] is None
    assert out["a"]["filter_reason"] == "duplicate_url" and out["a"]["duplicate_of"] == "b"
    assert out["c"]["filter_reason"] == "language" and out["c"]["duplicate_of"] is None


def test_language_allow_list_configurable():
    out = run([row("zh", language="zh"), row("en")], allowed_languages=["en", "zh"])
    assert out["zh"]["passed_filter"] and out["en"]["passed_filter"]
