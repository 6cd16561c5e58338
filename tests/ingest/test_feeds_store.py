"""The feed list store (``feeds`` / ``feed_events``, migration 0007) on DuckDB and PostgreSQL, the
``BITBYBIT_FEEDS_SOURCE`` switch behind ``settings.load_feeds``, and the desk's feed checks."""

from __future__ import annotations

import json

import pytest

from bitbybit_assets import feeds_store
from bitbybit_assets.feed_check import FeedRefused, check_url, feed_from_form, test_fetch
from bitbybit_assets.feeds_store import (
    SEED_ACTOR,
    FeedExists,
    FeedNotFound,
    FeedStore,
    check_unique,
    load_feeds,
)
from bitbybit_base.settings import FeedConfig, FetchSettings, SettingsError
from tests.deliver.conftest import delivery_env, sink, store  # noqa: F401  (fixtures)
from tests.support.http_server import Response

FEEDS_YAML = """feeds:
  - {name: alpha, url: "https://alpha.example/rss", category: lab, trust: 0.9}
  - {name: beta, url: "https://beta.example/rss", enabled: false}
"""

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Local test feed</title><link>https://example.org/</link>
<item><title>First: a &lt; b &amp;&amp; c</title><link>https://example.org/1</link>
  <guid>https://example.org/1</guid><pubDate>Tue, 04 Aug 2026 10:00:00 GMT</pubDate></item>
