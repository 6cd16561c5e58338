"""The pure steps of an LLM call (resources/llm_answers.py): answer check and failure classification."""

from __future__ import annotations

import httpx
import openai
import pytest

from resources.llm_answers import check_answer, classify_failure

SCHEMA = {"type": "object", "required": ["summary"], "properties": {"summary": {"type": "string"}}}
REQUEST = httpx.Request("POST", "http://llm.example/v1/chat/completions")


def _status_error(code: int, headers: dict | None = None) -> openai.APIStatusError:
    response = httpx.Response(code, headers=headers or {}, request=REQUEST)
    cls = {429: openai.RateLimitError, 500: openai.InternalServerError}.get(code, openai.APIStatusError)
    return cls(f"status {code}", response=response, body=None)


def test_check_answer_ok_fenced_and_cleaned():
    data, status, error = check_answer('```json\n{"summary": "a\\u0000b"}\n```', SCHEMA)
    assert (data, status, error) == ({"summary": "ab"}, "ok", None)


def test_check_answer_invalid_json_and_schema():
    assert check_answer("no json here", SCHEMA)[1] == "invalid_json"
    assert check_answer(None, SCHEMA)[1] == "invalid_json"
    data, status, error = check_answer('{"title": "x"}', SCHEMA)
    assert data is None and status == "schema_invalid" and "summary" in error


def test_check_answer_runs_the_callers_validator():
    def no_empty(data):
        if not data["summary"]:
            raise ValueError("empty summary")

    assert check_answer('{"summary": ""}', SCHEMA, no_empty) == (None, "schema_invalid", "empty summary")


def test_rate_limit_and_server_errors_wait_as_told():
    limited = classify_failure(_status_error(429, {"retry-after": "7"}))
    assert (limited.status, limited.wait, limited.retry) == ("rate_limited", 7.0, True)
    server = classify_failure(_status_error(500))
    assert (server.status, server.wait, server.retry) == ("server_error", None, True)
    assert classify_failure(_status_error(408)).status == "timeout"
    assert classify_failure(_status_error(409)).status == "server_error"


def test_client_errors_are_final_unless_response_format_was_refused():
    refused = classify_failure(_status_error(400), response_format="json_schema")
    assert refused.drop_response_format and refused.retry and refused.wait == 0.0
    plain = classify_failure(_status_error(400), response_format="none")
    assert (plain.status, plain.retry, plain.drop_response_format) == ("client_error", False, False)
    assert classify_failure(_status_error(401), response_format="json_schema").retry is False


def test_transport_errors_and_odd_shapes():
    assert classify_failure(openai.APIConnectionError(request=REQUEST)).status == "connection_error"
    assert classify_failure(openai.APITimeoutError(request=REQUEST)).status == "timeout"
    assert classify_failure(IndexError("list index out of range")).status == "invalid_json"
    with pytest.raises(RuntimeError):
        classify_failure(RuntimeError("a bug of ours"))
