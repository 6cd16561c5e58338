"""Each quality rule passes on a good day and fails, saying why, on a crafted bad day."""

from datetime import date

import polars as pl
import pytest

from bitbybit_assets import quality_rules as r
from bitbybit_assets.schemas import FILTERED_ARTICLES, NEWSLETTERS
from tests.ops.frames import D1, D2, enhanced_day, newsletter_day, raw_feeds_day, scored_day


def test_row_counts():
    df = pl.concat([raw_feeds_day(D1), raw_feeds_day(D2)])
    assert r.row_counts(df, [D1, D2], 1, table="raw_feeds").passed
    res = r.row_counts(df, [D1, D2, date(2026, 8, 7)], 1, table="raw_feeds")
    assert not res.passed and res.metadata["failed_days"] == ["2026-08-07"]
    assert "0 rows" in res.summary
    assert not r.row_counts(df, [D1], 100).passed


def test_schema_matches_contract():
    good = pl.DataFrame(schema=FILTERED_ARTICLES).schema
    assert r.schema_matches(good, FILTERED_ARTICLES, table="filtered_articles").passed
    missing = {k: v for k, v in good.items() if k != "entry_key"}
    res = r.schema_matches(missing, FILTERED_ARTICLES, table="filtered_articles")
    assert not res.passed and res.metadata["missing_columns"] == ["entry_key"]
    wrong = {**good, "word_count": pl.String}
    res = r.schema_matches(wrong, FILTERED_ARTICLES, table="filtered_articles")
    assert not res.passed and "word_count" in res.metadata["dtype_mismatches"]
    assert not r.schema_matches({}, NEWSLETTERS, table="newsletters").passed  # no table at all


def test_ids_present_and_unique():
    day = scored_day(D1)
    assert r.ids_present(day, [D1], ["entry_key", "article_id"], ["entry_key"]).passed
    nulls = day.with_columns(pl.when(pl.col("rank") == 1).then(None).otherwise(pl.col("article_id")).alias("article_id"))
    res = r.ids_present(nulls, [D1], ["entry_key", "article_id"], ["entry_key"])
    assert not res.passed and "1 null article_id" in res.summary and res.failures.height == 1
    blank = day.with_columns(pl.when(pl.col("rank") == 2).then(pl.lit(" ")).otherwise(pl.col("entry_key")).alias("entry_key"))
    assert not r.ids_present(blank, [D1], ["entry_key"]).passed
    dup = pl.concat([day, day.head(1)])
    res = r.ids_present(dup, [D1], ["entry_key"], ["entry_key"])
    assert not res.passed and "1 duplicate entry_key" in res.summary
    assert not r.ids_present(day.drop("article_id"), [D1], ["article_id"]).passed


def test_failed_feed_share():
    good = raw_feeds_day(D1, errors=1, missing=3)  # 1 of 10 fetched feeds failed
    res = r.failed_feed_share(good, [D1], 0.25)
    assert res.passed and res.metadata["per_day"]["2026-08-05"]["failed_share"] == 0.1
    bad = raw_feeds_day(D2, errors=4)
    res = r.failed_feed_share(pl.concat([good, bad]), [D1, D2], 0.25)
    assert not res.passed and res.metadata["failed_days"] == ["2026-08-06"]
    assert "4/10 feeds failed" in res.summary and res.failures.height == 4
    assert not r.failed_feed_share(raw_feeds_day(D1, ok=0, missing=5), [D1], 0.25).passed  # nothing fetched


def test_min_picks():
    picks = r.picks(scored_day(D1, picks=12))
    assert r.min_picks(picks, [D1], 10).passed
    res = r.min_picks(r.picks(scored_day(D1, picks=8)), [D1], 10)
    assert not res.passed and "only 8 picked articles (need 10)" in res.summary


def test_no_ads_among_picks():
    assert r.no_ads(r.picks(scored_day(D1)), [D1]).passed
    ad = scored_day(D1).with_columns(
        pl.when(pl.col("rank") == 3).then(True).otherwise(pl.col("is_advertisement")).alias("is_advertisement")
    )
    res = r.no_ads(r.picks(ad), [D1])
    assert not res.passed and "1 pick(s) flagged as ads" in res.summary and res.failures["rank"].to_list() == [3]
    undecided = scored_day(D1).with_columns(
        pl.when(pl.col("rank") == 4).then(None).otherwise(pl.col("is_advertisement")).alias("is_advertisement")
    )
    assert "undecided" in r.no_ads(r.picks(undecided), [D1]).summary
    # an ad that was not picked is fine
    unpicked_ad = scored_day(D1, extra_unselected=3).with_columns(
        pl.when(~pl.col("selected")).then(True).otherwise(pl.col("is_advertisement")).alias("is_advertisement")
    )
    assert r.no_ads(r.picks(unpicked_ad), [D1]).passed


