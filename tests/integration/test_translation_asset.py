"""filtered_articles with translation, through Dagster, Delta and the real ``openai`` client against a
local OpenAI-compatible server; and the real local model (llama.cpp + SmolLM2, marked ``llm_smoke``).

Offline (no endpoint) the table is exactly the content filter's decision; with an endpoint a Chinese
row dropped for its language is translated, passes, keeps its provenance, and the call and its cached
answer land in ``llm_calls`` / ``llm_cache`` (a re-run pays nothing).
"""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import polars as pl
import pytest

from bitbybit_assets.definitions import build_resources
from bitbybit_assets.enhance import prompts
from bitbybit_assets.ingest.assets import filtered_articles
from bitbybit_assets.ingest.content_filter import apply_content_filter
from bitbybit_assets.partitions import DAILY
from bitbybit_assets.schemas import FILTERED_ARTICLES, conform
from bitbybit_base.settings import LLMConfig, runtime_settings
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.llm import LLMResource
from tests.ingest.test_translation import ENGLISH, ROWS, entries
from tests.support.openai_server import OpenAIStubServer

DAY = date(2026, 8, 5)
feed_entries_source = dg.SourceAsset(key="feed_entries", partitions_def=DAILY)


def translate_answer(body: dict) -> str:
    """The stub model: translation prompts answered from the dictionary of the pure tests."""
    items = prompts.unfence(body["messages"][-1]["content"])
    out = [{"id": it["id"], "title": ENGLISH[it["title"]][0], "summary": ENGLISH[it["title"]][1]} for it in items]
    return json.dumps({"items": out})


@pytest.fixture
def lakehouse(tmp_path, monkeypatch) -> Lakehouse:
    for var in ("BITBYBIT_LLM_BASE_URL", "BITBYBIT_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", str(tmp_path / "lakehouse"))
    lh = Lakehouse(root=str(tmp_path / "lakehouse"))
    lh.write_days("feed_entries", entries(ROWS), DAY, DAY)
    return lh


def run(lh: Lakehouse, llm: LLMResource) -> dg.ExecuteInProcessResult:
    resources = {**build_resources("local"), "lakehouse": lh, "io_manager": DeltaIOManager(lakehouse=lh), "llm": llm}
    return dg.materialize([feed_entries_source, filtered_articles], partition_key=DAY.isoformat(), resources=resources)


def meta(result: dg.ExecuteInProcessResult) -> dict:
    mats = result.asset_materializations_for_node("filtered_articles")
    return {k: v.value for k, v in mats[-1].metadata.items()}


def table(lh: Lakehouse) -> dict[str, dict]:
    df = lh.read_days("filtered_articles", DAY, DAY)
    return {r["entry_key"]: r for r in df.iter_rows(named=True)}


def test_offline_the_table_is_the_content_filter_decision(lakehouse):
    result = run(lakehouse, LLMResource())
    assert result.success
    stored = lakehouse.read_days("filtered_articles", DAY, DAY).select(list(FILTERED_ARTICLES)).sort("entry_key")
    cfg = runtime_settings().content_filter
    expected = conform(apply_content_filter(entries(ROWS), DAY, cfg), FILTERED_ARTICLES).sort("entry_key")
    assert stored.equals(expected)
    assert stored["translated_by"].null_count() == stored.height
    assert not any(k.startswith("translation_") for k in meta(result))
    assert lakehouse.read_days("llm_calls", DAY, DAY).is_empty()


def test_with_an_endpoint_chinese_rows_are_translated_once(lakehouse):
    with OpenAIStubServer(answer=translate_answer) as server:
        llm = LLMResource(base_url=server.base_url, api_key="k", model="stub-model")
        first = run(lakehouse, llm)
        assert first.success
        rows = table(lakehouse)
        z = rows["zh1"]
        assert z["passed_filter"] and z["title"] == "Nvidia reports record quarterly revenue"
        assert (z["original_title"], z["original_language"], z["translated_by"]) == (
            "英伟达公布创纪录的季度收入",
            "zh",
            "stub-model",
        )
        assert rows["ja1"]["filter_reason"] == "language" and rows["en1"]["translated_by"] is None
        m = meta(first)
        assert m["translation_translated"] == 2 and m["llm_calls"] == 1
        assert len(server.chat_requests) == 1
        ledger = lakehouse.read_days("llm_calls", DAY, DAY)
        assert ledger["purpose"].to_list() == ["translation"]
        assert ledger["prompt_version"].to_list() == [prompts.TRANSLATION_PROMPT_VERSION]

        again = run(lakehouse, llm)  # a re-run: every answer from the cache
        assert len(server.chat_requests) == 1
        assert meta(again)["translation_from_cache"] == 2
        assert table(lakehouse)["zh1"]["title"] == z["title"]


# ---------------------------------------------------------------- the real local model


@pytest.mark.llm_smoke
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_local_model_translation_contract(llama_server):
    """``llama_server``: tests/integration/conftest.py. A 135M model rarely translates well: the contract, not the prose. Every row the model
    translated passes with its provenance; the others stay dropped for their language."""
    from bitbybit_assets.ingest.translation import filter_and_translate
    from bitbybit_base.settings import ContentFilterSettings, TranslationSettings

    config = LLMConfig(
        response_format="json_object_schema", max_retries=0, concurrency=1, timeout_seconds=240,
        max_output_tokens=400, backoff_base_seconds=0.1, temperature=0.0,
    )  # fmt: skip
    session = LLMResource(base_url=llama_server, model="smollm2-135m-instruct").session(
        run_id="smoke", prompt_version=prompts.TRANSLATION_PROMPT_VERSION, config=config
    )
    cfg = ContentFilterSettings(translation=TranslationSettings(languages=["zh"], batch_size=1))
    out, report = filter_and_translate(entries(ROWS), DAY, cfg, session)
    ledger = session.ledger
    assert ledger and {r["purpose"] for r in ledger} == {"translation"}
    assert all(r["status"] in ("ok", "invalid_json", "schema_invalid") for r in ledger), ledger
    assert all(r["input_tokens"] > 50 and r["output_tokens"] > 0 for r in ledger)
    assert report.translated + report.failed == report.candidates == 2
    for r in conform(out, FILTERED_ARTICLES).filter(pl.col("language") == "zh").iter_rows(named=True):
        if r["translated_by"]:
            assert r["translated_by"] == "smollm2-135m-instruct" and r["original_language"] == "zh"
            assert r["original_title"] != r["title"] and r["filter_reason"] in (None, "duplicate_url")
        elif r["entry_key"] != "short":
            assert r["filter_reason"] == "language"

