"""The ``llm:`` section of production.yaml (no Dagster: also validated by ``load_settings``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LLMConfig(BaseModel):
    """The ``llm`` section of production.yaml."""

    model_config = ConfigDict(extra="forbid")

    default_model: str = "gpt-4o-mini"
    max_retries: int = Field(3, ge=0)  # attempts = 1 + max_retries
    timeout_seconds: float = Field(60.0, gt=0)
    batch_size: int = Field(8, ge=1)
    concurrency: int = Field(2, ge=1)
    budget_usd_per_run: float = Field(1.0, ge=0)  # every LLM call of one run, all stages together
    cost_per_1k_input_tokens_usd: float = Field(0.00015, ge=0)
    cost_per_1k_output_tokens_usd: float = Field(0.0006, ge=0)
    max_output_tokens: int = Field(1200, ge=16)
    max_article_chars: int = Field(3000, ge=200)  # article text sent per article
    temperature: float = 0.2
    # json_object: OpenAI JSON mode; json_schema: OpenAI/vLLM structured outputs; json_object_schema:
    # llama.cpp server's grammar-constrained JSON ({"type": "json_object", "schema": ...}); none.
    response_format: Literal["json_object", "json_schema", "json_object_schema", "none"] = "json_object"
    backoff_base_seconds: float = Field(1.0, ge=0)
    backoff_max_seconds: float = Field(30.0, ge=0)
    max_retry_after_seconds: float = Field(120.0, ge=0)