def test_one_pick_per_story_cluster():
    assert r.distinct_clusters(r.picks(scored_day(D1)), [D1]).passed
    same = scored_day(D1).with_columns(
        pl.when(pl.col("rank").is_in([2, 5])).then(pl.lit("c-same")).otherwise(pl.col("cluster_id")).alias("cluster_id")
    )
    res = r.distinct_clusters(r.picks(same), [D1])
    assert not res.passed and "1 story cluster(s) picked more than once (2 picks)" in res.summary
    # the same cluster on two different days is fine
    two_days = pl.concat([scored_day(D1), scored_day(D2)])
    assert r.distinct_clusters(r.picks(two_days), [D1, D2]).passed


def test_summaries_present_and_short_enough():
    assert r.summaries_valid(enhanced_day(D1), [D1], 60).passed
    bad = enhanced_day(D1).with_columns(
        pl.when(pl.col("rank") == 1).then(None)
        .when(pl.col("rank") == 2).then(pl.lit("   "))
        .when(pl.col("rank") == 3).then(pl.lit(" ".join(["word"] * 61)))
        .otherwise(pl.col("summary")).alias("summary")
    )
    res = r.summaries_valid(bad, [D1], 60)
    assert not res.passed
    assert res.metadata["per_day"]["2026-08-05"] == {"picks": 10, "missing": 2, "too_long": 1, "max_words_seen": 61}
    exactly = enhanced_day(D1).with_columns(pl.lit(" ".join(["w"] * 60)).alias("summary"))
    assert r.summaries_valid(exactly, [D1], 60).passed


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/a?b=1", True),
        ("http://example.com", True),
        ("HTTPS://EXAMPLE.COM/x", True),
        ("ftp://example.com/file", False),
        ("javascript:alert(1)", False),
        ("/relative/path", False),
        ("https://", False),
        ("https://exa mple.com/", False),
        ("", False),
        (None, False),
    ],
)
def test_is_web_link(url, ok):
    assert r.is_web_link(url) is ok


def test_links_valid():
    assert r.links_valid(enhanced_day(D1), [D1]).passed
    bad = enhanced_day(D1).with_columns(
        pl.when(pl.col("rank") == 7).then(pl.lit("javascript:alert(1)")).otherwise(pl.col("url")).alias("url")
    )
    res = r.links_valid(bad, [D1], table="enhanced_articles")
    assert not res.passed and res.failures["url"].to_list() == ["javascript:alert(1)"]


def test_picks_match_selection():
    scored = scored_day(D1, extra_unselected=2)
    enhanced = enhanced_day(D1)
    assert r.picks_match_selection(enhanced, scored, [D1]).passed
    stranger = pl.concat([enhanced, enhanced.head(1).with_columns(pl.lit("unknown-key").alias("entry_key"))])
    res = r.picks_match_selection(stranger, scored, [D1])
    assert not res.passed and res.failures["problem"].to_list() == ["not in scored_articles"]
    ad = scored.with_columns(pl.when(pl.col("rank") == 1).then(True).otherwise(pl.col("is_advertisement")).alias("is_advertisement"))
    assert r.picks_match_selection(enhanced, ad, [D1]).failures["problem"].to_list() == ["advertisement"]


def test_newsletter_complete():
    assert r.newsletter_complete(newsletter_day(D1), [D1], 10).passed
    res = r.newsletter_complete(newsletter_day(D1), [D1, D2], 10)
    assert not res.passed and res.summary == "2026-08-06: no newsletter"
    short = newsletter_day(D1, articles=8)
    assert "only 8 articles (need 10)" in r.newsletter_complete(short, [D1], 10).summary
    empty_html = newsletter_day(D1).with_columns(pl.lit("").alias("html"))
    assert "html empty" in r.newsletter_complete(empty_html, [D1], 10).summary
    miscount = newsletter_day(D1).with_columns(pl.lit(11, dtype=pl.Int32).alias("article_count"))
    assert "article_count 11 != 10 article_ids" in r.newsletter_complete(miscount, [D1], 10).summary
    twice = pl.concat([newsletter_day(D1), newsletter_day(D1)])
    assert "2 newsletters (expected 1)" in r.newsletter_complete(twice, [D1], 10).summary


def test_newsletter_links():
    good = newsletter_day(D1)
    res = r.newsletter_links_valid(good, [D1])
    assert res.passed and res.metadata["per_day"]["2026-08-05"]["links"] == 13  # 10 articles + mailto + # + merge tag
    assert not r.newsletter_links_valid(good, [D1], allow_merge_tags=False).passed
    bad = good.with_columns(pl.col("html").str.replace("https://site-3.example/a3", "ftp://site-3.example/a3", literal=True))
    res = r.newsletter_links_valid(bad, [D1])
    assert not res.passed and res.failures["href"].to_list() == ["ftp://site-3.example/a3"]


def test_html_links_quotes():
    html = """<a href="https://a.example/x">a</a><a href='http://b.example'>b</a><a HREF=https://c.example>c</a>"""
    assert r.html_links(html) == ["https://a.example/x", "http://b.example", "https://c.example"]


def test_markdown_sample_escapes_and_cuts():
    md = r.markdown_sample(pl.DataFrame({"a": ["x|y", "z" * 200]}), max_chars=20)
    assert "x\\|y" in md and "…" in md and md.count("\n") == 3
    assert r.markdown_sample(None) == ""
