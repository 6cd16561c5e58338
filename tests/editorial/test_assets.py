"""editorial_overrides in the asset graph: the desk's actions snapshotted for the day and applied by
enhanced_articles (selection before enhancement, edits after) and newsletters (issue edits); a
re-materialised day keeps them; edited HTML/script is escaped in the newsletter."""

from datetime import date

import dagster as dg
import polars as pl
import pytest
import yaml

from bitbybit_assets import quality_rules as rules
from bitbybit_assets.editorial.assets import editorial_overrides
from bitbybit_assets.editorial.store import Action, open_editorial_store
from bitbybit_assets.enhance.assets import enhanced_articles
from bitbybit_assets.partitions import DAILY
from bitbybit_assets.publish.assets import newsletters
from bitbybit_assets.schemas import EDITORIAL_OVERRIDES
from bitbybit_base.settings import PROJECT_ROOT, runtime_settings
from resources.embeddings import EmbeddingModel
from resources.lakehouse import DeltaIOManager, Lakehouse
from resources.llm import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, ENV_OPENAI_KEY, LLMResource
from resources.postgres import PostgresResource
from tests.enhance.helpers import scored_frame

DAY = date(2026, 8, 5)
SCRIPT = "<script>alert(1)</script> Falcon 3 is the open code model to watch this week."
pytestmark = pytest.mark.timeout(180)


def day_frame(day: date) -> pl.DataFrame:
    """12 candidates, the even ones selected (6 picks); #5 is an ad."""
    df = scored_frame(12, day=day, selected_every=2)
    return df.with_columns(
        is_advertisement=pl.col("rank") == 6,
        ad_reason=pl.when(pl.col("rank") == 6).then(pl.lit("promo")),
        passed_filter=pl.lit(True),
        previously_sent=pl.lit(False),
    )


