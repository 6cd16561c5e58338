"""The PostgreSQL resource: bounded retries with backoff, a clear error naming host and port,
the DSN read at call time, the statement timeout applied."""

from __future__ import annotations

import socket

import pytest

from resources.postgres import PostgresResource, PostgresUnavailableError, connect_with_retry, describe_dsn


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def test_unreachable_port_fails_after_bounded_retries():
    port = _closed_port()
    sleeps: list[float] = []
    with pytest.raises(PostgresUnavailableError) as exc:
        connect_with_retry(
            f"postgresql://postgres@127.0.0.1:{port}/bitbybit",
            attempts=4,
            backoff_seconds=0.5,
            max_backoff_seconds=1.5,
            connect_timeout_seconds=2,
            sleep=sleeps.append,
        )
    msg = str(exc.value)
    assert f"127.0.0.1:{port}" in msg and "'bitbybit'" in msg and "after 4 attempts" in msg
    assert "Connection refused" in msg
    assert sleeps == [0.5, 1.0, 1.5]  # exponential, capped; no sleep after the last attempt


def test_resource_error_names_host_and_port(monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("BITBYBIT_POSTGRES_DSN", f"postgresql://postgres:secret@127.0.0.1:{port}/wh")
    res = PostgresResource(connect_attempts=2, backoff_seconds=0.01)
    with (
        pytest.raises(PostgresUnavailableError, match=rf"127\.0\.0\.1:{port}.*after 2 attempts") as exc,
        res.connect(),
    ):
        pass
    assert "secret" not in str(exc.value)


def test_no_dsn_configured(monkeypatch):
    monkeypatch.delenv("BITBYBIT_POSTGRES_DSN", raising=False)
    monkeypatch.delenv("POSTGRES_HOST", raising=False)
    res = PostgresResource()
    assert not res.is_configured()
    with pytest.raises(PostgresUnavailableError, match="BITBYBIT_POSTGRES_DSN"), res.connect():
        pass


def test_describe_dsn_forms():
    assert describe_dsn("host=db.internal port=6543 dbname=wh user=app password=x") == {
        "host": "db.internal", "port": "6543", "dbname": "wh", "user": "app",
    }  # fmt: skip
    assert describe_dsn("postgresql://app@db/wh")["port"] == "5432"


@pytest.mark.integration
def test_connects_with_statement_timeout(monkeypatch, pg_database):
    monkeypatch.setenv("BITBYBIT_POSTGRES_DSN", pg_database)  # read at call time
    res = PostgresResource(statement_timeout_seconds=2)
    with res.warehouse() as w:
        assert w.scalar("SHOW statement_timeout") == "2s"
        assert w.scalar("SELECT current_database()") == describe_dsn(pg_database)["dbname"]
        with pytest.raises(Exception, match="statement timeout"):
            w.execute("SELECT pg_sleep(5)")
