"""Logging in and out of the desk over HTTP: good and bad passwords, the rate limit, expired,
tampered and revoked sessions, the cookie's flags, redirects for anonymous requests."""

from __future__ import annotations

import base64
import json
import time

import itsdangerous
import pytest
from starlette.testclient import TestClient

from bitbybit_base.settings import secret_key
from desk.app import DeskState, create_app
from desk.auth import SESSION_COOKIE, SESSION_MAX_AGE, safe_next, session_key
from desk.db import open_desk
from desk.users import MAX_FAILURES
from resources.postgres import PostgresResource
from tests.desk.conftest import PASSWORD, add_user, client_for, csrf_from, login, page_token


def _cookie(client: TestClient) -> str:
    return client.cookies[SESSION_COOKIE]


def _session(client: TestClient) -> dict:
    return json.loads(base64.b64decode(_cookie(client).split(".")[0]))


def _signed(payload: dict, *, age_seconds: int = 0) -> str:
    """A session cookie as the desk would sign it ``age_seconds`` ago."""

    class Past(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age_seconds

    data = base64.b64encode(json.dumps(payload).encode())
    return Past(session_key(secret_key())).sign(data).decode()


def test_anonymous_requests_go_to_the_login_page(app):
    client = client_for(app)
    r = client.get("/subscribers?q=a", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fsubscribers%3Fq%3Da"
    assert client.post("/subscribers", data={"email": "x@example.com"}).status_code == 401
    poll = client.get("/days/2026-08-05/ledger", headers={"HX-Request": "true"})
    assert poll.status_code == 401 and poll.headers["hx-redirect"].startswith("/login?next=")
    # public paths need no login
    assert client.get("/healthz").text == "ok"
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    assert client.get("/unsubscribe/test").status_code == 200
    assert client.get("/login").status_code == 200


def test_login_with_the_right_password_then_logout(app):
    add_user("ann", "admin")
    client = client_for(app)
    r = login(client, "ANN ")  # usernames are case-insensitive and trimmed
    assert r.status_code == 303 and r.headers["location"] == "/subscribers"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert f"Max-Age={SESSION_MAX_AGE}" in cookie and "; secure" in cookie.lower()  # the public URL is https
    page = client.get("/subscribers")
    assert page.status_code == 200 and "ann · admin" in page.text
    with open_desk(PostgresResource()) as db:
        assert db.users.get("ann").last_login_at is not None
    # logout needs the CSRF token
    assert client.post("/logout", data={}).status_code == 403
    r = client.post("/logout", data={"csrf_token": page_token(client)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/subscribers", follow_redirects=False).status_code == 303


def test_wrong_password_unknown_user_and_disabled_user_get_the_same_answer(app):
    add_user("ann")
    add_user("old")
    with open_desk(PostgresResource()) as db:
        db.users.set_disabled("old", True)
    client = client_for(app)
    answers = set()
    for user, password in (("ann", "wrong password!!"), ("nobody", PASSWORD), ("old", PASSWORD)):
        r = login(client, user, password)
        assert r.status_code == 401
        answers.add(r.text.split('id="login-error">')[1].split("<")[0])
        assert client.get("/subscribers", follow_redirects=False).status_code == 303
    assert answers == {"Wrong username or password."}


def test_login_form_needs_its_csrf_token(app):
    add_user("ann")
    client = client_for(app)
    client.get("/login")
    r = client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and "form expired" in r.text
    assert client.get("/subscribers", follow_redirects=False).status_code == 303


def test_rate_limit_per_username_and_address(app):
    add_user("ann")
    add_user("bob")
    client = client_for(app)
    for _ in range(MAX_FAILURES):
        assert login(client, "ann", "not the password").status_code == 401
    # the sixth attempt is refused even with the right password, and says why
    r = login(client, "ann", PASSWORD)
    assert r.status_code == 429 and "Too many failed logins" in r.text
    # another username from the same address is not affected
    assert login(client_for(app), "bob").status_code == 303
    # the failures expire after the window
    with open_desk(PostgresResource()) as db:
        db.store.w.execute("UPDATE desk_login_failures SET attempted_at = attempted_at - INTERVAL 16 MINUTE"
                           if db.store.w.dialect == "duckdb" else
                           "UPDATE desk_login_failures SET attempted_at = attempted_at - INTERVAL '16 minutes'")
    assert login(client, "ann", PASSWORD).status_code == 303
    with open_desk(PostgresResource()) as db:  # a success clears the pair's failures
        assert db.users.recent_failures("ann", "testclient") == 0


def test_tampered_and_expired_cookies_are_refused(admin: TestClient, app):
    good = _session(admin)
    # tampered: a different role/user in the payload with the old signature
    payload, _, sig = _cookie(admin).partition(".")
    forged = base64.b64encode(json.dumps({**good, "user": "root"}).encode()).decode()
    for value in (forged + "." + sig, _cookie(admin)[:-3] + "abc", "garbage"):
        c = client_for(app, cookies={SESSION_COOKIE: value})
        assert c.get("/subscribers", follow_redirects=False).status_code == 303
    # a correctly signed cookie works ...
    assert client_for(app, cookies={SESSION_COOKIE: _signed(good)}).get("/subscribers").status_code == 200
    # ... until the signer's max age has passed
    old = client_for(app, cookies={SESSION_COOKIE: _signed(good, age_seconds=SESSION_MAX_AGE + 60)})
    assert old.get("/subscribers", follow_redirects=False).status_code == 303
    # a cookie re-signed later still ends 12 hours after the login itself
    stale = {**good, "login_at": int(time.time()) - SESSION_MAX_AGE - 60}
    assert client_for(app, cookies={SESSION_COOKIE: _signed(stale)}).get(
        "/subscribers", follow_redirects=False).status_code == 303


def test_disabling_a_user_or_changing_the_password_ends_their_sessions(app):
    add_user("ed")
    first, second = client_for(app), client_for(app)
    assert login(first, "ed").status_code == 303 and login(second, "ed").status_code == 303
    with open_desk(PostgresResource()) as db:
        db.users.set_password("ed", "another long password")
    assert first.get("/subscribers", follow_redirects=False).status_code == 303
    assert login(first, "ed", "another long password").status_code == 303
    assert first.get("/subscribers").status_code == 200
    with open_desk(PostgresResource()) as db:
        db.users.set_disabled("ed", True)
    assert first.get("/subscribers", follow_redirects=False).status_code == 303
    assert second.get("/subscribers", follow_redirects=False).status_code == 303


def test_cookie_is_not_secure_when_the_public_url_is_plain_http(desk_env, launcher, monkeypatch):
    monkeypatch.setenv("BITBYBIT_PUBLIC_URL", "http://127.0.0.1:8000")
    app = create_app(DeskState(postgres=PostgresResource(), server_key=secret_key(), launcher=launcher))
    add_user("ann")
    client = TestClient(app)
    r = login(client, "ann")
    assert r.status_code == 303 and "secure" not in r.headers["set-cookie"].lower()
    assert client.get("/subscribers").status_code == 200


def test_login_redirects_only_to_local_paths(app):
    assert safe_next("/days/2026-08-05/preview?x=1") == "/days/2026-08-05/preview?x=1"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example", "", None, "javascript:x"):
        assert safe_next(bad) == "/"
    add_user("ann")
    client = client_for(app)
    token = csrf_from(client.get("/login?next=//evil.example/").text)
    assert 'name="next" value="/"' in client.get("/login?next=//evil.example/").text
    r = client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token,
                                    "next": "https://evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/"


@pytest.mark.parametrize("password", ["short", " leading space password", "x" * 2000])
def test_password_rules(app, password):
    from desk.passwords import InvalidCredentials

    with pytest.raises(InvalidCredentials):
        add_user("ann", password=password)
