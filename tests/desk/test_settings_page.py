"""The desk's Settings page (issue "editorial desk", item 7): overrides of a few production.yaml keys,
validated by the settings models, stored with an audit row and applied from the next run."""

from __future__ import annotations

import json
import re

import pytest

from bitbybit_assets.curate.config import curate_config
from bitbybit_assets.editorial import assets as editorial_assets
from bitbybit_assets.settings_overrides import (
    EDITABLE,
    SettingsStore,
    merged,
    parse_form_value,
    read_overrides,
    settings_with_overrides,
    stored_overrides,
)
from bitbybit_assets.warehouse.config import duckdb_path
from bitbybit_assets.warehouse.migrate import migrate
from bitbybit_base.settings import SettingsError, load_settings
from desk.db import open_desk
from resources.postgres import PostgresResource
from resources.warehouse_db import connect_duckdb
from tests.desk.conftest import add_user, client_for, csrf_from, login, page_token
from tests.support.postgres import create_database, drop_database

XSS = '<script>alert("x")</script>'


@pytest.fixture(params=["duckdb", "postgres"])
def db(request, delivery_env):
    """The operational database as the desk and the runs see it: DuckDB locally, PostgreSQL in prod."""
    if request.param == "postgres":
        request.getfixturevalue("pg_delivery_env")
    return request.param


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path, delivery_env):
    if request.param == "duckdb":
        w = connect_duckdb(str(tmp_path / "s.duckdb"))
        migrate(w)
        yield SettingsStore(w)
        w.close()
        return
    import psycopg2

    from resources.warehouse_db import PostgresWarehouse

    name, dsn = create_database("bitbybit_settings")
    w = PostgresWarehouse(psycopg2.connect(dsn))
    try:
        migrate(w)
        yield SettingsStore(w)
    finally:
        w.close()
        drop_database(name)


# ---------------------------------------------------------------- store and validation


def test_save_validates_stores_the_parsed_value_and_audits(store):
    event = store.save("curation.top_n", parse_form_value("curation.top_n", " 12 "), actor="desk:ann")
    assert event is not None and event.before is None and event.after == 12
    assert store.save("curation.top_n", 12, actor="desk:ann") is None  # unchanged: no second audit row
    store.save("curation.top_n", "15", actor="desk:bob")  # the model coerces as it does for the YAML
    langs = parse_form_value("content_filter.allowed_languages", "en, de;fr")
    store.save("content_filter.allowed_languages", langs, actor="desk:ann")
    store.save("delivery.send_time", "06:30", actor="desk:ann")
    stored = store.overrides()
    assert stored["curation.top_n"].value == 15 and stored["curation.top_n"].updated_by == "desk:bob"
    assert stored["content_filter.allowed_languages"].value == ["en", "de", "fr"]
    assert read_overrides(store.w) == {"content_filter.allowed_languages": ["en", "de", "fr"],
                                       "curation.top_n": 15, "delivery.send_time": "06:30"}
    raw = store.w.query("SELECT value FROM settings_overrides WHERE key = %s", ["curation.top_n"])
    assert json.loads(raw[0]["value"]) == 15
    history = store.history()
    assert [(e.key, e.before, e.after, e.actor) for e in history][-2:] == [
        ("curation.top_n", 12, 15, "desk:bob"), ("curation.top_n", None, 12, "desk:ann")]
    assert len(history) == 4
    reset = store.reset("curation.top_n", actor="desk:ann")
    assert reset is not None and (reset.before, reset.after) == (15, None)
    assert store.reset("curation.top_n", actor="desk:ann") is None
    assert "curation.top_n" not in store.overrides()
    effective = settings_with_overrides(store.w)
    assert effective.curation.top_n == load_settings().curation.top_n
    assert effective.content_filter.allowed_languages == ["en", "de", "fr"]
    assert effective.delivery.send_time == "06:30"


