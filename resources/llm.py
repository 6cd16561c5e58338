"""LLM resource: any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Environment (read at call time, never at import):

- ``BITBYBIT_LLM_BASE_URL``: the endpoint, e.g. ``http://localhost:8080/v1``. Unset -> OpenAI's.
- ``BITBYBIT_LLM_API_KEY`` (else ``OPENAI_API_KEY``): the key. A base URL without key is fine for
  local servers.
- ``BITBYBIT_LLM_MODEL``: the model name (default ``llm.default_model`` from production.yaml).

With neither a base URL nor a key the resource is *disabled* and callers use their offline path.

A :class:`~resources.llm_session.LLMSession` (one per run, :meth:`LLMResource.session`) owns the
calls: JSON answers, retries, budget, ledger and cache (see :mod:`resources.llm_session`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from bitbybit_base.settings import LLMConfig, runtime_settings
from bitbybit_base.text_safety import redact_url
from resources.llm_answers import (  # noqa: F401 - the call's pure steps, importable from here too
    FAILURE_STATUSES,
    cache_key,
    parse_json_answer,
    retry_after_seconds,
    wire_schema,
)
from resources.llm_session import JsonResult, LLMSession  # noqa: F401

ENV_BASE_URL = "BITBYBIT_LLM_BASE_URL"
ENV_MODEL = "BITBYBIT_LLM_MODEL"
ENV_API_KEY = "BITBYBIT_LLM_API_KEY"
ENV_OPENAI_KEY = "OPENAI_API_KEY"


def load_llm_config() -> LLMConfig:
    """The ``llm:`` settings of this process."""
    return runtime_settings().llm


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
