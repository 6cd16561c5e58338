"""Delivery fixtures: a real SMTP sink, the delivery tables on DuckDB and on a throw-away PostgreSQL
database, and a day's newsletter."""

from __future__ import annotations

from datetime import date

import pytest

from bitbybit_assets.deliver.message import NewsletterContent
from bitbybit_assets.deliver.store import DeliveryStore
from bitbybit_assets.warehouse.migrate import migrate
from resources.warehouse_db import PostgresWarehouse, connect_duckdb
from tests.deliver.sink import smtp_sink
from tests.support.postgres import create_database, drop_database, pg_env

DAY = date(2026, 8, 5)
SECRET = "test-secret-key-0123456789abcdef-0123456789"


def newsletter(day: date = DAY, subject: str = "AI chips, bit by bit") -> NewsletterContent:
    html = ('<html><body><div class="preheader">pre</div><h1>Issue</h1><p>Story</p>'
            '<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p></body></html>')
    return NewsletterContent(day=day, newsletter_id=f"nl-{day}", subject=subject, preheader="pre",
                             html=html, text="Issue\n\nStory\n\nUnsubscribe: {{unsubscribe_url}}\n")


@pytest.fixture
def sink():
    with smtp_sink() as s:
        yield s


@pytest.fixture
def delivery_env(isolated_env, monkeypatch, sink):
    """Local settings with the SMTP sink as transport and a fixed secret key."""
    monkeypatch.setenv("BITBYBIT_SMTP_URL", sink.url)
    monkeypatch.setenv("BITBYBIT_EMAIL_TRANSPORT", "smtp")
    monkeypatch.setenv("BITBYBIT_MAIL_FROM", "bitbybit <news@bitbybit.test>")
    monkeypatch.setenv("BITBYBIT_SECRET_KEY", SECRET)
    monkeypatch.setenv("BITBYBIT_PUBLIC_URL", "https://desk.bitbybit.test")
    monkeypatch.delenv("BITBYBIT_POSTGRES_DSN", raising=False)
    monkeypatch.delenv("POSTGRES_HOST", raising=False)
    return isolated_env


@pytest.fixture
def pg_dsn(monkeypatch):
    name, dsn = create_database("bitbybit_deliver")
    try:
        yield dsn
    finally:
        drop_database(name)


@pytest.fixture
def pg_delivery_env(delivery_env, monkeypatch, pg_dsn):
    """As in production: the delivery tables and dbt's analytics database on PostgreSQL."""
    pg_env(monkeypatch, pg_dsn)
    monkeypatch.setenv("BITBYBIT_DBT_TARGET", "prod")
    return pg_dsn


def pg_store(dsn: str) -> DeliveryStore:
    import psycopg2

    w = PostgresWarehouse(psycopg2.connect(dsn))
    migrate(w)
    return DeliveryStore(w)


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path):
    """The delivery store on both databases."""
    if request.param == "duckdb":
        w = connect_duckdb(str(tmp_path / "w.duckdb"))
        migrate(w)
        yield DeliveryStore(w)
        w.close()
        return
    name, dsn = create_database("bitbybit_deliver")
    s = pg_store(dsn)
    try:
        yield s
    finally:
        s.w.close()
        drop_database(name)
