"""Item 8: ``llm_cache``/``llm_calls`` writes lose no rows under concurrent writers, and the LLM
budget is per run, across every stage (enhancement + newsletter copy)."""

import multiprocessing
import os
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest
import yaml

from bitbybit_assets import llm_store as ledger
from bitbybit_assets.enhance.assets import enhanced_articles
from bitbybit_assets.partitions import DAILY
from bitbybit_assets.publish.assets import newsletters
from bitbybit_assets.schemas import LLM_CACHE, LLM_CALLS, conform
from bitbybit_base.settings import PROJECT_ROOT, runtime_settings
from resources.embeddings import EmbeddingModel
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.llm import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, ENV_OPENAI_KEY, LLMResource
from tests.enhance.helpers import scored_frame
from tests.support.openai_server import OpenAIStubServer, Step

DAY = date(2026, 8, 5)
WRITERS, ROUNDS = 3, 6


def _cache_row(key: str) -> dict:
    return {"partition_date": DAY, "cache_key": key, "purpose": "p", "model": "m", "prompt_version": "v",
            "response_json": "{}", "created_at": datetime.now(UTC)}  # fmt: skip


def _call_row(call_id: str) -> dict:
    return {"partition_date": DAY, "run_id": "r", "call_id": call_id, "purpose": "p", "model": "m",
            "prompt_version": "v", "input_tokens": 1, "output_tokens": 1, "latency_ms": 1, "cost_usd": 0.01,
            "status": "ok", "error": None, "cache_hit": False, "attempt": 1, "item_count": 1,
            "called_at": datetime.now(UTC)}  # fmt: skip


def _legacy_append(
    store: Lakehouse, table: str, rows: list[dict], schema: dict, existing: pl.DataFrame
) -> None:
    """The write before the fix: read the day, add the rows, overwrite the day."""
    new = pl.DataFrame(rows, schema=schema)
    combined = pl.concat([conform(existing, schema), new]) if not existing.is_empty() else new
    store.write_days(table, combined, DAY, DAY)


def test_read_then_overwrite_lost_the_other_writers_rows(tmp_path):
    store = Lakehouse(root=str(tmp_path / "lh"))
    # two runs read the day at the same time, then each writes what it read plus its own row
    seen_a = store.read_days(ledger.CACHE_TABLE, DAY, DAY)
    seen_b = store.read_days(ledger.CACHE_TABLE, DAY, DAY)
    _legacy_append(store, ledger.CACHE_TABLE, [_cache_row("from-a")], LLM_CACHE, seen_a)
    _legacy_append(store, ledger.CACHE_TABLE, [_cache_row("from-b")], LLM_CACHE, seen_b)
    assert store.read_days(ledger.CACHE_TABLE, DAY, DAY)["cache_key"].to_list() == ["from-b"]  # a: lost

    # the same interleaving with the ledger's blind appends keeps both
    fixed = Lakehouse(root=str(tmp_path / "lh2"))
    fixed.read_days(ledger.CACHE_TABLE, DAY, DAY)
    fixed.read_days(ledger.CACHE_TABLE, DAY, DAY)
    ledger.save_cache(fixed, [_cache_row("from-a")])
    ledger.save_cache(fixed, [_cache_row("from-b")])
    assert sorted(fixed.read_days(ledger.CACHE_TABLE, DAY, DAY)["cache_key"].to_list()) == [
        "from-a",
        "from-b",
    ]


def _writer(root: str, writer: int, start, queue) -> None:
    os.environ["BITBYBIT_LAKEHOUSE_ROOT"] = root
    store = Lakehouse(root=root)
    start.wait(60)
    errors = []
    for i in range(ROUNDS):
        try:
            ledger.save_cache(store, [_cache_row(f"w{writer}-{i}")])
            ledger.save_ledger(store, [_call_row(f"w{writer}-{i}")])
        except Exception as exc:  # reported to the parent, asserted empty there
            errors.append(repr(exc)[:300])
    queue.put(errors)


