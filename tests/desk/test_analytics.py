"""The Analytics and Feeds pages: the data functions over a real local warehouse (staging tables +
the dbt models built by ``dbt run``), missing tables, a busy warehouse, and both pages over HTTP
with their charts' Vega-Lite specs embedded as JSON (CSP: no inline script)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import uuid
from datetime import date, timedelta

import pytest

from desk import analytics_charts as charts
from desk import analytics_data as data
from desk import analytics_queries as queries
from desk.app import SECURITY_HEADERS
from resources.postgres import PostgresResource
from resources.warehouse_db import connect_duckdb
from tests.desk.analytics_helpers import BETA_FAILING_DAYS, DAYS, FIRST, LAST, SENT_FROM, build_warehouse
from tests.desk.conftest import add_user, client_for, login

pytestmark = pytest.mark.slow

SPEC = re.compile(
    r'<script type="application/json" class="chart-spec" id="([a-z-]+)-spec" data-target="\1">(.*?)</script>',
    re.S,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The warehouse file, built once per module (copied by the tests that change it)."""
    return build_warehouse(tmp_path_factory.mktemp("analytics") / "warehouse.duckdb")


@pytest.fixture
def warehouse(built, tmp_path, monkeypatch):
    """A copy of the built warehouse as this test's local warehouse (BITBYBIT_DUCKDB_PATH)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(built, path)
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(path))
    monkeypatch.delenv("BITBYBIT_DBT_TARGET", raising=False)
    monkeypatch.delenv("BITBYBIT_POSTGRES_DSN", raising=False)
    monkeypatch.delenv("POSTGRES_HOST", raising=False)
    return path


@pytest.fixture
def w(warehouse):
    conn = data.connect_duckdb_readonly(warehouse)
    yield conn
    conn.close()


WIN = queries.Window(FIRST, LAST)


# ---------------------------------------------------------------- data functions


def test_window_ends_at_the_last_loaded_day(w):
    assert data.latest_day(w) == LAST
    assert data.window(7, latest=LAST) == queries.Window(LAST - timedelta(days=6), LAST)
    assert data.window(5000, end=date(2026, 1, 31)).days == data.MAX_DAYS
    assert data.window(0, latest=LAST).days == 1


def test_funnel_per_day_never_grows_down_the_stages(w):
    rows = queries.funnel(w, WIN)
    assert [r["day"] for r in rows] == [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)]
    stages = [c for c, _ in charts.FUNNEL_STAGES]
    for r in rows:
        values = [r[c] for c in stages]
        assert values == sorted(values, reverse=True), r
    first = rows[0]  # 5 entries in each of 2 working feeds: 1 too short, 1 duplicate, 1 ad, 2 picks
    assert (
        first["total_articles"],
        first["passed_content_filter"],
        first["passed_ad_detection"],
        first["selected_articles"],
        first["fetch_errors"],
    ) == (10, 6, 4, 4, 1)
    assert len(queries.funnel(w, queries.Window(LAST - timedelta(days=2), LAST))) == 3


def test_ad_rate_is_ads_over_articles_checked(w):
    first = queries.ad_rate(w, WIN)[0]
    assert (first["advertisements"], first["checked"]) == (2, 6)
    assert first["ad_rate"] == pytest.approx(0.3333)
    assert first["ad_share_of_new"] == pytest.approx(0.2)


def test_topic_trends_top_labels_and_totals(w):
    rows = queries.topic_trends(w, WIN)
    assert {r["label"] for r in rows} == {"llm", "agents", "open-source"}
    assert len(queries.topic_trends(w, WIN, top_n=1)) == DAYS  # the one top label, every day
    totals = queries.topic_totals(rows)
    assert totals[0]["label"] == "open-source" and totals[0]["days"] == DAYS
    assert sum(t["articles"] for t in totals) == sum(r["article_count"] for r in rows)
    assert {r["label"] for r in queries.topic_trends(w, WIN, kind="tag")} == {"ai", "ml", "tools"}


def test_llm_cost_per_issue(w):
    rows = queries.llm_cost(w, WIN)
    assert len(rows) == DAYS
    assert all(r["llm_cost_usd"] == pytest.approx(0.0123) and r["issue"] == "issue" for r in rows)
    assert rows[0]["cost_per_article_usd"] == pytest.approx(0.0123 / 4)


def test_feed_yield_and_fetch_outcomes(w):
    yields = {r["feed_name"]: r for r in queries.feed_yield(w, WIN)}
    assert set(yields) == {"alpha-ai", "beta-dev", "gamma-broken"}
    assert yields["alpha-ai"]["as_of"] == LAST.isoformat() and yields["alpha-ai"]["days_observed"] == DAYS
    assert yields["alpha-ai"]["final_articles"] == 2 * DAYS
    assert yields["gamma-broken"]["yield_rate"] is None and yields["gamma-broken"]["fetch_errors"] == DAYS
    # as of an earlier day: the model's row for that day
    early = queries.feed_yield(w, queries.Window(FIRST, FIRST + timedelta(days=1)))
    assert {r["as_of"] for r in early} == {(FIRST + timedelta(days=1)).isoformat()}

    outcomes = queries.fetch_outcomes(w, WIN)
    assert len(outcomes) == 3 * DAYS
    summary = {r["feed_name"]: r for r in queries.fetch_summary(outcomes)}
    assert (
        summary["beta-dev"]["error"] == BETA_FAILING_DAYS
        and summary["beta-dev"]["ok"] == DAYS - BETA_FAILING_DAYS
    )
    assert queries.fetch_summary(outcomes)[0]["feed_name"] == "gamma-broken"


def test_deliveries_and_unsubscribes(w):
    rows = queries.deliveries(w, WIN)
    assert rows[0]["day"] == SENT_FROM.isoformat() and len(rows) == (LAST - SENT_FROM).days + 1
    assert (rows[0]["sent"], rows[0]["failed"], rows[0]["unsubscribed_since_last"]) == (19, 1, 0)
    assert all(r["unsubscribed_since_last"] == 1 for r in rows[1:])
    assert rows[-1]["suppressed"] == len(rows) - 1


def test_feed_health(w):
    health = {r["feed_name"]: r for r in queries.feed_health(w, WIN)}
    alpha, beta, gamma = health["alpha-ai"], health["beta-dev"], health["gamma-broken"]
    assert (alpha["health"], alpha["error_streak"], alpha["last_status"], alpha["last_http_status"]) == (
        "ok",
        0,
        "ok",
        200,
    )
    assert alpha["picks"] == 2 * DAYS and alpha["items_per_day"] == pytest.approx(
        alpha["new_items"] / DAYS, abs=0.05
    )
    assert (beta["health"], beta["error_streak"], beta["last_http_status"], beta["last_error"]) == (
        "error",
        BETA_FAILING_DAYS,
        503,
        "HTTP 503 Service Unavailable",
    )
    assert beta["failing_since"] == (LAST - timedelta(days=BETA_FAILING_DAYS - 1)).isoformat()
    assert beta["last_ok_day"] == (LAST - timedelta(days=BETA_FAILING_DAYS)).isoformat()
    assert (gamma["health"], gamma["error_streak"], gamma["last_ok_day"], gamma["picks"]) == (
        "failing",
        DAYS,
        None,
        0,
    )
    # the streak as of an earlier day: beta was still fine
    before = {
        r["feed_name"]: r
        for r in queries.feed_health(w, queries.Window(FIRST, LAST - timedelta(days=BETA_FAILING_DAYS)))
    }
    assert (
        before["beta-dev"]["error_streak"] == 0
        and before["gamma-broken"]["error_streak"] == DAYS - BETA_FAILING_DAYS
    )


def test_configured_feeds_are_merged(w):
    class Feed:
        def __init__(self, name: str, enabled: bool = True) -> None:
            self.name, self.url, self.enabled, self.category = (
                name,
                f"https://{name}.example/rss",
                enabled,
                "x",
            )

    rows = queries.with_configured(queries.feed_health(w, WIN), [Feed("alpha-ai"), Feed("delta-new", False)], LAST)
    assert [r["feed_name"] for r in rows] == ["gamma-broken", "beta-dev", "delta-new", "alpha-ai"]
    delta = rows[2]
    assert (delta["health"], delta["enabled"], delta["picks"]) == ("never fetched", False, 0)
    assert rows[3]["enabled"] is True and "enabled" not in rows[0]


def test_report_collects_every_section(warehouse):
    report = data.analytics_report(PostgresResource(), days=7)
    assert report.window == queries.Window(LAST - timedelta(days=6), LAST)
    assert not report.notes and report.unavailable is None
    assert set(report.sections) == set(data.ANALYTICS_SECTIONS)
    assert len(report.rows("funnel")) == 7 and "DuckDB" in report.source
    json.dumps(report.sections)  # JSON-ready


# ---------------------------------------------------------------- fresh install, busy warehouse


def test_missing_models_give_empty_sections_and_a_note(tmp_path, monkeypatch):
    path = tmp_path / "fresh.duckdb"
    build_warehouse(path, models=False)  # staging tables, no dbt run yet
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(path))
    monkeypatch.delenv("BITBYBIT_DBT_TARGET", raising=False)
    report = data.analytics_report(PostgresResource())
    assert report.unavailable is None and report.window.end == LAST
    assert report.rows("funnel") == [] and report.rows("deliveries") == []
    assert len(report.rows("feed_health")) == 3  # from the staging tables
    assert any("daily_pipeline_metrics does not exist yet" in n for n in report.notes)
    assert any("delivery_statistics" in n for n in report.notes)


def test_no_warehouse_file_at_all(tmp_path, monkeypatch):
    path = tmp_path / "none" / "warehouse.duckdb"
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(path))
    monkeypatch.delenv("BITBYBIT_DBT_TARGET", raising=False)
    report = data.feeds_report(PostgresResource(), feeds=[])
    assert report.unavailable is None and report.rows("feed_health") == []
    assert "does not exist" in report.notes[0]
    assert not path.exists()  # never created by reading


def test_empty_database_has_notes_for_every_table(tmp_path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    conn = connect_duckdb(str(path))
    conn.close()
    monkeypatch.setenv("BITBYBIT_DUCKDB_PATH", str(path))
    report = data.analytics_report(PostgresResource())
    assert all(rows == [] for rows in report.sections.values())
    assert {n.split()[1] for n in report.notes} >= {
        "daily_pipeline_metrics",
        "topic_trends",
        "feed_yield_30d",
        "feed_statistics",
        "delivery_statistics",
        "stg_feed_fetches",
    }


@pytest.fixture
def locked(warehouse):
    """Another process (a run) holding the local warehouse's write lock."""
    code = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield warehouse
    finally:
        proc.kill()
        proc.wait()


