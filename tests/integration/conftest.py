"""Fixtures of the integration tests."""

from tests.enhance.test_llm_smoke import llama_server  # noqa: F401  (llama.cpp + SmolLM2; skips without them)
