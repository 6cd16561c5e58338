"""Managing feeds from the desk (``desk/feeds_admin.py``): every form over HTTP, the SSRF refusal, a
test fetch against a local HTTP server, the signed "tested" token, roles and the YAML mode."""

from __future__ import annotations

import re

import pytest
import yaml

from bitbybit_assets import feeds_store
from bitbybit_assets.feeds_store import load_feeds
from bitbybit_base.settings import PROJECT_ROOT
from tests.desk.conftest import page_token
from tests.ingest.test_feeds_store import FEEDS_YAML, RSS
from tests.support.http_server import Response


@pytest.fixture
def db_feeds(tmp_path, monkeypatch):
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS_YAML)
    monkeypatch.setenv("BITBYBIT_FEEDS_FILE", str(path))
    monkeypatch.setenv("BITBYBIT_FEEDS_SOURCE", "database")
    return path


@pytest.fixture
def allow_private(tmp_path, monkeypatch):
    """``ingest.fetch.allow_private_addresses: true`` (the local test server is on 127.0.0.1)."""
    data = yaml.safe_load((PROJECT_ROOT / "config" / "production.yaml").read_text())
    data.setdefault("ingest", {}).setdefault("fetch", {})["allow_private_addresses"] = True
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(path))


@pytest.fixture
def feed_server(http_server):
    http_server.route("/feed.xml", Response(body=RSS, headers={"Content-Type": "application/rss+xml"}))
    http_server.route("/other.xml", Response(body=RSS, headers={"Content-Type": "application/rss+xml"}))
    return http_server


def post(client, path, **data):
    return client.post(path, data={**data, "csrf_token": page_token(client)}, follow_redirects=False)


def stored() -> dict:
    with feeds_store.open_feed_store() as s:
        return {f.name: f for f in s.feeds()}


def events(name: str) -> list[dict]:
    with feeds_store.open_feed_store() as s:
        return s.events(name)


PROOF = re.compile(r'name="tested" value="([^"]+)"')


def test_admin_sees_the_management_controls(admin, db_feeds):
    page = admin.get("/feeds")
    assert page.status_code == 200
    assert 'id="add-feed"' in page.text and 'id="edit-alpha"' in page.text
    assert 'id="disable-alpha"' in page.text and 'id="enable-beta"' in page.text
    assert "feeds-source-note" not in page.text
    form = admin.get("/feeds/new")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text and 'action="/feeds/new/test"' in form.text


def test_editors_see_the_list_but_cannot_manage(editor, db_feeds):
    page = editor.get("/feeds")
    assert page.status_code == 200 and 'id="add-feed"' not in page.text and 'id="edit-alpha"' not in page.text
    assert editor.get("/feeds/new").status_code == 403
    assert editor.get("/feeds/alpha/edit").status_code == 403
    for path in ("/feeds/new/test", "/feeds/new", "/feeds/alpha/edit/test", "/feeds/alpha/edit", "/feeds/alpha/disable"):
        assert post(editor, path, name="x", url="https://x.example/").status_code == 403, path
    assert stored()["alpha"].enabled


def test_yaml_mode_is_read_only(admin, db_feeds, monkeypatch):
    monkeypatch.setenv("BITBYBIT_FEEDS_SOURCE", "yaml")
    page = admin.get("/feeds")
    assert 'id="feeds-source-note"' in page.text and 'id="add-feed"' not in page.text and 'id="edit-alpha"' not in page.text
    assert admin.get("/feeds/new").status_code == 409
    refused = post(admin, "/feeds/alpha/disable")
    assert refused.status_code == 409 and "config/feeds.yaml" in refused.text


def test_a_loopback_url_is_refused_with_the_reason(admin, db_feeds, feed_server):
    url = feed_server.url("/feed.xml")
    resp = post(admin, "/feeds/new/test", name="local", url=url, category="test", trust="0.5")
    assert resp.status_code == 400
    assert "refused: 127.0.0.1 is a loopback address" in resp.text and 'id="feed-error"' in resp.text
    assert f'value="{url}"' in resp.text  # the form keeps what was typed
    resp = post(admin, "/feeds/new/test", name="meta", url="http://169.254.169.254/latest/meta-data/")
    assert resp.status_code == 400 and "169.254.169.254 is" in resp.text
    assert feed_server.hits("/feed.xml") == 0 and set(stored()) == {"alpha", "beta"}


def test_bad_forms_are_refused_with_the_reason(admin, db_feeds):
    for data, reason in [
        ({"name": "Bad Name", "url": "https://x.example/rss"}, "must be 1-64 lower-case"),
        ({"name": "ok", "url": "ftp://x.example/rss"}, "must be http(s)"),
        ({"name": "ok", "url": "https://x.example/rss", "trust": "7"}, "less than or equal to 1"),
        ({"name": "alpha", "url": "https://x.example/rss"}, "named &#39;alpha&#39; already exists"),
        ({"name": "ok", "url": "https://alpha.example/rss"}, "&#39;alpha&#39; already has the url https://alpha.example/rss"),
        ({"name": "ok", "url": "https://u:p@x.example/rss"}, "user name or password"),
    ]:
        resp = post(admin, "/feeds/new/test", **data)
        assert resp.status_code == 400 and reason in resp.text, (data, resp.text[:300])
    assert set(stored()) == {"alpha", "beta"}