@pytest.mark.parametrize(("key", "text", "reason"), [
    ("curation.top_n", "0", "curation.top_n: Input should be greater than or equal to 1"),
    ("curation.top_n", "many", "curation.top_n: Input should be a valid integer"),
    ("curation.per_feed_cap", "-1", "curation.per_feed_cap: Input should be greater than or equal to 1"),
    ("curation.min_quality", "high", "curation.min_quality: Input should be a valid number"),
    ("curation.min_relevance", "inf", "curation.min_relevance: must be a finite number"),
    ("delivery.send_time", "7pm", "delivery.send_time: String should match pattern"),
    ("delivery.approval", "sometimes", "delivery.approval: Input should be 'manual' or 'auto'"),
])
def test_invalid_values_are_refused_with_the_models_reason(store, key, text, reason):
    with pytest.raises(SettingsError, match=re.escape(reason)):
        store.save(key, parse_form_value(key, text), actor="desk:ann")
    assert store.overrides() == {} and store.history() == []


def test_only_allow_listed_keys_can_be_changed(store):
    with pytest.raises(KeyError, match="cannot be changed here"):
        store.save("warehouse.duckdb_path", "/tmp/x", actor="desk:ann")
    assert set(EDITABLE) >= {"curation.top_n", "curation.min_quality", "curation.min_relevance",
                             "curation.per_feed_cap", "content_filter.allowed_languages", "delivery.send_time"}


def test_merged_leaves_the_yaml_mapping_alone():
    data = {"curation": {"top_n": 20, "weights": {"relevance": 0.6}}}
    out = merged(data, {"curation.top_n": 5, "delivery.send_time": "06:00"})
    assert out == {"curation": {"top_n": 5, "weights": {"relevance": 0.6}}, "delivery": {"send_time": "06:00"}}
    assert data["curation"]["top_n"] == 20


def test_without_an_operational_database_runs_use_the_yaml(delivery_env):
    assert not duckdb_path().exists()
    assert stored_overrides() == {}
    assert not duckdb_path().exists()  # reading creates nothing
    assert settings_with_overrides() == load_settings()


def test_a_busy_local_database_is_retried_then_named(delivery_env, monkeypatch):
    w = connect_duckdb(str(duckdb_path()))
    migrate(w)
    w.close()
    calls = []

    class IOException(Exception):
        pass

    def locked(path):
        calls.append(path)
        raise IOException("Could not set lock on file: Conflicting lock is held")

    monkeypatch.setattr("bitbybit_assets.settings_overrides.connect_duckdb", locked)
    with pytest.raises(SettingsError, match="held by another process"):
        stored_overrides(sleep=lambda s: None)
    assert len(calls) > 1


# ---------------------------------------------------------------- the page


@pytest.fixture
def admin_client(app):
    add_user("ann", "admin")
    client = client_for(app)
    assert login(client, "ann").status_code == 303
    return client


def test_editors_cannot_see_or_change_settings(db, app):
    add_user("ed", "editor")
    client = client_for(app)
    assert login(client, "ed").status_code == 303
    page = client.get("/settings")
    assert page.status_code == 403
    assert 'href="/settings"' not in client.get("/subscribers").text
    token = page_token(client)
    refused = client.post("/settings/curation.top_n", data={"value": "5", "csrf_token": token})
    assert refused.status_code == 403
    assert client.post("/settings/curation.top_n/reset", data={"csrf_token": token}).status_code == 403
    with open_desk(PostgresResource()) as d:
        assert SettingsStore(d.store.w).overrides() == {}


