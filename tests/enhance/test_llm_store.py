"""The LLM ledger and cache tables (bitbybit_assets/llm_store.py) on a real Delta lakehouse."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from bitbybit_assets import llm_store
from bitbybit_base.settings_models import LLMConfig
from resources.lakehouse import Lakehouse
from resources.llm import LLMResource

DAY = date(2026, 8, 5)


def _call(call_id: str, run_id: str, cost: float) -> dict:
    return {
        "partition_date": DAY, "run_id": run_id, "call_id": call_id, "purpose": "article_summaries",
        "model": "m", "prompt_version": "v", "input_tokens": 10, "output_tokens": 5, "latency_ms": 1,
        "cost_usd": cost, "status": "ok", "error": None, "cache_hit": False, "attempt": 1,
        "item_count": 1, "called_at": datetime.now(UTC),
    }  # fmt: skip


class _Session:
    """What close_session reads of an LLMSession: its ledger, new cache rows and totals."""

    ledger = [_call("c1", "r1", 0.25), _call("c2", "r1", 0.5)]
    new_cache_rows = [
        {"partition_date": DAY, "cache_key": "k1", "purpose": "article_summaries", "model": "m",
         "prompt_version": "v", "response_json": '{"summary": "x"}', "created_at": datetime.now(UTC)}
    ]  # fmt: skip

    def summary(self) -> dict:
        return {"llm_calls": 2}


def test_close_session_stores_ledger_and_cache_once(tmp_path):
    store = Lakehouse(root=str(tmp_path))
    assert llm_store.close_session(None, store) == {"llm_calls": 0, "llm_cost_usd": 0.0}
    assert llm_store.close_session(_Session(), store) == {"llm_calls": 2}
    llm_store.close_session(_Session(), store)  # saved again: nothing is stored twice
    assert llm_store.day_cost(store, DAY) == 0.75
    assert llm_store.run_cost(store, "r1") == 0.75 and llm_store.run_cost(store, "r2") == 0.0
    assert llm_store.load_cache(store, model="m", prompt_version="v") == {"k1": '{"summary": "x"}'}
    assert llm_store.load_cache(store, model="other", prompt_version="v") == {}


def test_open_session_is_none_without_an_endpoint(tmp_path, monkeypatch):
    for var in ("BITBYBIT_LLM_BASE_URL", "BITBYBIT_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    log = logging.getLogger("test")
    store = Lakehouse(root=str(tmp_path))
    assert llm_store.open_session(LLMResource(), store, run_id="r1", config=LLMConfig(), log=log) is None
    session = llm_store.open_session(
        LLMResource(base_url="http://127.0.0.1:9/v1", model="m"), store, run_id="r1", config=LLMConfig(), log=log
    )
    assert session is not None and session.model == "m" and session.run_id == "r1"
