"""The config-change sensor with ``BITBYBIT_FEEDS_SOURCE=database``: a desk edit of the ``feeds`` table
is a change of the feed list, reported once (the cursor hashes the effective list, not the file)."""

from __future__ import annotations

import json

import dagster as dg

from bitbybit_assets import feeds_store
from bitbybit_base.settings import FeedConfig
from sensors.config_change import build_config_change_sensor
from tests.deliver.conftest import delivery_env, sink  # noqa: F401  (fixtures)
from tests.ops.test_sensors import FEEDS, _evaluate


def test_sensor_sees_database_edits_and_ignores_the_yaml_after_the_seed(delivery_env, tmp_path, monkeypatch):  # noqa: F811
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS)
    monkeypatch.setenv("BITBYBIT_FEEDS_FILE", str(path))
    monkeypatch.setenv("BITBYBIT_FEEDS_SOURCE", "database")
    sensor = build_config_change_sensor()
    first = _evaluate(sensor, None)
    assert "baseline recorded: 2 feeds" in first.skip_message
    assert _evaluate(sensor, first.cursor).skip_message == "feed list (database) unchanged"

    path.write_text(FEEDS + '  - {name: zeta, url: "https://zeta.example/rss"}\n')  # only the seed: ignored
    assert _evaluate(sensor, first.cursor).skip_message == "feed list (database) unchanged"

    with feeds_store.open_feed_store() as store:
        store.add(FeedConfig(name="gamma", url="https://gamma.example/feed"), actor="desk:ann")
        store.set_enabled("beta", True, actor="desk:ann")
    changed = _evaluate(sensor, first.cursor)
    (obs,) = changed.asset_events
    meta = {k: v.value for k, v in obs.metadata.items()}
    assert obs.asset_key == dg.AssetKey("raw_feeds") and obs.description.startswith("feed list (database) changed")
    assert meta["added"] == "gamma" and meta["enabled"] == "beta" and meta["feeds_source"] == "database (feeds table)"
    assert json.loads(changed.cursor)["feeds"]["gamma"]["url"] == "https://gamma.example/feed"
    assert _evaluate(sensor, changed.cursor).skip_message == "feed list (database) unchanged"

    with feeds_store.open_feed_store() as store:
        store.update(FeedConfig(name="alpha", url="https://alpha.example/atom"), actor="desk:ann")
    edited = _evaluate(sensor, changed.cursor)
    assert {k: v.value for k, v in edited.asset_events[0].metadata.items()}["edited"] == "alpha"


def test_yaml_formatting_alone_is_no_change(tmp_path, monkeypatch):
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS)
    monkeypatch.setenv("BITBYBIT_FEEDS_FILE", str(path))
    monkeypatch.setenv("BITBYBIT_FEEDS_SOURCE", "yaml")
    sensor = build_config_change_sensor()
    base = _evaluate(sensor, None)
    path.write_text("# a comment\n" + FEEDS)
    assert _evaluate(sensor, base.cursor).skip_message == "feeds.yaml unchanged"