def test_add_runs_a_test_fetch_then_saves_exactly_what_was_tested(admin, db_feeds, allow_private, feed_server):
    url = feed_server.url("/feed.xml")
    preview = post(admin, "/feeds/new/test", name="local", url=url, category="test", trust="0.6")
    assert preview.status_code == 200 and feed_server.hits("/feed.xml") == 1
    text = preview.text
    assert 'id="test-entries"' in text and "First: a &lt; b &amp;&amp; c" in text and "a < b" not in text
    assert "Second post" in text and 'href="https://example.org/1"' in text and "2026-08-04 10:00 UTC" in text
    assert "Local test feed" in text and 'id="feed-save"' in text and 'name="csrf_token"' in text
    assert "local" not in stored()  # nothing saved yet
    proof = PROOF.search(text).group(1)

    # the token covers the tested values: another url (or none) is refused
    for tampered in ({"url": feed_server.url("/other.xml"), "tested": proof}, {"url": url, "tested": ""},
                     {"url": url, "tested": "1." + "0" * 64}):
        resp = post(admin, "/feeds/new", name="local", category="test", trust="0.6", **tampered)
        assert resp.status_code == 400 and "run the test fetch first" in resp.text
    assert "local" not in stored()

    saved = post(admin, "/feeds/new", name="local", url=url, category="test", trust="0.6", tested=proof)
    assert saved.status_code == 303 and saved.headers["location"] == "/feeds"
    feed = stored()["local"]
    assert (feed.url, feed.category, feed.trust, feed.enabled) == (url, "test", 0.6, True)
    (event,) = events("local")
    assert event["action"] == "add" and event["actor"] == "desk:ann"
    assert "local" in [f.name for f in load_feeds()]  # what the ingest reads
    page = admin.get("/feeds")
    assert "Added feed local" in page.text and 'id="edit-local"' in page.text
    # saving the same preview again: now a duplicate
    again = post(admin, "/feeds/new", name="local", url=url, category="test", trust="0.6", tested=proof)
    assert again.status_code == 400 and "already exists" in again.text


def test_a_failing_test_fetch_saves_nothing(admin, db_feeds, allow_private, feed_server):
    resp = post(admin, "/feeds/new/test", name="gone", url=feed_server.url("/missing.xml"))
    assert resp.status_code == 400 and "test fetch failed: HTTP 404" in resp.text
    feed_server.route("/page", Response(body=b"<!doctype html><html><title>Log in</title></html>"))
    resp = post(admin, "/feeds/new/test", name="page", url=feed_server.url("/page"))
    assert resp.status_code == 400 and "HTML page instead of a feed" in resp.text
    assert set(stored()) == {"alpha", "beta"}


def test_edit_flow(admin, db_feeds, allow_private, feed_server):
    form = admin.get("/feeds/alpha/edit")
    assert form.status_code == 200 and 'value="https://alpha.example/rss"' in form.text and "readonly" in form.text
    assert "seed:feeds.yaml" in form.text  # the history
    assert admin.get("/feeds/nope/edit").status_code == 404
    assert post(admin, "/feeds/nope/edit/test", url=feed_server.url("/feed.xml")).status_code == 404

    url = feed_server.url("/feed.xml")
    # the name in the path wins over a name in the form (feeds cannot be renamed)
    preview = post(admin, "/feeds/alpha/edit/test", name="renamed", url=url, category="lab", trust="0.7")
    assert preview.status_code == 200 and 'action="/feeds/alpha/edit"' in preview.text
    proof = PROOF.search(preview.text).group(1)
    wrong_mode = post(admin, "/feeds/new", name="alpha", url=url, category="lab", trust="0.7", tested=proof)
    assert wrong_mode.status_code == 400  # an edit's token does not add a feed
    saved = post(admin, "/feeds/alpha/edit", url=url, category="lab", trust="0.7", tested=proof)
    assert saved.status_code == 303
    alpha = stored()["alpha"]
    assert (alpha.url, alpha.trust, alpha.enabled) == (url, 0.7, True) and "renamed" not in stored()
    assert [e["action"] for e in events("alpha")] == ["edit", "seed"]


def test_disable_and_enable(admin, db_feeds):
    assert post(admin, "/feeds/alpha/disable").status_code == 303
    assert not stored()["alpha"].enabled and "alpha" not in [f.name for f in load_feeds()]
    assert "Feed alpha disabled." in admin.get("/feeds").text
    assert post(admin, "/feeds/alpha/disable").status_code == 303
    assert "already disabled" in admin.get("/feeds").text
    assert post(admin, "/feeds/alpha/enable").status_code == 303 and stored()["alpha"].enabled
    assert [e["action"] for e in events("alpha")] == ["enable", "disable", "seed"]
    assert post(admin, "/feeds/alpha/delete").status_code == 404
    assert post(admin, "/feeds/nope/disable").status_code == 404