def test_a_run_holding_the_warehouse_makes_it_unavailable(locked):
    with pytest.raises(data.AnalyticsUnavailable, match="in use"):
        data.connect_duckdb_readonly(locked)
    report = data.analytics_report(PostgresResource())
    assert report.unavailable and "try again" in report.unavailable and report.sections == {}


def test_same_process_read_write_connection_is_shared(warehouse):
    """The desk's own read-write connection to the same file (DuckDB allows one configuration per
    file per process): reading falls back to it instead of failing."""
    rw = connect_duckdb(str(warehouse))
    try:
        ro = data.connect_duckdb_readonly(warehouse)
        assert data.latest_day(ro) == LAST
        ro.close()
    finally:
        rw.close()


def test_unreachable_postgres_is_unavailable(monkeypatch):
    monkeypatch.setenv("BITBYBIT_DBT_TARGET", "prod")
    resource = PostgresResource(
        dsn="postgresql://nobody@127.0.0.1:1/none", connect_attempts=1, backoff_seconds=0
    )
    report = data.analytics_report(resource)
    assert report.unavailable and report.sections == {}


PG_TYPES = {"VARCHAR": "text", "VARCHAR[]": "text[]", "DOUBLE": "double precision"}
PG_TABLES = (
    "stg_loads",
    "stg_feed_fetches",
    "stg_articles",
    "daily_pipeline_metrics",
    "topic_trends",
    "feed_yield_30d",
    "feed_statistics",
    "delivery_statistics",
)


