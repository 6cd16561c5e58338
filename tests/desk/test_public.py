"""The readers' endpoints over HTTP: unsubscribe page, RFC 8058 one-click, confirm, tampered tokens."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from bitbybit_assets.deliver import tokens
from bitbybit_assets.deliver.database import open_store
from desk.app import create_app
from resources.postgres import PostgresResource
from tests.deliver.conftest import SECRET


@pytest.fixture
def client(delivery_env):
    return TestClient(create_app())


def _sub(email: str, pending: bool = False):
    with open_store(PostgresResource()) as store:
        return store.add_subscriber(email, None, source="test", actor="t", pending=pending)[0]


def _status(sid: str) -> str:
    with open_store(PostgresResource()) as store:
        return store.subscriber(sid).status


def test_get_shows_a_button_and_changes_nothing(client):
    sub = _sub("ann@example.com")
    tok = tokens.sign(SECRET.encode(), "unsubscribe", sub.id, sub.secret)
    r = client.get(f"/unsubscribe/{tok}")
    assert r.status_code == 200 and "a***@example.com" in r.text and "ann@example.com" not in r.text
    assert '<form method="post"' in r.text and _status(sub.id) == "active"
    assert r.headers["referrer-policy"] == "no-referrer" and "frame-ancestors 'none'" in r.headers[
        "content-security-policy"]


def test_one_click_post_unsubscribes_and_is_replay_safe(client):
    sub = _sub("ann@example.com")
    tok = tokens.sign(SECRET.encode(), "unsubscribe", sub.id, sub.secret)
    r = client.post(f"/unsubscribe/{tok}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and r.text == "unsubscribed" and _status(sub.id) == "unsubscribed"
    again = client.post(f"/unsubscribe/{tok}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and _status(sub.id) == "unsubscribed"
    page = client.post(f"/unsubscribe/{tok}")
    assert "will not receive" in page.text
    with open_store(PostgresResource()) as store:
        events = store.w.query("SELECT event, actor FROM subscriber_events WHERE event = 'unsubscribed'")
    assert events == [{"event": "unsubscribed", "actor": "one-click"}]


def test_tampered_unknown_and_revoked_tokens_get_the_same_refusal(client):
    sub = _sub("ann@example.com")
    other = _sub("bob@example.com")
    tok = tokens.sign(SECRET.encode(), "unsubscribe", sub.id, sub.secret)
    forged = tokens.sign(b"not-the-server-key-0123456789abcdef", "unsubscribe", other.id, other.secret)
    unknown = tokens.sign(SECRET.encode(), "unsubscribe", "00000000-0000-4000-8000-000000000000", "x")
    swapped = other.id.replace("-", "") + tok[32:]
    confirm_tok = tokens.sign(SECRET.encode(), "confirm", sub.id, sub.secret)
    bodies = set()
    for bad in (tok[:-2] + "xx", forged, unknown, swapped, confirm_tok, "garbage", "a.b"):
        r = client.post(f"/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 404
        bodies.add(r.text)
    assert len(bodies) == 1
    assert _status(sub.id) == "active" and _status(other.id) == "active"
    with open_store(PostgresResource()) as store:
        store.rotate_secret(sub.id, actor="ops")
    assert client.post(f"/unsubscribe/{tok}", data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_confirm_link_activates_a_pending_subscriber_only(client):
    sub = _sub("cy@example.com", pending=True)
    tok = tokens.sign(SECRET.encode(), "confirm", sub.id, sub.secret)
    assert "Yes, subscribe me" in client.get(f"/confirm/{tok}").text and _status(sub.id) == "pending"
    assert "confirmed" in client.post(f"/confirm/{tok}").text and _status(sub.id) == "active"
    gone = _sub("dee@example.com")
    with open_store(PostgresResource()) as store:
        store.unsubscribe(gone.id, actor="t")
    tok2 = tokens.sign(SECRET.encode(), "confirm", gone.id, gone.secret)
    assert "nothing was changed" in client.post(f"/confirm/{tok2}").text and _status(gone.id) == "unsubscribed"


def test_test_send_link_and_health(client):
    assert "test send" in client.get("/unsubscribe/test").text
    assert client.get("/healthz").text == "ok"