@pytest.mark.slow
def test_concurrent_writers_keep_every_row(tmp_path):
    root = str(tmp_path / "lakehouse")
    ctx = multiprocessing.get_context("spawn")  # delta-rs' runtime does not survive fork
    start, queue = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(root, w, start, queue)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    errors = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert errors == [[]] * WRITERS
    store = Lakehouse(root=root)
    expected = sorted(f"w{w}-{i}" for w in range(WRITERS) for i in range(ROUNDS))
    assert sorted(store.read_days(ledger.CACHE_TABLE, DAY, DAY)["cache_key"].to_list()) == expected
    assert sorted(store.read_days(ledger.LEDGER_TABLE, DAY, DAY)["call_id"].to_list()) == expected
    assert ledger.day_cost(store, DAY) == pytest.approx(0.01 * WRITERS * ROUNDS)


def test_a_cache_key_stored_twice_reads_as_one(tmp_path):
    store = Lakehouse(root=str(tmp_path / "lh"))
    first, second = _cache_row("k"), {**_cache_row("k"), "response_json": '{"late": 1}'}
    store.append_rows(ledger.CACHE_TABLE, pl.DataFrame([first], schema=LLM_CACHE))
    store.append_rows(ledger.CACHE_TABLE, pl.DataFrame([second], schema=LLM_CACHE))  # a race's duplicate
    assert ledger.load_cache(store, model="m", prompt_version="v") == {"k": "{}"}  # the first one wins
    store.append_rows(ledger.LEDGER_TABLE, pl.DataFrame([_call_row("c")] * 2, schema=LLM_CALLS))
    assert ledger.day_cost(store, DAY) == pytest.approx(0.01)


# ---------------------------------------------------------------- one budget for the whole run


@dg.asset(name="scored_articles", partitions_def=DAILY)
def scored_stub(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return scored_frame(6, day=date.fromisoformat(context.partition_key))


@pytest.fixture
def budget_env(isolated_env, monkeypatch):
    for var in (ENV_BASE_URL, ENV_API_KEY, ENV_OPENAI_KEY, ENV_MODEL):
        monkeypatch.delenv(var, raising=False)
    cfg = yaml.safe_load((PROJECT_ROOT / "config" / "production.yaml").read_text())
    cfg["enhancement"]["use_embeddings"] = False
    cfg["newsletter"]["min_articles"] = 0
    cfg["llm"].update(budget_usd_per_run=1.0, cost_per_1k_input_tokens_usd=0.001, batch_size=6,
                      cost_per_1k_output_tokens_usd=0.001, max_output_tokens=1200, max_retries=0)  # fmt: skip
    path = isolated_env / "production.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(path))
    return isolated_env


@pytest.mark.timeout(180)
def test_the_budget_covers_every_stage_of_a_run(budget_env):
    with OpenAIStubServer() as server:
        # the summaries cost $0.999 of the $1.00 run budget...
        server.script(Step(usage=(999_000, 1)))
        lakehouse = Lakehouse()
        result = dg.materialize(
            [scored_stub, enhanced_articles, newsletters],
            partition_key=DAY.isoformat(),
            resources={"lakehouse": lakehouse, "io_manager": DeltaIOManager(lakehouse=lakehouse),
                       "llm": LLMResource(base_url=server.base_url, api_key="k", model="stub-model"),
                       "embeddings": EmbeddingModel(), "settings": runtime_settings()},
        )  # fmt: skip
        assert result.success
        requests = len(server.chat_requests)
    calls = lakehouse.read_days(ledger.LEDGER_TABLE, DAY, DAY).filter(pl.col("run_id") == result.run_id)
    # ...so the newsletter copy (a second session of the same run) is not asked for: before the fix
    # each session had its own $1.00 and the run could spend twice the cap
    assert requests == 1
    copy = calls.filter(pl.col("purpose") == "newsletter_copy")
    assert copy["status"].to_list() == ["budget_skipped"]
    assert "spent by earlier stages" in copy["error"][0]
    assert calls["cost_usd"].sum() <= 1.0
    news = lakehouse.read_days("newsletters", DAY, DAY).row(0, named=True)
    assert news["copy_source"] == "offline"