def test_admin_changes_a_setting_and_the_next_run_uses_it(db, admin_client):
    page = admin_client.get("/settings")
    assert page.status_code == 200 and 'href="/settings"' in page.text
    token = csrf_from(page.text)  # every form carries the CSRF token
    assert page.text.count('name="csrf_token"') >= len(EDITABLE) + 1
    yaml_top_n = load_settings().curation.top_n
    assert curate_config(settings_with_overrides()).curation.top_n == yaml_top_n

    missing = admin_client.post("/settings/curation.top_n", data={"value": "7"}, follow_redirects=False)
    assert missing.status_code == 403  # no CSRF token: refused, nothing stored
    assert stored_overrides() == {}

    saved = admin_client.post("/settings/curation.top_n", data={"value": "7", "csrf_token": token},
                              follow_redirects=False)
    assert saved.status_code == 303
    # the next run: scored_articles reads curate_config(settings_with_overrides()), the editorial picks
    # read editorial_assets._top_n(); load_settings() itself stays the YAML (definition load)
    assert curate_config(settings_with_overrides()).curation.top_n == 7
    assert editorial_assets._top_n() == 7
    assert load_settings().curation.top_n == yaml_top_n

    shown = admin_client.get("/settings").text
    row = re.search(r'<tr id="setting-curation-top_n">(.*?)</tr>', shown, re.S).group(1)
    assert re.search(r'class="value">7<', row) and f'class="default muted">{yaml_top_n}<' in row
    assert re.search(r"changed by desk:ann at \d{4}-\d\d-\d\d \d\d:\d\d UTC", row)
    assert "set to 7; it applies from the next run" in shown
    history = re.search(r'<table class="list" id="settings-history">(.*?)</table>', shown, re.S).group(1)
    assert "desk:ann" in history and "curation.top_n" in history

    reset = admin_client.post("/settings/curation.top_n/reset", data={"csrf_token": token}, follow_redirects=False)
    assert reset.status_code == 303
    assert curate_config(settings_with_overrides()).curation.top_n == yaml_top_n


def test_invalid_value_is_refused_with_the_reason(db, admin_client):
    token = csrf_from(admin_client.get("/settings").text)
    page = admin_client.post("/settings/delivery.send_time", data={"value": "25:99", "csrf_token": token})
    assert page.status_code == 200
    assert "Not saved" in page.text and "delivery.send_time: String should match pattern" in page.text
    page = admin_client.post("/settings/curation.top_n", data={"value": XSS, "csrf_token": token})
    assert "curation.top_n: Input should be a valid integer" in page.text
    assert XSS not in page.text and "&lt;script&gt;" in page.text  # the refused value is escaped
    assert stored_overrides() == {}
    assert admin_client.post("/settings/warehouse.duckdb_path", data={"value": "x", "csrf_token": token}
                             ).status_code == 404


def test_values_are_escaped_on_the_page(db, admin_client):
    token = csrf_from(admin_client.get("/settings").text)
    admin_client.post("/settings/content_filter.allowed_languages",
                      data={"value": f"en, {XSS}", "csrf_token": token})
    assert settings_with_overrides().content_filter.allowed_languages == ["en", XSS]
    page = admin_client.get("/settings").text
    assert XSS not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_review_page_uses_the_top_n_set_on_the_settings_page(delivery_env):
    """The review shows the picks as the next run makes them: with the desk's top N."""
    from tests.desk import review_helpers as rh
    from tests.desk.review_helpers import csrf, desk_client, revision, write_scored
    from tests.editorial.conftest import DAY, scored_day

    write_scored(scored_day(n=10, picks=4), DAY)
    rh.add_user("ann")
    ann = desk_client("ann")
    with open_desk(PostgresResource()) as d:
        SettingsStore(d.store.w).save("curation.top_n", 4, actor="desk:ann")
    text = ann.get(f"/days/{DAY}").text
    r = ann.post(f"/days/{DAY}/pin", data={"csrf_token": csrf(text), "revision": revision(text), "entry_key": "k07"})
    assert r.status_code == 303
    picks = re.findall(r'<tr id="row-(k\d\d)" class="pick\b', ann.get(f"/days/{DAY}").text)
    assert len(picks) == 4 and "k07" in picks  # top N 4: the pin displaces a pick (YAML's 20 would add a 5th)