@dg.asset(name="scored_articles", partitions_def=DAILY)
def scored_stub(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return day_frame(date.fromisoformat(context.partition_key))


@pytest.fixture
def env(isolated_env, monkeypatch):
    for var in (
        ENV_BASE_URL,
        ENV_API_KEY,
        ENV_OPENAI_KEY,
        ENV_MODEL,
        "BITBYBIT_POSTGRES_DSN",
        "POSTGRES_HOST",
    ):
        monkeypatch.delenv(var, raising=False)
    cfg = yaml.safe_load((PROJECT_ROOT / "config" / "production.yaml").read_text())
    cfg.setdefault("enhancement", {})["use_embeddings"] = False
    cfg.setdefault("newsletter", {})["min_articles"] = 0
    cfg.setdefault("curation", {})["top_n"] = 6
    path = isolated_env / "production.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(path))
    return isolated_env


def keys() -> list[str]:
    return day_frame(DAY)["entry_key"].to_list()


def save(actions: list[Action], actor: str = "ann") -> None:
    with open_editorial_store(PostgresResource()) as store:
        store.save(DAY, actions, actor=actor, base_revision=store.revision(DAY))


def run() -> tuple[dg.ExecuteInProcessResult, Lakehouse]:
    lakehouse = Lakehouse()
    result = dg.materialize(
        [scored_stub, editorial_overrides, enhanced_articles, newsletters],
        partition_key=DAY.isoformat(),
        resources={
            "lakehouse": lakehouse,
            "io_manager": DeltaIOManager(lakehouse=lakehouse),
            "llm": LLMResource(),
            "embeddings": EmbeddingModel(),
            "postgres": PostgresResource(),
            "settings": runtime_settings(),
        },
    )
    assert result.success
    return result, lakehouse


def test_without_overrides_the_day_is_unchanged(env):
    result, lh = run()
    assert lh.read_days("editorial_overrides", DAY, DAY).height == 0
    enhanced = lh.read_days("enhanced_articles", DAY, DAY).sort("rank")
    assert enhanced["entry_key"].to_list() == keys()[0::2]
    assert enhanced["pick_source"].unique().to_list() == ["pipeline"]
    assert lh.read_days("newsletters", DAY, DAY)["edited_fields"].to_list() == [[]]


def test_overrides_are_applied_and_kept_when_the_day_is_rematerialised(env):
    k = keys()
    save(
        [
            Action("drop", k[2]),
            Action("drop", k[6]),
            Action("pin", k[7]),
            Action("swap", k[4], value=k[9]),
            Action("edit", k[0], "summary", SCRIPT, "old"),
            Action("edit", k[0], "title", "Falcon <3> ships"),
            Action("edit", field="subject", value="Editors' <b>pick</b>"),
            Action("edit", field="intro", value="Hi & welcome"),
            Action("pin", "no-such-article"),
        ]
    )
    result, lh = run()

    snapshot = lh.read_days("editorial_overrides", DAY, DAY)
    assert snapshot.height == 9 and dict(snapshot.schema) == EDITORIAL_OVERRIDES
    meta = result.asset_materializations_for_node("editorial_overrides")[0].metadata
    assert "no-such-ar" in str(meta["overrides_missing"].value)

    enhanced = lh.read_days("enhanced_articles", DAY, DAY).sort("rank")
    # swap k4 -> k9 in place; drops of k2 and k6 free two places: the pin k7 takes one, the next-best
    # replaceable candidate (k1) the other, so the count stays
    assert enhanced["entry_key"].to_list() == [k[0], k[9], k[8], k[10], k[7], k[1]]
    source = dict(zip(enhanced["entry_key"], enhanced["pick_source"], strict=True))
    assert (
        source[k[7]] == source[k[9]] == "pin" and source[k[1]] == "replacement" and source[k[0]] == "pipeline"
    )
    replacement = enhanced.filter(pl.col("entry_key") == k[1]).row(0, named=True)
    assert replacement["summary"] and replacement["summary_source"] == "offline"  # enhanced like any pick
    first = enhanced.row(0, named=True)
    assert (
        first["summary"] == SCRIPT
        and first["summary_source"] == "editor"
        and first["title"] == "Falcon <3> ships"
    )
    assert first["edited_fields"] == ["summary", "title"]
    emeta = result.asset_materializations_for_node("enhanced_articles")[0].metadata
    assert emeta["overrides_applied"].value >= 5

    letter = lh.read_days("newsletters", DAY, DAY).row(0, named=True)
    assert letter["subject_line"] == "Editors' <b>pick</b>" and letter["intro"] == "Hi & welcome"
    assert letter["edited_fields"] == ["intro", "subject"]
    html, text = letter["html"], letter["text"]
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert (
        "Falcon &lt;3&gt; ships" in html and "<b>pick</b>" not in html and "&lt;b&gt;pick&lt;/b&gt;" in html
    )
    assert "<script>alert(1)</script> Falcon 3" in text and "Falcon <3> ships" in text
    assert letter["article_ids"][0] == k[0]

    # the editor's picks pass the blocking check; nothing pinned is an ad
    scored = lh.read_days("scored_articles", DAY, DAY)
    assert rules.picks_match_selection(enhanced, scored, [DAY]).passed
    assert rules.pinned_ads(enhanced, scored, [DAY]).passed

    # re-materialising the day keeps every edit; a later action (pin the ad) joins them
    save([Action("pin", k[5])], actor="bob")
    _, lh = run()
    again = lh.read_days("enhanced_articles", DAY, DAY).sort("rank")
    assert again["entry_key"].to_list() == [k[0], k[9], k[8], k[10], k[7], k[5]]
    assert again.row(0, named=True)["summary"] == SCRIPT
    assert lh.read_days("newsletters", DAY, DAY)["subject_line"].item() == "Editors' <b>pick</b>"
    pinned_ad = rules.pinned_ads(again, scored, [DAY])
    assert not pinned_ad.passed and rules.picks_match_selection(again, scored, [DAY]).passed
