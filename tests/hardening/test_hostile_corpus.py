"""Every file of ``tests/fixtures/hostile/`` through the stage that receives it: nothing raises, and
the invariants hold (clean text, http(s)-only links, HTML under the clipping size with at least
``min_articles`` stories, an SQL export that replays exactly under both string settings)."""

from __future__ import annotations

import json

import polars as pl
import psycopg2
import pytest

from bitbybit_assets import quality_rules as rules
from bitbybit_assets.enhance.enhance import enhance_articles
from bitbybit_assets.publish.render import NewsletterSettings
from bitbybit_assets.publish.sanitize import safe_url
from bitbybit_assets.schemas import ENHANCED_ARTICLES, NEWSLETTERS
from bitbybit_assets.warehouse.export import pg_text
from bitbybit_base.text_safety import remove_unencodable
from resources.llm import LLMConfig, LLMResource
from resources.retry_after import parse_retry_after
from tests.enhance.helpers import scored_frame
from tests.hardening.support import (
    DAY,
    FIXTURES,
    all_strings,
    enhance_offline,
    export_sql,
    filtered_from_feed,
    is_clean,
    is_storable,
    lines,
    newsletter,
    psql_replay,
    scored_from,
)
from tests.publish.helpers import enhanced_rows
from tests.support.openai_server import OpenAIStubServer

FEEDS = sorted((FIXTURES / "feeds").glob("*.xml"))
ANSWERS = sorted((FIXTURES / "model_answers").glob("*.json"))
MIN_ARTICLES = 5


def assert_newsletter_ok(row: dict, *, min_articles: int = MIN_ARTICLES) -> None:
    frame = pl.DataFrame([row], schema=NEWSLETTERS)
    links = rules.newsletter_links_valid(frame, [DAY])
    assert links.passed, links.summary
    assert row["html_bytes"] <= NewsletterSettings().max_html_bytes
    assert row["article_count"] >= min_articles
    for key in ("subject_line", "preheader", "intro", "html", "text"):
        assert is_clean(row[key]), key
    row["html"].encode("utf-8")


def _stored_titles(dsn: str) -> list[str]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT title FROM articles WHERE partition_date = %s ORDER BY newsletter_rank", [DAY]
            )
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


@pytest.mark.integration
@pytest.mark.parametrize("path", FEEDS, ids=lambda p: p.name)
def test_feed_documents_through_the_whole_path(path, migrated_pg, tmp_path):
    filtered = filtered_from_feed(path.read_bytes())
    for column in ("title", "clean_text", "url", "author", "image_url"):
        assert all(is_clean(v) for v in filtered[column].to_list()), column
    for column in ("summary_html", "content_html"):  # raw feed HTML: kept as sent, but storable
        assert all(is_storable(v) for v in filtered[column].to_list()), column
    passing = filtered.filter(pl.col("passed_filter")) if filtered.height else filtered
    if passing.height < MIN_ARTICLES:  # a refused document: an error row, never an exception
        assert path.name in ("malformed_nul.xml", "html_page.xml")
        return
    assert all(
        rules.is_web_link(u) or u is None for u in passing["url"].to_list() if u is None or safe_url(u)
    )
    enhanced = enhance_offline(scored_from(filtered))
    assert all(is_clean(s) for s in enhanced["summary"].to_list() + enhanced["preview"].to_list())
    res = newsletter(enhanced.to_dicts(), min_articles=MIN_ARTICLES)
    assert_newsletter_ok(res.row)
    sql, tables = export_sql(DAY, {"filtered_articles": filtered, "scored_articles": scored_from(filtered),
                                   "enhanced_articles": enhanced,
                                   "newsletters": pl.DataFrame([res.row], schema=NEWSLETTERS)})  # fmt: skip
    expected = tables["articles"].sort("newsletter_rank")["title"].to_list()
    for conforming in (False, True):
        done = psql_replay(migrated_pg, sql, conforming=conforming, tmp=tmp_path)
        assert done.returncode == 0, done.stderr
        assert _stored_titles(migrated_pg) == expected


@pytest.mark.parametrize("path", ANSWERS, ids=lambda p: p.name)
def test_model_answers(path):
    case = json.loads(path.read_text())

    def answer(body: dict) -> str:
        return case["content"]

    with OpenAIStubServer(answer=answer) as server:
        llm = LLMResource(base_url=server.base_url, api_key="k", model="stub-model")
        session = llm.session(
            run_id="r", prompt_version="v", config=LLMConfig(max_retries=0), sleep=lambda s: None
        )
        if case["purpose"] == "article_summaries":
            df = enhance_articles(scored_frame(1), session=session)
            assert df.height == 1
            assert all(
                is_clean(v) and "<" not in v for v in df["summary"].to_list() + df["tags"].explode().to_list()
            )
        else:
            res = newsletter(enhanced_rows(6), session=session)
            assert_newsletter_ok(res.row)
            for key in ("subject_line", "preheader", "intro"):
                assert "<" not in res.row[key] and ">" not in res.row[key]
    for row in session.new_cache_rows + session.ledger:
        json.dumps(row, default=str).encode("utf-8")


def test_hostile_strings_in_every_rendered_field():
    values = all_strings()
    rows = enhanced_rows(max(20, len(values)))
    for i, r in enumerate(rows):
        v = values[i % len(values)]
        r.update(title=v, summary=v, tags=[v, "ok"], domain=v, feed_name=v,
                 also_covered_by=[{"feed_name": v, "title": v, "url": "https://o.example/x"}])  # fmt: skip
    res = newsletter(rows, min_articles=MIN_ARTICLES)
    assert_newsletter_ok(res.row)  # the row is storable (a polars frame refuses unencodable text)


def test_hostile_urls_never_become_links():
    urls = lines("urls.txt")
    rows = enhanced_rows(max(len(urls), 6))
    for i, u in enumerate(urls):
        rows[i].update(url=u, image_url=u, also_covered_by=[{"feed_name": "x", "title": "t", "url": u}])
        got = safe_url(u)
        assert got is None or rules.is_web_link(got), (u, got)
    assert_newsletter_ok(newsletter(rows).row)


def test_hostile_retry_after_values():
    for value in lines("retry_after.txt"):
        got = parse_retry_after(value)
        assert got is None or 0 <= got < float("inf")


@pytest.mark.integration
def test_hostile_strings_round_trip_through_the_sql_export(migrated_pg, tmp_path):
    # frames cannot hold lone surrogates (the sanitiser removes them where data enters); NUL,
    # control characters, quotes and backslashes they can, and the export must carry them exactly
    values = [remove_unencodable(v) for v in all_strings() if len(v) < 300_000]
    rows = enhanced_rows(len(values))
    for r, v in zip(rows, values, strict=True):
        r["title"] = v
    enhanced = pl.DataFrame(rows, schema=ENHANCED_ARTICLES)
    res = newsletter(rows, min_articles=1)
    sql, _ = export_sql(
        DAY, {"enhanced_articles": enhanced, "newsletters": pl.DataFrame([res.row], schema=NEWSLETTERS)}
    )
    for conforming in (False, True):
        done = psql_replay(migrated_pg, sql, conforming=conforming, tmp=tmp_path)
        assert done.returncode == 0, done.stderr[:2000]
        assert _stored_titles(migrated_pg) == [pg_text(v) for v in values]
