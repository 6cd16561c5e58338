"""LLM resource: any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Environment (read at call time, never at import):

- ``BITBYBIT_LLM_BASE_URL``: the endpoint, e.g. ``http://localhost:8080/v1``. Unset -> OpenAI's.
- ``BITBYBIT_LLM_API_KEY`` (else ``OPENAI_API_KEY``): the key. A base URL without key is fine for
  local servers.
- ``BITBYBIT_LLM_MODEL``: the model name (default ``llm.default_model`` from production.yaml).

With neither a base URL nor a key the resource is *disabled* and callers use their offline path.

A :class:`LLMSession` (one per run) owns what the issue asks of the endpoint: JSON answers validated
against a JSON schema, timeouts, its own retries with exponential backoff that honour ``Retry-After``
(the openai client's retries are off so every attempt reaches the ledger), a budget cap on the
estimated cost, a ledger row per attempt and a cache keyed by content hash + prompt version + model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import jsonschema

from bitbybit_assets.enhance.llm_config import LLMConfig
from bitbybit_assets.text_safety import clean_json, redact_url
from resources.retry_after import retry_after_from_headers

log = logging.getLogger(__name__)

ENV_BASE_URL = "BITBYBIT_LLM_BASE_URL"
ENV_MODEL = "BITBYBIT_LLM_MODEL"
ENV_API_KEY = "BITBYBIT_LLM_API_KEY"
ENV_OPENAI_KEY = "OPENAI_API_KEY"

FAILURE_STATUSES = (
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    "invalid_json",
    "schema_invalid",
    "client_error",
)


def load_llm_config() -> LLMConfig:
    from bitbybit_assets.settings import load_settings

    return LLMConfig.model_validate(load_settings().llm)


def cache_key(content_hash: str, prompt_version: str, model: str) -> str:
    """The cache key: sha256(content hash + prompt version + model)."""
    return hashlib.sha256(f"{content_hash}\x1f{prompt_version}\x1f{model}".encode()).hexdigest()


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters a token) for budget estimates."""
    return max(1, len(text) // 4)


def parse_json_answer(content: str | None) -> Any:
    """The JSON object in a chat answer; tolerates markdown fences and prose around it.

    Model output is untrusted: every string in the result is cleaned (lone surrogates, NUL and
    other control characters removed, :func:`bitbybit_assets.text_safety.clean_json`)."""
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
class JsonResult:
    """What :meth:`LLMSession.complete_json` produced: ``data`` or ``None`` when it gave up."""

    data: Any
    status: str  # ok | cache_hit | budget_skipped | one of FAILURE_STATUSES (the last attempt's)
    attempts: int = 0
    cost_usd: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.data is not None


class LLMSession:
    """One run's use of an endpoint: calls, ledger, budget and cache. Thread-safe."""

    def __init__(
        self,
        *,
        client: Any,
        model: str,
        config: LLMConfig,
        run_id: str,
        prompt_version: str,
        cache: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        spent_before_usd: float = 0.0,
    ) -> None:
        self.client = client
        self.model = model
        self.config = config
        self.run_id = run_id
        self.prompt_version = prompt_version
        self.sleep = sleep
        self._cache: dict[str, str] = dict(cache or {})
        self._new_cache: dict[str, dict] = {}
        self._ledger: list[dict] = []
        self._lock = threading.Lock()
        self._spent = 0.0
        # what earlier sessions of the same run already spent (the budget is per run, all stages)
        self._spent_before = max(0.0, float(spent_before_usd))
        self._reserved = 0.0
        self._response_format = config.response_format
        self.budget_exhausted = False

    # ------------------------------------------------------------ cache

    def key(self, content_hash: str) -> str:
        return cache_key(content_hash, self.prompt_version, self.model)

    def cache_get(self, key: str, *, purpose: str, partition_date: date, item_count: int = 1) -> Any:
        """The cached answer for ``key`` (and a ``cache_hit`` ledger row), else ``None``."""
        with self._lock:
            raw = self._cache.get(key)
        if raw is None:
            return None
        try:
            value = clean_json(json.loads(raw))
        except (json.JSONDecodeError, TypeError, ValueError):
            return None
        self._record(
            partition_date=partition_date,
            purpose=purpose,
            status="cache_hit",
            attempt=0,
            item_count=item_count,
            cache_hit=True,
        )
        return value

    def cache_put(self, key: str, value: Any, *, purpose: str, partition_date: date) -> None:
        raw = json.dumps(clean_json(value), sort_keys=True, ensure_ascii=False)
        with self._lock:
            self._cache[key] = raw
            self._new_cache.setdefault(
                key,
                {
                    "partition_date": partition_date,
                    "cache_key": key,
                    "purpose": purpose,
                    "model": self.model,
                    "prompt_version": self.prompt_version,
                    "response_json": raw,
                    "created_at": datetime.now(UTC),
                },
            )

    @property
    def new_cache_rows(self) -> list[dict]:
        with self._lock:
            return list(self._new_cache.values())

    # ------------------------------------------------------------ ledger

    @property
    def ledger(self) -> list[dict]:
        with self._lock:
            return list(self._ledger)

    @property
    def spent_usd(self) -> float:
        with self._lock:
            return self._spent

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        c = self.config
        return (
            input_tokens * c.cost_per_1k_input_tokens_usd + output_tokens * c.cost_per_1k_output_tokens_usd
        ) / 1000.0

    def _record(self, **row: Any) -> dict:
        full = {
            "partition_date": row.pop("partition_date"),
            "run_id": self.run_id,
            "call_id": uuid.uuid4().hex,
            "purpose": row.pop("purpose"),
            "model": self.model,
            "prompt_version": self.prompt_version,
            "input_tokens": 0,
            "output_tokens": 0,
            "latency_ms": 0,
            "cost_usd": 0.0,
            "status": "ok",
            "error": None,
            "cache_hit": False,
            "attempt": 0,
            "item_count": 1,
            "called_at": datetime.now(UTC),
        }
        full.update(row)
        with self._lock:
            self._ledger.append(full)
        return full

    # ------------------------------------------------------------ calls

    def _backoff(self, attempt: int) -> float:
        c = self.config
        base = c.backoff_base_seconds * (2 ** (attempt - 1))
        return min(c.backoff_max_seconds, base) * (0.5 + random.random() / 2)

    def _reserve(self, estimate: float) -> bool:
        with self._lock:
            if (
                self.budget_exhausted
                or self._spent_before + self._spent + self._reserved + estimate
                > self.config.budget_usd_per_run
            ):
                self.budget_exhausted = True
                return False
            self._reserved += estimate
            return True

    def _request_kwargs(self, purpose: str, schema: dict) -> dict:
        kwargs: dict[str, Any] = {}
        mode = self._response_format
        if mode == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        elif mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": purpose, "schema": wire_schema(schema), "strict": False},
            }
        elif mode == "json_object_schema":
            kwargs["response_format"] = {"type": "json_object", "schema": wire_schema(schema)}
        return kwargs

    def complete_json(
        self,
        *,
        purpose: str,
        messages: list[dict],
        schema: dict,
        partition_date: date,
        item_count: int = 1,
        validate: Callable[[Any], None] | None = None,
    ) -> JsonResult:
        """Ask for a JSON answer valid against ``schema`` (and ``validate``, which raises ValueError).

        Retries timeouts, connection errors, 429 (after ``Retry-After``), 5xx, unparsable and invalid
        answers with exponential backoff; gives up after ``1 + max_retries`` attempts, on other 4xx,
        or when the next attempt's estimated cost would pass the run budget."""
        import openai

        c = self.config
        prompt_text = "".join(str(m.get("content", "")) for m in messages)
        est_in = estimate_tokens(prompt_text)
        estimate = self.cost(est_in, c.max_output_tokens)
        attempts = 1 + c.max_retries
        last_status, last_error, total_cost = "client_error", None, 0.0
        attempt = 0
        while attempt < attempts:
            attempt += 1
            if not self._reserve(estimate):
                self._record(
                    partition_date=partition_date,
                    purpose=purpose,
                    status="budget_skipped",
                    attempt=attempt,
                    item_count=item_count,
                    error=(
                        f"estimated ${estimate:.6f} would pass the run budget ${c.budget_usd_per_run:.4f}"
                        f" (${self._spent_before:.6f} spent by earlier stages of this run)"
                    ),
                )
                return JsonResult(None, "budget_skipped", attempt - 1, total_cost, "budget")
            wait: float | None = None
            retry = True
            in_tok = out_tok = 0
            status, error, data = "ok", None, None
            started = time.monotonic()
            try:
                resp = self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=c.temperature,
                    max_tokens=c.max_output_tokens,
                    timeout=c.timeout_seconds,
                    **self._request_kwargs(purpose, schema),
                )
                usage = getattr(resp, "usage", None)
                content = resp.choices[0].message.content if resp.choices else None
                in_tok = int(getattr(usage, "prompt_tokens", 0) or 0) or est_in
                out_tok = int(getattr(usage, "completion_tokens", 0) or 0) or estimate_tokens(content or "")
                try:
                    data = parse_json_answer(content)
                except (ValueError, json.JSONDecodeError) as exc:
                    status, error = "invalid_json", f"{type(exc).__name__}: {exc}"[:500]
                else:
                    try:
                        jsonschema.validate(data, schema)
                        if validate is not None:
                            validate(data)
                    except (jsonschema.ValidationError, ValueError) as exc:
                        status, error = "schema_invalid", str(getattr(exc, "message", exc))[:500]
                        data = None
            except openai.RateLimitError as exc:
                status, error = "rate_limited", str(exc)[:500]
                wait = retry_after_seconds(getattr(exc.response, "headers", None))
            except openai.APITimeoutError as exc:
                status, error = "timeout", str(exc)[:500]
            except openai.APIConnectionError as exc:
                status, error = "connection_error", str(exc)[:500]
            except openai.APIStatusError as exc:
                code = exc.status_code
                error = f"HTTP {code}: {str(exc)[:480]}"
                if code >= 500:
                    status = "server_error"
                    wait = retry_after_seconds(getattr(exc.response, "headers", None))
                elif code in (408, 409):
                    status = "timeout" if code == 408 else "server_error"
                else:
                    status = "client_error"
                    if code in (400, 422) and self._response_format != "none":
                        # The endpoint may not support response_format: ask again without it.
                        log.warning("LLM endpoint refused response_format (%s); retrying without", code)
                        self._response_format = "none"
                        wait = 0.0
                    else:
                        retry = False
            except openai.OpenAIError as exc:  # e.g. a 200 whose body is not a chat completion
                status, error = "invalid_json", f"{type(exc).__name__}: {str(exc)[:480]}"
            except (AttributeError, IndexError, TypeError, ValueError) as exc:  # odd response shapes
                status, error = "invalid_json", f"{type(exc).__name__}: {str(exc)[:480]}"
            latency_ms = int((time.monotonic() - started) * 1000)
            cost = self.cost(in_tok, out_tok)
            total_cost += cost
            with self._lock:
                self._reserved -= estimate
                self._spent += cost
            self._record(
                partition_date=partition_date,
                purpose=purpose,
                status=status,
                error=error,
                attempt=attempt,
                item_count=item_count,
                input_tokens=in_tok,
                output_tokens=out_tok,
                latency_ms=latency_ms,
                cost_usd=cost,
            )
            if status == "ok":
                return JsonResult(data, "ok", attempt, total_cost)
            last_status, last_error = status, error
            log.warning("LLM %s attempt %d/%d failed: %s %s", purpose, attempt, attempts, status, error)
            if not retry or attempt >= attempts:
                break
            if wait is None:
                wait = self._backoff(attempt)
            self.sleep(min(wait, c.max_retry_after_seconds))
        return JsonResult(None, last_status, attempt, total_cost, last_error)

    def summary(self) -> dict:
        """Ledger totals for asset metadata."""
        rows = self.ledger
        api = [r for r in rows if r["status"] not in ("cache_hit", "budget_skipped")]
        return {
            "llm_model": self.model,
            "llm_calls": len(api),
            "llm_failed_calls": sum(1 for r in api if r["status"] != "ok"),
            "llm_cache_hits": sum(1 for r in rows if r["cache_hit"]),
            "llm_budget_skips": sum(1 for r in rows if r["status"] == "budget_skipped"),
            "llm_input_tokens": sum(r["input_tokens"] for r in rows),
            "llm_output_tokens": sum(r["output_tokens"] for r in rows),
            "llm_cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
        }


