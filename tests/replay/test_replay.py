"""A replay with a changed top_n and a changed weight: its diff matches a direct comparison of the
replayed and published tables, evaluation figures appear on labelled days, and nothing under the
published lakehouse changes (same Delta versions, same file bytes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from bitbybit_assets.backfill import run_backfill
from bitbybit_assets.replay.job import replay_job, replay_run_config
from bitbybit_assets.replay.run import read_replay
from bitbybit_base.settings import runtime_settings
from resources.embeddings import EmbeddingModel
from resources.lakehouse import Lakehouse
from tests.backfill.archive import DAYS, make_archive, pipeline_definitions, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIRST, LAST = DAYS[0], DAYS[1]
OVERRIDES = {"curation": {"top_n": 6, "weights": {"relevance": 0.9}}}


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under the published lakehouse (the replay prefix left out)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "replays" not in p.relative_to(root).parts}


def _picks(lh: Lakehouse) -> pl.DataFrame:
    return lh.read_days("scored_articles", FIRST, LAST).filter(pl.col("selected"))


def test_replay_diff_matches_the_tables_and_leaves_published_untouched(isolated_env, monkeypatch):
    archive = make_archive(isolated_env / "archive", days=[FIRST, LAST])
    feeds, production = write_config(isolated_env / "config")
    monkeypatch.setenv("BITBYBIT_FEED_ARCHIVE", str(archive))
    monkeypatch.setenv("BITBYBIT_FEEDS_FILE", str(feeds))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(production))
    root = isolated_env / "lakehouse"
    published = Lakehouse(root=str(root))
    with dg.instance_for_test() as instance:
        assert run_backfill(FIRST, LAST, defs=pipeline_definitions(), instance=instance).success
        before = _snapshot(root)
        versions = {t: published.delta_table(t).version() for t in ("filtered_articles", "scored_articles")}

        result = replay_job.execute_in_process(
            run_config=replay_run_config(FIRST, LAST, "tighter", OVERRIDES, "test"), instance=instance,
            resources={"lakehouse": published, "embeddings": EmbeddingModel.from_settings(),
                       "settings": runtime_settings()},
        )
        assert result.success
        (mat,) = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
        assert mat.asset_key == dg.AssetKey(["replays", "tighter"])
        assert "days" in mat.metadata and "pick_changes" in mat.metadata

    # published: byte-identical, same Delta versions
    assert _snapshot(root) == before
    assert {t: published.delta_table(t).version() for t in versions} == versions

    summary, changes = read_replay(published, "tighter")
    replayed = Lakehouse(root=str(root / "replays" / "tighter"))
    pub, rep = _picks(published), _picks(replayed)
    pub_all = published.read_days("scored_articles", FIRST, LAST)
    for row in summary.iter_rows(named=True):
        day = row["partition_date"]
        p = {r["entry_key"]: r["rank"] for r in pub.filter(pl.col("partition_date") == day).iter_rows(named=True)}
        r = {r["entry_key"]: r["rank"] for r in rep.filter(pl.col("partition_date") == day).iter_rows(named=True)}
        assert 0 < len(r) <= 6 < len(p)
        assert row["published_picks"] == len(p) and row["replay_picks"] == len(r)
        assert row["added"] == len(r.keys() - p.keys())
        assert row["removed"] == len(p.keys() - r.keys())
        assert row["rank_changed"] == sum(p[k] != r[k] for k in p.keys() & r.keys())
        story = dict(pub_all.filter(pl.col("partition_date") == day).select("entry_key", "cluster_id").iter_rows())
        assert row["stories_lost"] == len({story[k] for k in p} - {story[k] for k in r})
        assert changes.filter(pl.col("partition_date") == day).filter(pl.col("change") == "removed").height \
            == row["removed"]
    labelled = summary.filter(pl.col("published_ndcg").is_not_null())
    if (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "labels").is_dir():
        assert FIRST in labelled["partition_date"].to_list()  # 2026-08-03 is a labelled day
        assert labelled["replay_ndcg"].is_not_null().all()
