"""Item 3: model output is untrusted. Lone surrogates and NUL bytes in an answer, absurd
``Retry-After`` dates, and markup in plain-text copy neither crash a stage nor reach storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import psycopg2
import pytest

from bitbybit_assets.enhance.enhance import enhance_articles
from bitbybit_assets.schemas import ENHANCED_ARTICLES, NEWSLETTERS
from bitbybit_assets.warehouse.export import build_api_payload
from bitbybit_assets.warehouse.loads import load_day
from resources.llm import LLMConfig, LLMResource, retry_after_seconds
from resources.retry_after import MAX_SECONDS, parse_retry_after
from resources.warehouse_db import PostgresWarehouse
from tests.enhance.helpers import DAY, scored_frame
from tests.hardening.support import FIXTURES, RUN, export_sql, is_clean, lines, newsletter, psql_replay
from tests.publish.helpers import enhanced_rows
from tests.support.http_server import Response, local_http_server
from tests.support.openai_server import OpenAIStubServer, Step

FAR_FUTURE = "Wed, 21 Oct 99999999999 07:28:00 GMT"


def answer(name: str) -> str:
    return json.loads((FIXTURES / "model_answers" / name).read_text())["content"]


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def session(server: OpenAIStubServer, *, sleeps=None, **cfg):
    config = LLMConfig(**{"max_retries": 1, "backoff_base_seconds": 0, **cfg})
    llm = LLMResource(base_url=server.base_url, api_key="k", model="stub-model")
    return llm.session(run_id="run-h", prompt_version="v-test", config=config,
                       sleep=sleeps if sleeps is not None else Sleeps())  # fmt: skip


@pytest.mark.parametrize("name", ["lone_surrogate.json", "nul_bytes.json"])
def test_unencodable_characters_in_an_answer_do_not_crash_enhancement(name):
    # the attack: json.loads turns "\ud800" into a lone surrogate, which UTF-8 cannot encode
    assert "\ud800" in json.loads(answer("lone_surrogate.json"))["articles"][0]["summary"]
    with OpenAIStubServer() as server:
        server.script(Step(content=answer(name)))
        s = session(server)
        df = enhance_articles(scored_frame(1), session=s)
        assert df.height == 1 and df["summary_source"][0] in ("llm", "offline_fallback")
        assert all(is_clean(v) for v in df["summary"].to_list() + df["tags"].explode().to_list())
        for row in s.new_cache_rows:
            row["response_json"].encode("utf-8")  # storable
            assert "\\u0000" not in row["response_json"] and "\x00" not in row["response_json"]


def test_nul_from_a_model_cannot_abort_the_postgres_load_or_the_export(migrated_pg, tmp_path):
    with OpenAIStubServer() as server:
        server.script(Step(content=answer("nul_bytes.json")))
        enhanced = enhance_articles(scored_frame(1), session=session(server))
    # and if a NUL got into a frame some other way, the load strips it instead of aborting
    enhanced = enhanced.with_columns(enhanced["summary"] + "\x00 tail")
    nl = newsletter(enhanced.to_dicts(), min_articles=1)
    frames = {"enhanced_articles": enhanced, "newsletters": _frame(nl.row)}
    sql, tables = export_sql(DAY, frames)
    assert "\x00" not in sql
    conn = psycopg2.connect(migrated_pg)
    try:
        load_day(PostgresWarehouse(conn), DAY, tables, run=RUN)
        stored = PostgresWarehouse(conn).scalar(
            "SELECT summary FROM articles WHERE partition_date = %s", [DAY]
        )
        assert stored.endswith(" tail") and "\x00" not in stored
    finally:
        conn.close()
    assert psql_replay(migrated_pg, sql, conforming=True, tmp=tmp_path).returncode == 0


def _frame(row: dict) -> pl.DataFrame:
    return pl.DataFrame([row], schema=NEWSLETTERS)


def test_far_future_retry_after_does_not_overflow_the_llm_client():
    # the attack: email.utils.parsedate_to_datetime raises OverflowError for year 99999999999
    with pytest.raises(OverflowError):
        from email.utils import parsedate_to_datetime

        parsedate_to_datetime(FAR_FUTURE)
    assert retry_after_seconds({"retry-after": FAR_FUTURE}) is None
    with OpenAIStubServer() as server:
        server.script(Step(status=429, headers={"Retry-After": FAR_FUTURE}))
        sleeps = Sleeps()
        df = enhance_articles(scored_frame(1), session=session(server, sleeps=sleeps))
    assert df["summary_source"].to_list() == ["llm"]  # retried after our own backoff
    assert len(sleeps) == 1 and sleeps[0] <= 120


def test_far_future_retry_after_is_a_clean_fetch_error_not_an_internal_error():
    from bitbybit_base.settings import FetchSettings
    from resources.fetch_types import FetchRequest
    from resources.http_fetch import HttpFeedFetcher

    with local_http_server() as srv:
        srv.route(
            "/feed.xml", Response(status=429, headers={"Retry-After": "Wed, 21 Oct 9999 23:59:59 -2359"})
        )
        srv.route("/other.xml", Response(status=503, headers={"Retry-After": FAR_FUTURE}))
        fetcher = HttpFeedFetcher(
            FetchSettings(
                max_retries=1, per_host_delay_seconds=0, allow_private_addresses=True, timeout_seconds=2
            ),
            backoff_seconds=0.01,
        )
        a = fetcher.fetch(FetchRequest("a", srv.url("/feed.xml")))
        b = fetcher.fetch(FetchRequest("b", srv.url("/other.xml")))
    assert a.fetch_status == "error" and "exceeds max_retry_after_seconds" in a.error
    assert b.fetch_status == "error" and "internal error" not in b.error and b.http_status == 503


def test_every_hostile_retry_after_value_parses_or_is_none():
    now = datetime(2026, 8, 5, tzinfo=UTC)
    for value in lines("retry_after.txt"):
        got = parse_retry_after(value, now)
        assert got is None or 0.0 <= got <= MAX_SECONDS, (value, got)
        headers = {"retry-after": value, "retry-after-ms": value}
        got = retry_after_seconds(headers)
        assert got is None or 0.0 <= got <= MAX_SECONDS


def test_markup_in_model_copy_is_stripped_before_storage():
    rows = enhanced_rows(6)
    with OpenAIStubServer(answer=lambda body: answer("html_copy.json")) as server:
        res = newsletter(rows, session=session(server))
    row = res.row
    assert row["copy_source"] == "llm"
    for text in [row["preheader"], row["intro"], *row["subject_candidates"], row["subject_line"]]:
        assert "<" not in text and ">" not in text, text
    assert row["intro"].startswith("Good morning!")
    # the newsletters table and the API JSON carry the same tag-free copy
    _, tables = export_sql(DAY, {"enhanced_articles": pl.DataFrame(rows, schema=ENHANCED_ARTICLES),
                                 "newsletters": _frame(row)})  # fmt: skip
    payload = build_api_payload(DAY, tables["articles"], tables["newsletters"])
    for key in ("intro", "preheader", "subject_line"):
        assert "<" not in payload["newsletter"][key]
