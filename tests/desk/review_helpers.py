"""A logged-in desk client on a temporary lakehouse and database, for the review page tests and the
benchmark."""

from __future__ import annotations

import re
from datetime import date

import polars as pl
from starlette.testclient import TestClient

from desk.app import DeskState, create_app
from desk.db import open_desk
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource

PASSWORD = "correct horse battery staple"
SERVER_KEY = b"test-secret-key-0123456789abcdef-0123456789"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REVISION = re.compile(r'name="revision" value="(\d+)"')


def add_user(username: str, role: str = "editor") -> None:
    with open_desk(PostgresResource()) as db:
        db.users.add(username, PASSWORD, role, actor="test")


def desk_client(username: str, app=None) -> TestClient:
    """A client logged in as ``username`` (the user must exist)."""
    app = app or create_app(
        DeskState(
            postgres=PostgresResource(), server_key=SERVER_KEY, secure_cookies=False, lakehouse=Lakehouse()
        )
    )
    client = TestClient(app, follow_redirects=False)
    page = client.get("/login")
    token = _CSRF.search(page.text).group(1)
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"}
    )
    assert r.status_code == 303, r.text
    return client


def csrf(page_text: str) -> str:
    return _CSRF.search(page_text).group(1)


def revision(page_text: str) -> int:
    return int(_REVISION.search(page_text).group(1))


def write_scored(frame: pl.DataFrame, day: date) -> None:
    Lakehouse().write_days("scored_articles", frame, day, day)
