"""The LLM path through the real ``openai`` client against a local OpenAI-compatible server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bitbybit_assets.enhance import prompts
from bitbybit_assets.enhance.enhance import EnhancementSettings, enhance_articles
from resources.llm import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_MODEL,
    ENV_OPENAI_KEY,
    LLMConfig,
    LLMResource,
    cache_key,
    parse_json_answer,
    retry_after_seconds,
    wire_schema,
)
from tests.enhance.helpers import DAY, scored_frame
from tests.support.openai_server import OpenAIStubServer, Step

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server():
    with OpenAIStubServer() as srv:
        yield srv


class Sleeps(list):
    """Records the waits instead of sleeping (no timing assertions, fast tests)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_session(server, *, sleeps=None, cache=None, **cfg):
    config = LLMConfig(
        **{
            "max_retries": 2,
            "timeout_seconds": 5,
            "batch_size": 8,
            "backoff_base_seconds": 0.5,
            "cost_per_1k_input_tokens_usd": 0.001,
            "cost_per_1k_output_tokens_usd": 0.002,
            **cfg,
        }
    )
    res = LLMResource(base_url=server.base_url, api_key="test-key", model="stub-model")
    return res.session(
        run_id="run-1",
        prompt_version=prompts.PROMPT_VERSION,
        cache=cache,
        config=config,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def statuses(session):
    return [r["status"] for r in session.ledger]


def test_happy_path_batches_and_ledger(server):
    session = make_session(server, batch_size=2, concurrency=2)
    df = enhance_articles(scored_frame(5), session=session)
    assert df["summary_source"].to_list() == ["llm"] * 5
    assert df["llm_model"].to_list() == ["stub-model"] * 5
    assert all(s.startswith("Stub summary of") for s in df["summary"])
    assert all(3 <= len(t) <= 5 for t in df["tags"])
    # 5 articles in batches of 2 -> 3 calls, each one request with JSON mode, our model, no SDK retries
    reqs = server.chat_requests
    assert len(reqs) == 3
    assert all(r["body"]["response_format"] == {"type": "json_object"} for r in reqs)
    assert all(r["body"]["model"] == "stub-model" for r in reqs)
    assert sorted(len(json.loads(json.dumps(r["body"]["messages"]))) for r in reqs) == [2, 2, 2]
    assert all(r["headers"].get("authorization") == "Bearer test-key" for r in reqs)
    ledger = session.ledger
    assert [r["status"] for r in ledger] == ["ok"] * 3
    assert sorted(r["item_count"] for r in ledger) == [1, 2, 2]
    assert all(r["input_tokens"] > 0 and r["output_tokens"] > 0 and r["cost_usd"] > 0 for r in ledger)
    assert all(r["prompt_version"] == prompts.PROMPT_VERSION and r["run_id"] == "run-1" for r in ledger)
    assert all(r["partition_date"] == DAY and not r["cache_hit"] for r in ledger)
    totals = session.summary()
    assert totals["llm_calls"] == 3
    assert totals["llm_cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in ledger), abs=1e-6)
    assert len(session.new_cache_rows) == 5


def test_cache_hit_on_rerun_makes_no_calls(server):
    first = make_session(server)
    enhance_articles(scored_frame(4), session=first)
    calls_before = len(server.chat_requests)
    cache = {r["cache_key"]: r["response_json"] for r in first.new_cache_rows}
    assert all(len(k) == 64 for k in cache)

    second = make_session(server, cache=cache)
    df = enhance_articles(scored_frame(4), session=second)
    assert len(server.chat_requests) == calls_before
    assert df["summary_source"].to_list() == ["llm_cache"] * 4
    assert all(r["cache_hit"] and r["cost_usd"] == 0 for r in second.ledger)
    assert second.summary()["llm_calls"] == 0 and second.summary()["llm_cache_hits"] == 4
    assert second.new_cache_rows == []


def test_cache_key_depends_on_content_prompt_version_and_model():
    base = cache_key("abc", "v1-x", "m")
    assert base != cache_key("abd", "v1-x", "m")
    assert base != cache_key("abc", "v2-x", "m")
    assert base != cache_key("abc", "v1-x", "other")
    assert base == cache_key("abc", "v1-x", "m")


def test_changed_article_text_misses_the_cache(server):
    first = make_session(server)
    enhance_articles(scored_frame(1), session=first)
    cache = {r["cache_key"]: r["response_json"] for r in first.new_cache_rows}
    changed = scored_frame(1).with_columns(
        clean_text=(scored_frame(1)["clean_text"] + " One more sentence here.")
    )
    changed = changed.with_columns(summary_html=None)
    second = make_session(server, cache=cache)
    df = enhance_articles(changed, session=second)
    assert df["summary_source"].to_list() == ["llm"]


def test_429_honours_retry_after_then_succeeds(server):
    server.script(Step(status=429, headers={"Retry-After": "7"}))
    sleeps = Sleeps()
    session = make_session(server, sleeps=sleeps)
    df = enhance_articles(scored_frame(2), session=session)
    assert df["summary_source"].to_list() == ["llm", "llm"]
    assert statuses(session) == ["rate_limited", "ok"]
    assert sleeps == [7.0]  # the server's Retry-After, not our backoff
    assert len(server.chat_requests) == 2  # the SDK did not retry on its own


def test_429_retry_after_is_capped(server):
    server.script(Step(status=429, headers={"Retry-After": "3600"}))
    sleeps = Sleeps()
    session = make_session(server, sleeps=sleeps, max_retry_after_seconds=30)
    enhance_articles(scored_frame(1), session=session)
    assert sleeps == [30.0]


def test_500_backs_off_exponentially_then_falls_back(server):
    server.script(*[Step(status=500)] * 3)
    sleeps = Sleeps()
    session = make_session(server, sleeps=sleeps, max_retries=2, backoff_base_seconds=1.0)
    df = enhance_articles(scored_frame(2), session=session)
    assert statuses(session) == ["server_error"] * 3
    assert df["summary_source"].to_list() == ["offline_fallback"] * 2
    assert all(len(s.split()) >= 5 for s in df["summary"])  # offline summaries are there
    assert df["llm_model"].to_list() == [None, None]
    assert len(sleeps) == 2  # no wait after the last attempt
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # base * 2^(n-1) with jitter


def test_500_then_ok(server):
    server.script(Step(status=503))
    session = make_session(server)
    df = enhance_articles(scored_frame(1), session=session)
    assert statuses(session) == ["server_error", "ok"]
    assert df["summary_source"].to_list() == ["llm"]


def test_malformed_json_retries_then_offline_fallback(server):
    server.script(*[Step(content="Sure! Here are your summaries: {not json")] * 3)
    session = make_session(server, max_retries=2)
    df = enhance_articles(scored_frame(3), session=session)
    assert statuses(session) == ["invalid_json"] * 3
    assert all(r["error"] for r in session.ledger)
    assert df["summary_source"].to_list() == ["offline_fallback"] * 3
    assert session.new_cache_rows == []  # failures are never cached


def test_non_json_http_body_retries_then_fallback(server):
    server.script(Step(raw_body=b"<html>proxy error</html>"), Step(raw_body=b'{"unexpected": true}'))
    session = make_session(server, max_retries=1)
    df = enhance_articles(scored_frame(1), session=session)
    assert statuses(session) == ["invalid_json", "invalid_json"]
    assert df["summary_source"].to_list() == ["offline_fallback"]


def test_schema_invalid_answer_is_retried(server):
    server.script(Step(content=json.dumps({"articles": [{"id": "a1", "summary": "too short", "tags": []}]})))
    session = make_session(server)
    df = enhance_articles(scored_frame(1), session=session)
    assert statuses(session) == ["schema_invalid", "ok"]
    assert df["summary_source"].to_list() == ["llm"]


def test_answer_missing_an_article_is_retried(server):
    partial = {
        "articles": [{"id": "a1", "summary": "A good summary of the first article here.", "tags": ["x"]}]
    }
    server.script(Step(content=json.dumps(partial)))
    session = make_session(server)
    enhance_articles(scored_frame(2), session=session)
    assert statuses(session) == ["schema_invalid", "ok"]
    assert "a2" in session.ledger[0]["error"]


def test_fenced_json_is_accepted(server):
    answer = {
        "articles": [
            {"id": "a1", "summary": "Fenced answers are fine too. They parse.", "tags": ["a", "b", "c"]}
        ]
    }
    server.script(Step(content="```json\n" + json.dumps(answer) + "\n```"))
    session = make_session(server)
    df = enhance_articles(scored_frame(1), session=session)
    assert df["summary"].to_list() == ["Fenced answers are fine too. They parse."]


def test_timeout_retries_then_fallback(server):
    server.script(Step(delay=2.0), Step(delay=2.0))
    session = make_session(server, timeout_seconds=0.3, max_retries=1)
    df = enhance_articles(scored_frame(1), session=session)
    assert statuses(session) == ["timeout", "timeout"]
    assert df["summary_source"].to_list() == ["offline_fallback"]


def test_auth_error_is_not_retried(server):
    server.script(Step(status=401))
    session = make_session(server, max_retries=3)
    df = enhance_articles(scored_frame(1), session=session)
    assert statuses(session) == ["client_error"]
    assert df["summary_source"].to_list() == ["offline_fallback"]


def test_endpoint_without_json_mode_is_asked_again_without_it(server):
    server.script(Step(status=400))
    session = make_session(server)
    df = enhance_articles(scored_frame(1), session=session)
    assert statuses(session) == ["client_error", "ok"]
    reqs = server.chat_requests
    assert "response_format" in reqs[0]["body"] and "response_format" not in reqs[1]["body"]
    assert df["summary_source"].to_list() == ["llm"]


def test_json_schema_response_format(server):
    session = make_session(server, response_format="json_schema")
    enhance_articles(scored_frame(1), session=session)
    rf = server.chat_requests[0]["body"]["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["schema"] == wire_schema(prompts.ARTICLE_BATCH_SCHEMA)
    assert "maxLength" not in json.dumps(rf["json_schema"]["schema"])


def test_llama_cpp_grammar_response_format(server):
    session = make_session(server, response_format="json_object_schema")
    enhance_articles(scored_frame(1), session=session)
    rf = server.chat_requests[0]["body"]["response_format"]
    assert rf == {"type": "json_object", "schema": wire_schema(prompts.ARTICLE_BATCH_SCHEMA)}


def test_budget_cap_stops_calling_and_uses_offline(server):
    session = make_session(server, budget_usd_per_run=0.000001)
    df = enhance_articles(scored_frame(3), session=session)
    assert server.chat_requests == []
    assert df["summary_source"].to_list() == ["offline"] * 3
    assert statuses(session) == ["budget_skipped"]
    assert session.summary()["llm_calls"] == 0 and session.summary()["llm_budget_skips"] == 1


def test_budget_cap_mid_run(server):
    # the first call really costs $0.003 (1000 + 1000 tokens); the next one's estimate
    # (its prompt + max_output_tokens 1200 * $0.002/1k = $0.0024) would pass the $0.004 budget
    server.script(Step(usage=(1000, 1000)))
    session = make_session(
        server, batch_size=1, concurrency=1, max_output_tokens=1200, budget_usd_per_run=0.004
    )
    df = enhance_articles(scored_frame(3), session=session)
    assert df["summary_source"].to_list() == ["llm", "offline", "offline"]
    assert statuses(session) == ["ok", "budget_skipped", "budget_skipped"]
    assert session.spent_usd <= 0.004


def test_no_endpoint_means_offline(monkeypatch):
    for var in (ENV_BASE_URL, ENV_API_KEY, ENV_OPENAI_KEY, ENV_MODEL):
        monkeypatch.delenv(var, raising=False)
    res = LLMResource()
    assert res.session(run_id="r", prompt_version=prompts.PROMPT_VERSION, config=LLMConfig()) is None
    df = enhance_articles(scored_frame(2), session=None, settings=EnhancementSettings())
    assert df["summary_source"].to_list() == ["offline", "offline"]


def test_endpoint_from_environment(monkeypatch):
    monkeypatch.delenv(ENV_API_KEY, raising=False)
    monkeypatch.delenv(ENV_OPENAI_KEY, raising=False)
    monkeypatch.setenv(ENV_BASE_URL, "http://127.0.0.1:9/v1")
    monkeypatch.setenv(ENV_MODEL, "local-model")
    ep = LLMResource().endpoint(LLMConfig())
    assert ep is not None and ep.base_url == "http://127.0.0.1:9/v1" and ep.model == "local-model"
    assert ep.api_key == "not-needed"
    monkeypatch.delenv(ENV_BASE_URL)
    monkeypatch.setenv(ENV_OPENAI_KEY, "sk-test")
    ep = LLMResource().endpoint(LLMConfig())
    assert ep is not None and ep.base_url is None and ep.api_key == "sk-test"
    assert LLMResource(enabled=False).endpoint(LLMConfig()) is None


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "12"}) == 12.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 <= retry_after_seconds({"retry-after": future}) <= 90
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_parse_json_answer_variants():
    assert parse_json_answer('{"a": 1}') == {"a": 1}
    assert parse_json_answer('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_answer('Here you go: {"a": 1} hope it helps') == {"a": 1}
    with pytest.raises(ValueError):
        parse_json_answer("no json here")


def test_prompt_version_tracks_prompt_text():
    assert prompts.PROMPT_VERSION.startswith("v1-")
    msgs = prompts.article_messages(
        [{"id": "a1", "title": "T", "source": "S", "text": "x" * 5000}],
        max_words=60,
        tags_min=3,
        tags_max=5,
        max_chars=100,
    )
    assert "at most 60 words" in msgs[0]["content"]
    assert "x" * 100 in msgs[1]["content"] and "x" * 101 not in msgs[1]["content"]
