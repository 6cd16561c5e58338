"""One run's use of an OpenAI-compatible chat endpoint: :class:`LLMSession`.

A session owns what the issue asks of the endpoint: JSON answers validated against a JSON schema,
timeouts, its own retries with exponential backoff that honour ``Retry-After`` (the openai client's
retries are off so every attempt reaches the ledger), a budget cap on the estimated cost, a ledger
row per attempt and a cache keyed by content hash + prompt version + model.

:meth:`LLMSession.complete_json` is a loop over named steps: reserve the budget, one request
(:meth:`~LLMSession._attempt`: :func:`check_answer` on an answer, :func:`classify_failure` on an
error), settle its cost and ledger row, then wait and retry or stop. Built by
:class:`resources.llm.LLMResource`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bitbybit_base.settings import LLMConfig
from bitbybit_base.text_safety import clean_json
from resources.llm_answers import (
    Attempt,
    cache_key,
    check_answer,
    classify_failure,
    estimate_tokens,
    wire_schema,
)

log = logging.getLogger(__name__)

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
        or when the next attempt's estimated cost would pass the run budget. Each attempt is
        :meth:`_attempt` (one request, classified) then :meth:`_settle` (cost and ledger row)."""
        c = self.config
        est_in = estimate_tokens("".join(str(m.get("content", "")) for m in messages))
        estimate = self.cost(est_in, c.max_output_tokens)
        attempts = 1 + c.max_retries
        last: Attempt | None = None
        total_cost = 0.0
        attempt = 0
        while attempt < attempts:
            attempt += 1
            if not self._reserve(estimate):
                self._record_budget_skip(purpose, partition_date, attempt, item_count, estimate)
                return JsonResult(None, "budget_skipped", attempt - 1, total_cost, "budget")
            last = self._attempt(purpose, messages, schema, validate, est_in)
            total_cost += self._settle(last, estimate, purpose, partition_date, attempt, item_count)
            if last.status == "ok":
                return JsonResult(last.data, "ok", attempt, total_cost)
            log.warning("LLM %s attempt %d/%d failed: %s %s", purpose, attempt, attempts, last.status, last.error)
            if not last.retry or attempt >= attempts:
                break
            wait = last.wait if last.wait is not None else self._backoff(attempt)
            self.sleep(min(wait, c.max_retry_after_seconds))
        status, error = (last.status, last.error) if last else ("client_error", None)
        return JsonResult(None, status, attempt, total_cost, error)

    def _record_budget_skip(
        self, purpose: str, partition_date: date, attempt: int, item_count: int, estimate: float
    ) -> None:
        self._record(
            partition_date=partition_date,
            purpose=purpose,
            status="budget_skipped",
            attempt=attempt,
            item_count=item_count,
            error=(
                f"estimated ${estimate:.6f} would pass the run budget ${self.config.budget_usd_per_run:.4f}"
                f" (${self._spent_before:.6f} spent by earlier stages of this run)"
            ),
        )

    def _attempt(
        self,
        purpose: str,
        messages: list[dict],
        schema: dict,
        validate: Callable[[Any], None] | None,
        est_in: int,
    ) -> Attempt:
        """One request: the checked answer, or the failure classified by :func:`classify_failure`."""
        c = self.config
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
        except Exception as exc:  # noqa: BLE001 - classify_failure re-raises what it does not know
            result = self._failed(exc)
        else:
            try:
                data, status, error = check_answer(content, schema, validate)
                result = Attempt(status, error, data, in_tok, out_tok)
            except Exception as exc:  # noqa: BLE001 - e.g. a validate() that raised TypeError
                result = self._failed(exc)
                result.input_tokens, result.output_tokens = in_tok, out_tok
        result.latency_ms = int((time.monotonic() - started) * 1000)
        return result

    def _failed(self, exc: BaseException) -> Attempt:
        failure = classify_failure(exc, response_format=self._response_format)
        if failure.drop_response_format:
            log.warning("LLM endpoint refused response_format (%s); retrying without", failure.error)
            self._response_format = "none"
        return failure

    def _settle(
        self, a: Attempt, estimate: float, purpose: str, partition_date: date, attempt: int, item_count: int
    ) -> float:
        """Release the attempt's reservation, add its real cost, write its ledger row; its cost."""
        cost = self.cost(a.input_tokens, a.output_tokens)
        with self._lock:
            self._reserved -= estimate
            self._spent += cost
        self._record(
            partition_date=partition_date,
            purpose=purpose,
            status=a.status,
            error=a.error,
            attempt=attempt,
            item_count=item_count,
            input_tokens=a.input_tokens,
            output_tokens=a.output_tokens,
            latency_ms=a.latency_ms,
            cost_usd=cost,
        )
        return cost

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