def _copy_to_postgres(w, pg, table: str) -> None:
    cols = w.columns(table)
    pg.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {PG_TYPES.get(t, t)}' for c, t in cols.items())})")
    marks = ", ".join(["%s"] * len(cols))
    for row in w.raw.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall():
        pg.execute(
            f"INSERT INTO {table} VALUES ({marks})", [str(v) if isinstance(v, uuid.UUID) else v for v in row]
        )


@pytest.mark.integration
def test_same_figures_from_postgres_when_the_dbt_target_is_prod(monkeypatch, pg_dsn, w):
    """The dbt target ``prod``: the same queries on PostgreSQL (the tables copied from the DuckDB
    warehouse) give the same rows; a model not built there is a note."""
    import psycopg2

    from resources.warehouse_db import PostgresWarehouse

    pg = PostgresWarehouse(psycopg2.connect(pg_dsn))
    try:
        for table in PG_TABLES:
            _copy_to_postgres(w, pg, table)
    finally:
        pg.close()
    monkeypatch.setenv("BITBYBIT_DBT_TARGET", "prod")
    report = data.analytics_report(PostgresResource(dsn=pg_dsn))
    assert report.unavailable is None and report.window.end == LAST and "PostgreSQL" in report.source
    assert report.notes == []
    for name, fn in data.ANALYTICS_SECTIONS.items():
        assert report.rows(name) == fn(w, report.window), name