<item><title>Second post</title><link>https://example.org/2</link><guid>https://example.org/2</guid></item>
</channel></rss>"""


@pytest.fixture
def feeds_yaml(tmp_path, monkeypatch):
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS_YAML)
    monkeypatch.setenv("BITBYBIT_FEEDS_FILE", str(path))
    return path


# ---------------------------------------------------------------- the store, both databases


def test_seed_add_edit_disable_with_events(store, feeds_yaml):  # noqa: F811
    feeds = FeedStore(store.w)
    assert feeds.ensure_seeded() == 2
    assert feeds.ensure_seeded() == 0  # once only
    assert [(f.name, f.enabled, f.category, f.trust) for f in feeds.feeds()] == [
        ("alpha", True, "lab", 0.9), ("beta", False, "general", 0.5)]
    assert [f.name for f in feeds.feeds(enabled_only=True)] == ["alpha"]

    gamma = FeedConfig(name="gamma", url="https://gamma.example/feed", category="news", trust=0.4)
    feeds.add(gamma, actor="desk:ann")
    with pytest.raises(FeedExists, match="named 'gamma'"):
        feeds.add(gamma, actor="desk:ann")
    with pytest.raises(FeedExists, match="'alpha' already has the url"):
        feeds.add(FeedConfig(name="delta", url="https://alpha.example/rss"), actor="desk:ann")

    edited = feeds.update(gamma.model_copy(update={"url": "https://gamma.example/rss", "trust": 0.7,
                                                   "enabled": False}), actor="desk:bob")
    assert edited.enabled is True and edited.trust == 0.7  # edit keeps enabled
    with pytest.raises(FeedExists):
        feeds.update(gamma.model_copy(update={"url": "https://beta.example/rss"}), actor="desk:bob")
    with pytest.raises(FeedNotFound):
        feeds.update(FeedConfig(name="nope", url="https://x.example/"), actor="desk:bob")

    assert feeds.set_enabled("gamma", False, actor="desk:ann") is True
    assert feeds.set_enabled("gamma", False, actor="desk:ann") is False
    assert feeds.set_enabled("beta", True, actor="desk:ann") is True
    with pytest.raises(FeedNotFound):
        feeds.set_enabled("nope", True, actor="desk:ann")

    row = {r["name"]: r for r in feeds.rows()}["gamma"]
    assert row["updated_by"] == "desk:ann" and row["enabled"] is False
    events = feeds.events("gamma")
    assert [e["action"] for e in events] == ["disable", "edit", "add"]
    assert json.loads(events[1]["before"])["url"] == "https://gamma.example/feed"
    assert json.loads(events[1]["after"])["url"] == "https://gamma.example/rss"
    seeds = [e for e in feeds.events(limit=100) if e["action"] == "seed"]
    assert {e["name"] for e in seeds} == {"alpha", "beta"} and {e["actor"] for e in seeds} == {SEED_ACTOR}


# ---------------------------------------------------------------- one source of truth


def test_load_feeds_reads_yaml_by_default_and_the_table_in_database_mode(delivery_env, feeds_yaml, monkeypatch):  # noqa: F811
    monkeypatch.delenv("BITBYBIT_FEEDS_SOURCE", raising=False)
    assert feeds_store.feeds_source() == "yaml"
    assert [f.name for f in load_feeds()] == ["alpha"]

    monkeypatch.setenv("BITBYBIT_FEEDS_SOURCE", "database")
    assert [f.name for f in load_feeds(enabled_only=False)] == ["alpha", "beta"]  # seeded from the YAML
    with feeds_store.open_feed_store() as s:
        s.add(FeedConfig(name="gamma", url="https://gamma.example/feed"), actor="desk:ann")
        s.set_enabled("alpha", False, actor="desk:ann")
    # the YAML is only the seed now: editing it changes nothing
    feeds_yaml.write_text(FEEDS_YAML + '  - {name: zeta, url: "https://zeta.example/rss"}\n')
    assert [f.name for f in load_feeds()] == ["gamma"]
    # an explicit path still reads that file (the sensor's YAML mode, the seed)
    assert [f.name for f in load_feeds(feeds_yaml, enabled_only=False)] == ["alpha", "beta", "zeta"]

    monkeypatch.setenv("BITBYBIT_FEEDS_SOURCE", "nonsense")
    with pytest.raises(SettingsError, match="BITBYBIT_FEEDS_SOURCE"):
        load_feeds()


def test_prod_defaults_to_the_database(monkeypatch):
    monkeypatch.delenv("BITBYBIT_FEEDS_SOURCE", raising=False)
    monkeypatch.setenv("BITBYBIT_ENV", "prod")
    assert feeds_store.feeds_source() == "database"


def test_raw_feeds_gets_the_database_list(delivery_env, feeds_yaml, monkeypatch):  # noqa: F811
    """The ingest asset reads the list through ``load_feeds``: what the desk edits is what is fetched."""
    from bitbybit_assets.ingest import assets

    monkeypatch.setenv("BITBYBIT_FEEDS_SOURCE", "database")
    with feeds_store.open_feed_store() as s:
        s.add(FeedConfig(name="gamma", url="https://gamma.example/feed"), actor="desk:ann")
    assert assets.load_feeds is load_feeds
    assert [f.name for f in assets.load_feeds()] == ["alpha", "gamma"]


# ---------------------------------------------------------------- checks


def test_form_validation_reasons():
    feed = feed_from_form({"name": "new-feed", "url": " https://x.example/rss ", "category": "", "trust": "0.3"})
    assert feed == FeedConfig(name="new-feed", url="https://x.example/rss", category="general", trust=0.3)
    for form, reason in [
        ({"name": "Bad Name", "url": "https://x.example/"}, "must be 1-64 lower-case"),
        ({"name": "ok", "url": "ftp://x.example/"}, "must be http(s)"),
        ({"name": "ok", "url": "https://x.example/", "trust": "2"}, "trust: Input should be less than or equal to 1"),
        ({"name": "ok", "url": "https://x.example/", "trust": "lots"}, "trust: Input should be a valid number"),
    ]:
        with pytest.raises(FeedRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
            feed_from_form(form)
    assert feed_from_form({"url": "https://x.example/"}, name="Kept_As.Is").name == "Kept_As.Is"  # editing: an existing name


def test_url_rules_and_the_ssrf_guard():
    public = FetchSettings()
    resolver = {"feeds.example": ["93.184.216.34"], "inside.example": ["10.1.2.3"],
                "mixed.example": ["93.184.216.34", "127.0.0.1"]}.__getitem__
    check_url("https://feeds.example/rss", public, resolver)
    for url, reason in [
        ("http://127.0.0.1:8080/feed", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is"),
        ("https://inside.example/rss", r"10.1.2.3 is a private address \(inside.example\)"),
        ("https://mixed.example/rss", "127.0.0.1 is a loopback"),
        ("http://[::1]/feed", "::1 is a loopback"),
        ("https://user:pw@feeds.example/rss", "user name or password"),
        ("https://feeds.example/a feed", "spaces"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https:///rss", "no host"),
    ]:
        with pytest.raises(FeedRefused, match=reason):
            check_url(url, public, resolver)
    check_url("http://127.0.0.1:8080/feed", FetchSettings(allow_private_addresses=True), resolver)

    def unknown(host):
        raise OSError("Name or service not known")

    with pytest.raises(FeedRefused, match="cannot resolve nowhere.example"):
        check_url("https://nowhere.example/rss", public, unknown)


def test_duplicates_are_refused():
    existing = [FeedConfig(name="alpha", url="https://alpha.example/rss")]
    with pytest.raises(FeedExists, match="named 'alpha' already exists"):
        check_unique(FeedConfig(name="alpha", url="https://other.example/"), existing)
    with pytest.raises(FeedExists, match="'alpha' already has the url https://alpha.example/rss"):
        check_unique(FeedConfig(name="other", url="https://alpha.example/rss"), existing)
    check_unique(FeedConfig(name="alpha", url="https://alpha.example/rss"), existing, editing="alpha")


def test_test_fetch_parses_entries_from_a_local_server(http_server):
    http_server.route("/feed.xml", Response(body=RSS, headers={"Content-Type": "application/rss+xml"}))
    http_server.route("/page", Response(body=b"<!doctype html><html><title>Hi</title></html>"))
    feed = FeedConfig(name="local", url=http_server.url("/feed.xml"))
    with pytest.raises(FeedRefused, match="test fetch failed: refused: 127.0.0.1 is a loopback"):
        test_fetch(feed, FetchSettings())
    assert http_server.hits("/feed.xml") == 0

    allowed = FetchSettings(allow_private_addresses=True)
    result = test_fetch(feed, allowed)
    assert result.http_status == 200 and result.title == "Local test feed" and result.total_entries == 2
    first, second = result.entries
    assert first.title == "First: a < b && c" and first.link == "https://example.org/1"
    assert first.published_at.isoformat() == "2026-08-04T10:00:00+00:00" and second.published_at is None
    with pytest.raises(FeedRefused, match="not a usable feed: HTML page"):
        test_fetch(feed.model_copy(update={"url": http_server.url("/page")}), allowed)
    with pytest.raises(FeedRefused, match="HTTP 404"):
        test_fetch(feed.model_copy(update={"url": http_server.url("/missing")}), allowed)