@dataclass(frozen=True)
class Endpoint:
    base_url: str | None
    api_key: str
    model: str

    def __repr__(self) -> str:  # never the key, never credentials in the URL
        return f"Endpoint(base_url={redact_url(self.base_url)!r}, model={self.model!r})"

    def describe(self) -> str:
        """Where the endpoint is, safe to log (credentials and secret query values masked)."""
        return redact_url(self.base_url) or "api.openai.com"


class LLMResource(dg.ConfigurableResource):
    """OpenAI-compatible chat endpoint. Fields override the ``BITBYBIT_LLM_*`` environment variables;
    with no base URL and no key anywhere, :meth:`session` returns ``None`` (use the offline path)."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    enabled: bool = True

    def endpoint(self, config: LLMConfig | None = None) -> Endpoint | None:
        if not self.enabled:
            return None
        base_url = self.base_url or os.environ.get(ENV_BASE_URL) or None
        api_key = self.api_key or os.environ.get(ENV_API_KEY) or os.environ.get(ENV_OPENAI_KEY) or None
        if not base_url and not api_key:
            return None
        config = config or load_llm_config()
        model = self.model or os.environ.get(ENV_MODEL) or config.default_model
        return Endpoint(base_url=base_url, api_key=api_key or "not-needed", model=model)

    def session(
        self,
        *,
        run_id: str,
        prompt_version: str,
        cache: dict[str, str] | None = None,
        config: LLMConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        spent_before_usd: float = 0.0,
    ) -> LLMSession | None:
        """A session for one run, or ``None`` when no endpoint is configured.

        ``spent_before_usd``: what this run already spent on the endpoint (earlier stages, from the
        ``llm_calls`` ledger); it counts against ``budget_usd_per_run``."""
        config = config or load_llm_config()
        ep = self.endpoint(config)
        if ep is None:
            return None
        from openai import OpenAI

        client = OpenAI(
            base_url=ep.base_url,
            api_key=ep.api_key,
            max_retries=0,  # our own retries, so each attempt is in the ledger
            timeout=config.timeout_seconds,
        )
        return LLMSession(
            client=client,
            model=ep.model,
            config=config,
            run_id=run_id,
            prompt_version=prompt_version,
            cache=cache,
            sleep=sleep,
            spent_before_usd=spent_before_usd,
        )