# ---------------------------------------------------------------- the pages over HTTP


@pytest.fixture
def editor_client(warehouse, desk_env, app):
    """A logged-in editor; the desk's own database is the same local warehouse file."""
    add_user("ed", "editor")
    client = client_for(app)
    assert login(client, "ed").status_code == 303
    return client


def _specs(page: str) -> dict[str, dict]:
    return {m.group(1): json.loads(html.unescape(m.group(2))) for m in SPEC.finditer(page)}


def _no_inline_script(page: str) -> None:
    for tag in re.findall(r"<script[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag, tag


def test_analytics_page_renders_every_chart(editor_client):
    page = editor_client.get(f"/analytics?days={DAYS}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]
    _no_inline_script(page.text)
    for js in ("vendor/vega.min.js", "vendor/vega-lite.min.js", "vendor/vega-embed.min.js", "charts.js"):
        assert f'src="https://testserver/static/{js}"' in page.text or f'src="/static/{js}"' in page.text, js
    specs = _specs(page.text)
    assert set(specs) == {
        "chart-funnel",
        "chart-ad-rate",
        "chart-topics",
        "chart-llm-cost",
        "chart-feed-yield",
        "chart-fetch-outcomes",
        "chart-error-streaks",
        "chart-deliveries",
        "chart-readers-lost",
    }
    for spec in specs.values():
        assert spec["$schema"].endswith("vega-lite/v5.json") and spec["data"]["values"]
    assert len(specs["chart-funnel"]["data"]["values"]) == DAYS * len(charts.FUNNEL_STAGES)
    assert {v["feed_name"] for v in specs["chart-error-streaks"]["data"]["values"]} == {
        "beta-dev",
        "gamma-broken",
    }
    assert 'id="chart-funnel-numbers"' in page.text and "<figcaption" in page.text
    assert f"{FIRST} – {LAST}" in page.text and 'aria-current="page">Analytics' in page.text
    assert editor_client.get("/static/vendor/vega-embed.min.js").status_code == 200
    assert editor_client.get("/static/charts.js").status_code == 200


def test_analytics_window_parameters(editor_client):
    page = editor_client.get(f"/analytics?days=3&end={LAST - timedelta(days=1)}")
    assert len(_specs(page.text)["chart-funnel"]["data"]["values"]) == 3 * len(charts.FUNNEL_STAGES)
    assert editor_client.get("/analytics?days=nope&end=nope").status_code == 200


def test_feeds_page_lists_health(editor_client, tmp_path, monkeypatch):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        "  - {name: alpha-ai, url: 'https://alpha.example/feed.xml', category: ai}\n"
        "  - {name: delta-new, url: 'https://delta.example/rss', enabled: false}\n"
    )
    monkeypatch.setenv("BITBYBIT_FEEDS_FILE", str(feeds))
    page = editor_client.get("/feeds")
    assert page.status_code == 200
    _no_inline_script(page.text)
    order = [m for m in re.findall(r'<tr id="feed-([a-z-]+)"', page.text)]
    assert order == ["gamma-broken", "beta-dev", "delta-new", "alpha-ai"]
    beta = page.text.split('id="feed-beta-dev"')[1].split("</tr>")[0]
    assert (
        "HTTP 503 Service Unavailable" in beta
        and ">503<" in beta
        and f">{BETA_FAILING_DAYS}</strong>" in beta
    )
    assert 'href="https://delta.example/rss" rel="noreferrer noopener"' in page.text
    assert "never fetched" in page.text and "disabled" in page.text
    assert "chart-feed-fetches" in _specs(page.text)


def test_pages_need_a_login(warehouse, app):
    client = client_for(app)
    for path in ("/analytics", "/feeds"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code in (302, 303, 307) and "/login" in response.headers["location"]


def test_pages_say_try_again_while_a_run_holds_the_warehouse(warehouse, app):
    """Local mode: the desk's tables and the analytics live in the local DuckDB file; a run holding
    the file gets a 503 page with "try again", not an error."""
    add_user("ed", "editor")
    client = client_for(app)
    assert login(client, "ed").status_code == 303
    assert client.get("/analytics").status_code == 200
    code = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        for path in ("/analytics", "/feeds"):
            page = client.get(path)
            assert page.status_code == 503 and page.headers["retry-after"] == "5"
            assert 'id="unavailable"' in page.text and "try again" in page.text and 'id="whoami"' in page.text
            assert "chart-spec" not in page.text
    finally:
        proc.kill()
        proc.wait()
    assert client.get("/feeds").status_code == 200
