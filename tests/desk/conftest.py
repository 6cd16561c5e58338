"""Desk fixtures: the delivery environment (SMTP sink, DuckDB or a throw-away PostgreSQL), a Dagster
home, desk users, logged-in HTTP clients and a lakehouse with a day's newsletter."""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from starlette.testclient import TestClient

from bitbybit_assets import schemas
from bitbybit_base.settings import secret_key
from desk.app import DeskState, create_app
from desk.auth import SESSION_COOKIE
from desk.db import open_desk
from desk.launches import Launch
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource
from tests.deliver.conftest import DAY, delivery_env, pg_delivery_env, pg_dsn, sink  # noqa: F401  (fixtures)

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def write_newsletter(day: date = DAY, subject: str = "AI chips, bit by bit", html: str | None = None,
                     text: str = "Issue\n\nStory\n\nUnsubscribe: {{unsubscribe_url}}\n") -> None:
    """One ``newsletters`` row with the real schema (replacing the day's)."""
    html = html or ('<html><body><div class="preheader">pre</div><h1>Issue</h1><p>Story</p>'
                    '<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p></body></html>')
    row = {"partition_date": day, "newsletter_id": f"nl-{day}", "subject_line": subject,
           "subject_candidates": [subject], "preheader": "pre", "intro": "Intro", "sections_json": "[]",
           "html": html, "text": text, "article_ids": ["a"], "article_count": 1, "html_bytes": len(html),
           "generated_at": datetime.now(UTC), "llm_cost_usd": 0.0, "copy_source": "offline",
           "list_unsubscribe": "<{{unsubscribe_url}}>", "trimmed": []}
    lake = Lakehouse()
    dt = lake.delta_table("newsletters")
    if dt is not None:
        dt.delete(f"partition_date = '{day.isoformat()}'")
    lake.write_days("newsletters", pl.DataFrame([row], schema=schemas.NEWSLETTERS), day, day)


@dataclass
class FakeLauncher:
    """Records launches instead of starting runs (the real launchers have their own tests)."""

    log_dir: Path
    via: str = "fake"
    launched: list[Launch] = field(default_factory=list)
    error: str | None = None

    def final_job(self, kind: str) -> str | None:
        return None

    def exit_code(self, run_id: str) -> int | None:
        return None

    def launch(self, kind: str, day: date, username: str) -> Launch:
        job = "daily_pipeline" if kind == "pipeline" else "deliver_newsletter"
        launch = Launch(run_id=str(uuid.uuid4()), kind=kind, partition_date=day, job_name=job, via=self.via,
                        requested_by=f"desk:{username}", requested_at=datetime.now(UTC), error=self.error)
        self.launched.append(launch)
        return launch


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def desk_env(delivery_env, dagster_home):  # noqa: F811  (the imported fixture)
    return delivery_env


@pytest.fixture
def launcher(tmp_path) -> FakeLauncher:
    return FakeLauncher(tmp_path / "launches")


@pytest.fixture
def app(desk_env, launcher):
    return create_app(DeskState(postgres=PostgresResource(), server_key=secret_key(), launcher=launcher))


def client_for(app, **kwargs) -> TestClient:
    """A client on https (the test settings' public URL is https, so the session cookie is Secure)."""
    return TestClient(app, base_url="https://testserver", **kwargs)


def add_user(username: str, role: str = "editor", password: str = PASSWORD):
    with open_desk(PostgresResource()) as db:
        return db.users.add(username, password, role, actor="test")


def csrf_from(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "no csrf_token input on the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, **kwargs):
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                       "next": "/subscribers"}, follow_redirects=False, **kwargs)


def page_token(client: TestClient) -> str:
    """The session's CSRF token (read from the signed cookie's payload, so no page is rendered and no
    flash message consumed; the pages render the same token, see test_auth)."""
    payload = client.cookies[SESSION_COOKIE].split(".")[0]
    return json.loads(base64.b64decode(payload))["csrf"]


@pytest.fixture
def admin(app) -> TestClient:
    add_user("ann", "admin")
    client = client_for(app)
    assert login(client, "ann").status_code == 303
    return client


@pytest.fixture
def editor(app) -> TestClient:
    add_user("ed", "editor")
    client = client_for(app)
    assert login(client, "ed").status_code == 303
    return client
