"""The pure steps of an LLM call: the cache key, the answer check and the failure classification.

:func:`check_answer` turns a chat answer into validated JSON (or ``invalid_json`` /
``schema_invalid``); :func:`classify_failure` turns a request error into an :class:`Attempt`
(ledger status, retry or not, how long to wait, whether to drop ``response_format``). Used by
:class:`resources.llm_session.LLMSession`; no network, no Dagster.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from bitbybit_base.text_safety import clean_json
from resources.retry_after import retry_after_from_headers

FAILURE_STATUSES = (
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    "invalid_json",
    "schema_invalid",
    "client_error",
)


def cache_key(content_hash: str, prompt_version: str, model: str) -> str:
    """The cache key: sha256(content hash + prompt version + model)."""
    return hashlib.sha256(f"{content_hash}\x1f{prompt_version}\x1f{model}".encode()).hexdigest()


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters a token) for budget estimates."""
    return max(1, len(text) // 4)


def parse_json_answer(content: str | None) -> Any:
    """The JSON object in a chat answer; tolerates markdown fences and prose around it.

    Model output is untrusted: every string in the result is cleaned (lone surrogates, NUL and
    other control characters removed, :func:`bitbybit_base.text_safety.clean_json`)."""
    if content is None:
        raise ValueError("empty answer")
    text = str(content).strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.S)
    if fence:
        text = fence.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start == -1 or end <= start:
            raise
        data = json.loads(text[start : end + 1])
    return clean_json(data)


def wire_schema(schema: Any) -> Any:
    """The schema sent to the endpoint: string length limits left out (grammar-based servers such as
    llama.cpp expand them into huge grammars); answers are still validated against the full schema."""
    if isinstance(schema, dict):
        return {k: wire_schema(v) for k, v in schema.items() if k not in ("minLength", "maxLength")}
    if isinstance(schema, list):
        return [wire_schema(v) for v in schema]
    return schema


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date); never
    raises, whatever the server sent (see :mod:`resources.retry_after`)."""
    return retry_after_from_headers(headers)


@dataclass
class Attempt:
    """One request's outcome: ``status`` ``ok`` with ``data``, or a failure with what to do next."""

    status: str
    error: str | None = None
    data: Any = None
    input_tokens: int = 0
    output_tokens: int = 0
    wait: float | None = None  # seconds the server asked for (None: exponential backoff)
    retry: bool = True
    drop_response_format: bool = False  # the endpoint refused response_format: ask without it
    latency_ms: int = 0


def check_answer(
    content: str | None, schema: dict, validate: Callable[[Any], None] | None = None
) -> tuple[Any, str, str | None]:
    """``(data, "ok", None)`` for an answer that parses and validates, else
    ``(None, "invalid_json" | "schema_invalid", error)``."""
    try:
        data = parse_json_answer(content)
    except (ValueError, json.JSONDecodeError) as exc:
        return None, "invalid_json", f"{type(exc).__name__}: {exc}"[:500]
    try:
        jsonschema.validate(data, schema)
        if validate is not None:
            validate(data)
    except (jsonschema.ValidationError, ValueError) as exc:
        return None, "schema_invalid", str(getattr(exc, "message", exc))[:500]
    return data, "ok", None


def classify_failure(exc: BaseException, *, response_format: str = "none") -> Attempt:
    """A failed request as an :class:`Attempt`: its ledger status, whether to retry and after how long.

    429 and 5xx honour ``Retry-After``; 408 is a timeout and 409 a server error (both retried);
    400/422 while a ``response_format`` is sent are retried at once without it; other 4xx are final.
    Exceptions that are neither the client's nor an odd response shape are re-raised."""
    import openai

    def headers() -> Any:
        return getattr(getattr(exc, "response", None), "headers", None)

    if isinstance(exc, openai.RateLimitError):
        return Attempt("rate_limited", str(exc)[:500], wait=retry_after_seconds(headers()))
    if isinstance(exc, openai.APITimeoutError):
        return Attempt("timeout", str(exc)[:500])
    if isinstance(exc, openai.APIConnectionError):
        return Attempt("connection_error", str(exc)[:500])
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        error = f"HTTP {code}: {str(exc)[:480]}"
        if code >= 500:
            return Attempt("server_error", error, wait=retry_after_seconds(headers()))
        if code in (408, 409):
            return Attempt("timeout" if code == 408 else "server_error", error)
        if code in (400, 422) and response_format != "none":
            return Attempt("client_error", error, wait=0.0, drop_response_format=True)
        return Attempt("client_error", error, retry=False)
    if isinstance(exc, openai.OpenAIError | AttributeError | IndexError | TypeError | ValueError):
        # e.g. a 200 whose body is not a chat completion, or an odd response shape
        return Attempt("invalid_json", f"{type(exc).__name__}: {str(exc)[:480]}")
    raise exc
