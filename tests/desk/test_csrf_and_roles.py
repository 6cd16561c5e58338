"""CSRF on every state-changing route of the desk (found from the app's routes, so a new route is
covered without editing this test), and what an editor may not do."""

from __future__ import annotations

import re

from starlette.routing import Route

from desk.auth import is_public
from desk.db import open_desk
from resources.postgres import PostgresResource
from tests.desk.conftest import add_user, page_token

SAMPLE_PARAMS = {"day": "2026-08-05", "run_id": "r", "subscriber_id": "00000000-0000-4000-8000-000000000000",
                 "username": "ed", "action": "disable"}


def post_routes(app) -> list[str]:
    """Every POST path outside the public ones, with sample values for its parameters."""
    paths = []
    for route in app.routes:
        if isinstance(route, Route) and "POST" in (route.methods or ()) and not is_public(route.path):
            paths.append(re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "x"), route.path))
    return paths


def test_every_post_route_refuses_a_missing_or_wrong_token(admin, app, launcher):
    paths = post_routes(app)
    assert {"/days/2026-08-05/rerun", "/days/2026-08-05/approve", "/days/2026-08-05/revoke",
            "/days/2026-08-05/test-send", "/days/2026-08-05/send", "/subscribers", "/users",
            "/users/ed/disable"} <= set(paths)
    add_user("ed")
    for path in paths:
        body = {"email": "new@example.com", "username": "zed", "password": "a long enough password",
                "role": "editor", "confirm": "yes", "address": "qa@example.com"}
        missing = admin.post(path, data=body)
        assert missing.status_code == 403, path
        wrong = admin.post(path, data={**body, "csrf_token": "x" * 43})
        assert wrong.status_code == 403, path
        header = admin.post(path, data=body, headers={"X-CSRF-Token": "y" * 43})
        assert header.status_code == 403, path
    # nothing happened
    assert launcher.launched == []
    with open_desk(PostgresResource()) as db:
        assert db.store.subscribers() == [] and db.users.get("zed") is None and not db.users.get("ed").disabled


def test_the_right_token_in_the_header_works_like_the_form_field(admin):
    token = page_token(admin)
    r = admin.post("/subscribers", data={"email": "hx@example.com"}, headers={"X-CSRF-Token": token},
                   follow_redirects=False)
    assert r.status_code == 303
    with open_desk(PostgresResource()) as db:
        assert [s.email for s in db.store.subscribers()] == ["hx@example.com"]


def test_an_editor_cannot_manage_users(editor):
    assert "/users" not in editor.get("/subscribers").text.split("<main")[0]
    page = editor.get("/users")
    assert page.status_code == 403 and "only an admin" in page.text
    token = page_token(editor)
    assert editor.post("/users", data={"username": "mallory", "password": "a long enough password",
                                       "role": "admin", "csrf_token": token}).status_code == 403
    assert editor.post("/users/ed/disable", data={"csrf_token": token}).status_code == 403
    with open_desk(PostgresResource()) as db:
        assert db.users.get("mallory") is None and not db.users.get("ed").disabled
