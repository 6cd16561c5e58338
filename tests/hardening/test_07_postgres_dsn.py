"""Item 7: a Postgres password with ``@``, ``/``, ``%``, ``:`` or spaces reaches libpq intact and
never shows up in an error message."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2.extensions import parse_dsn

from bitbybit_base import settings
from resources.postgres import PostgresUnavailableError, connect_with_retry
from tests.ops.receivers import free_port
from tests.support.postgres import ADMIN_DSN

PASSWORD = "p@ss/w%rd:with spaces#and?query&x=1"


def _env(monkeypatch, **values: str) -> None:
    monkeypatch.delenv("BITBYBIT_POSTGRES_DSN", raising=False)
    for k, v in values.items():
        monkeypatch.setenv(k, v)


def test_the_old_dsn_broke_and_leaked():
    # before: f"postgresql://{user}:{password}@{host}:{port}/{db}" without encoding
    legacy = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/bitbybit"
    with pytest.raises(psycopg2.ProgrammingError) as exc:
        parse_dsn(legacy)
    assert "w%rd" in str(exc.value) or "with spaces" in str(exc.value) or "ss/w" in str(exc.value)


def test_password_is_percent_encoded(monkeypatch):
    _env(monkeypatch, POSTGRES_HOST="db.internal", POSTGRES_USER="app@team", POSTGRES_PASSWORD=PASSWORD,
         POSTGRES_DB="bit/by bit", POSTGRES_PORT="6543")  # fmt: skip
    parts = parse_dsn(settings.postgres_dsn())
    assert parts == {"host": "db.internal", "port": "6543", "user": "app@team", "password": PASSWORD,
                     "dbname": "bit/by bit"}  # fmt: skip


@pytest.mark.integration
def test_such_a_dsn_connects(monkeypatch):
    admin = parse_dsn(ADMIN_DSN)
    _env(monkeypatch, POSTGRES_HOST=admin.get("host", "127.0.0.1"), POSTGRES_PORT=str(admin.get("port", 5432)),
         POSTGRES_USER=admin.get("user", "postgres"), POSTGRES_PASSWORD=PASSWORD,
         POSTGRES_DB=admin.get("dbname", "postgres"))  # fmt: skip
    conn = connect_with_retry(settings.postgres_dsn(), attempts=1)  # trust auth: the password is not checked
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_errors_never_show_the_password(monkeypatch, caplog):
    _env(monkeypatch, POSTGRES_HOST="127.0.0.1", POSTGRES_PORT=str(free_port()), POSTGRES_PASSWORD=PASSWORD)
    with pytest.raises(PostgresUnavailableError) as exc:
        connect_with_retry(settings.postgres_dsn(), attempts=2, backoff_seconds=0, sleep=lambda s: None)
    text = str(exc.value) + caplog.text
    for fragment in ("p@ss", "w%rd", "with spaces", "query&x", "p%40ss"):
        assert fragment not in text
    # a hand-written malformed DSN: the driver's message quotes it; ours masks the password
    bad = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/x"
    with pytest.raises(PostgresUnavailableError) as exc:
        connect_with_retry(bad, attempts=1)
    assert "w%rd" not in str(exc.value) and exc.value.__cause__ is None


def test_port_must_be_a_number(monkeypatch):
    _env(monkeypatch, POSTGRES_HOST="db", POSTGRES_PORT="5432/evil")
    with pytest.raises(settings.SettingsError, match="POSTGRES_PORT"):
        settings.postgres_dsn()
