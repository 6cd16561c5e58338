"""The enhanced_articles and newsletters assets materialised by Dagster on a temporary lakehouse."""

from datetime import date

import dagster as dg
import polars as pl
import pytest
import yaml

from bitbybit_assets.enhance.assets import enhanced_articles
from bitbybit_assets.partitions import DAILY
from bitbybit_assets.publish.assets import newsletters
from bitbybit_assets.schemas import ENHANCED_ARTICLES, LLM_CACHE, LLM_CALLS, NEWSLETTERS
from bitbybit_base.settings import PROJECT_ROOT, runtime_settings
from resources.embeddings import EmbeddingModel
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.llm import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, ENV_OPENAI_KEY, LLMResource
from tests.enhance.helpers import scored_frame
from tests.support.openai_server import OpenAIStubServer

DAY = date(2026, 8, 5)
pytestmark = pytest.mark.timeout(180)


@dg.asset(name="scored_articles", partitions_def=DAILY)
def scored_stub(context: dg.AssetExecutionContext) -> pl.DataFrame:
    day = date.fromisoformat(context.partition_key)
    return scored_frame(12, day=day, selected_every=1)


@dg.asset(name="scored_articles", partitions_def=DAILY)
def quiet_scored_stub(context: dg.AssetExecutionContext) -> pl.DataFrame:
    """A quiet day: three picks passed the floor, fewer than top_n (as curation marks it)."""
    day = date.fromisoformat(context.partition_key)
    return scored_frame(3, day=day, selected_every=1).with_columns(quiet_day=pl.lit(True))


@pytest.fixture
def env(isolated_env, monkeypatch):
    for var in (ENV_BASE_URL, ENV_API_KEY, ENV_OPENAI_KEY, ENV_MODEL):
        monkeypatch.delenv(var, raising=False)
    cfg = yaml.safe_load((PROJECT_ROOT / "config" / "production.yaml").read_text())
    cfg.setdefault("enhancement", {})["use_embeddings"] = False  # keep the test fast: TF-IDF path
    cfg.setdefault("newsletter", {})["min_articles"] = 0
    path = isolated_env / "production.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(path))
    return isolated_env


def run(llm: LLMResource, scored: dg.AssetsDefinition = scored_stub):
    lakehouse = Lakehouse()
    result = dg.materialize(
        [scored, enhanced_articles, newsletters],
        partition_key=DAY.isoformat(),
        resources={
            "lakehouse": lakehouse,
            "io_manager": DeltaIOManager(lakehouse=lakehouse),
            "llm": llm,
            "embeddings": EmbeddingModel(),
            "settings": runtime_settings(),
        },
    )
    assert result.success
    return result, lakehouse


def test_offline_materialisation_writes_tables_and_files(env):
    result, lh = run(LLMResource())
    enhanced = lh.read_days("enhanced_articles", DAY, DAY)
    assert enhanced.height == 12
    assert set(ENHANCED_ARTICLES) <= set(enhanced.columns)
    assert enhanced["summary_source"].unique().to_list() == ["offline"]
    news = lh.read_days("newsletters", DAY, DAY)
    assert news.height == 1 and set(NEWSLETTERS) <= set(news.columns)
    row = news.row(0, named=True)
    assert row["article_count"] == 12 and row["article_ids"] == sorted(
        row["article_ids"], key=row["article_ids"].index
    )
    html_file = env / "output" / "newsletter" / "2026-08-05.html"
    assert html_file.read_text() == row["html"]
    assert (env / "output" / "newsletter" / "2026-08-05.txt").read_text() == row["text"]
    meta = result.asset_materializations_for_node("newsletters")[0].metadata
    assert meta["subject"].value == row["subject_line"]
    assert meta["article_count"].value == 12 and meta["html_bytes"].value == row["html_bytes"]
    assert meta["path"].value == str(html_file)
    assert "BITBYBIT" in meta["preview"].value
    emeta = result.asset_materializations_for_node("enhanced_articles")[0].metadata
    assert emeta["llm_calls"].value == 0 and emeta["summary_sources"].value == {"offline": 12}
    assert lh.read_days("llm_calls", DAY, DAY).is_empty()
    assert meta["quiet_days"].value == [] and "quiet day" not in row["text"]
    assert enhanced["quiet_day"].fill_null(False).sum() == 0


def test_a_quiet_day_flows_from_scored_articles_into_the_newsletter(env):
    result, lh = run(LLMResource(), quiet_scored_stub)
    enhanced = lh.read_days("enhanced_articles", DAY, DAY)
    assert enhanced.height == 3 and enhanced["quiet_day"].to_list() == [True] * 3
    row = lh.read_days("newsletters", DAY, DAY).row(0, named=True)
    assert row["article_count"] == 3
    note = "A quiet day: 3 stories met our bar today."
    assert note in row["text"] and note in row["html"]
    meta = result.asset_materializations_for_node("newsletters")[0].metadata
    assert meta["quiet_days"].value == [DAY.isoformat()]


def test_llm_materialisation_ledger_cache_and_rerun(env):
    with OpenAIStubServer() as server:
        llm = LLMResource(base_url=server.base_url, api_key="k", model="stub-model")
        first, lh = run(llm)
        calls_after_first = len(server.chat_requests)
        assert calls_after_first == 2 + 1  # 12 articles in batches of 8, plus the newsletter copy
        enhanced = lh.read_days("enhanced_articles", DAY, DAY)
        assert enhanced["summary_source"].unique().to_list() == ["llm"]
        ledger = lh.read_days("llm_calls", DAY, DAY)
        assert set(LLM_CALLS) <= set(ledger.columns) and ledger.height == 3
        assert ledger["run_id"].unique().to_list() == [first.run_id]
        cache = lh.read_days("llm_cache", date(1970, 1, 1), date(2999, 1, 1))
        assert set(LLM_CACHE) <= set(cache.columns) and cache.height == 13
        meta = first.asset_materializations_for_node("enhanced_articles")[0].metadata
        assert meta["llm_calls"].value == 2 and meta["llm_cost_usd"].value > 0
        assert meta["llm_input_tokens"].value > 0
        news = lh.read_days("newsletters", DAY, DAY).row(0, named=True)
        assert news["copy_source"] == "llm"
        assert news["llm_cost_usd"] == pytest.approx(float(ledger["cost_usd"].sum()), abs=1e-6)

        # a re-run (or backfill) of the same day never pays twice
        second, lh = run(llm)
        assert len(server.chat_requests) == calls_after_first
        enhanced = lh.read_days("enhanced_articles", DAY, DAY)
        assert enhanced["summary_source"].unique().to_list() == ["llm_cache"]
        ledger = lh.read_days("llm_calls", DAY, DAY)
        hits = ledger.filter(pl.col("run_id") == second.run_id)
        assert hits["cache_hit"].all() and hits.height == 13 and hits["cost_usd"].sum() == 0
        assert lh.read_days("llm_cache", date(1970, 1, 1), date(2999, 1, 1)).height == 13
        news2 = lh.read_days("newsletters", DAY, DAY).row(0, named=True)
        assert news2["copy_source"] == "llm_cache" and news2["newsletter_id"] == news["newsletter_id"]
