"""Readers' endpoints (no login): unsubscribe and double opt-in confirmation.

* ``GET /unsubscribe/{token}`` shows a page with one button; it changes nothing (mail scanners
  fetch links).
* ``POST /unsubscribe/{token}`` unsubscribes: the page's button, and RFC 8058 one-click from mail
  apps (body ``List-Unsubscribe=One-Click``, answered in plain text). No cookie or CSRF token is
  needed or possible there: the signed token is the authority.
* ``GET``/``POST /confirm/{token}``: the same for confirming a pending subscription.

Tokens are verified against the subscriber's own secret; a malformed, tampered, revoked or unknown
token gets the same answer, so a probe learns nothing about who is subscribed. Replaying a valid
token is harmless: both actions are idempotent.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bitbybit_assets.deliver import tokens
from bitbybit_assets.deliver.database import open_store
from bitbybit_assets.deliver.records import Subscriber, SubscriberNotFound

INVALID = "This link is not valid (it may have been mistyped, or revoked)."


def mask(email: str) -> str:
    """``a***@example.com``: enough for the reader to recognise their address, no more."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _verified(request: Request, purpose: str, token: str) -> Subscriber | None:
    state = request.app.state.desk
    try:
        sid = tokens.subscriber_of(token)
    except tokens.InvalidToken:
        return None
    with open_store(state.postgres) as store:
        try:
            sub = store.subscriber(sid)
        except SubscriberNotFound:
            return None
    try:
        tokens.verify(state.server_key, purpose, token, sub.secret)
    except tokens.InvalidToken:
        return None
    return sub


def _page(request: Request, template: str, status: int = 200, **ctx) -> Response:
    return request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status)


async def unsubscribe_page(request: Request) -> Response:
    token = request.path_params["token"]
    if token == "test":
        return _page(request, "public/message.html", title="Test send",
                     message="This was a test send: the real issue carries your own unsubscribe link.")
    sub = await run_in_threadpool(_verified, request, "unsubscribe", token)
    if sub is None:
        return _page(request, "public/message.html", status=404, title="Unsubscribe", message=INVALID)
    return _page(request, "public/unsubscribe.html", email=mask(sub.email), status_name=sub.status,
                 action=request.url.path)


def _unsubscribe(request: Request, token: str, actor: str) -> tuple[Subscriber | None, bool]:
    sub = _verified(request, "unsubscribe", token)
    if sub is None:
        return None, False
    with open_store(request.app.state.desk.postgres) as store:
        changed = store.unsubscribe(sub.id, actor=actor, detail="unsubscribe link")
    return sub, changed


async def unsubscribe_post(request: Request) -> Response:
    token = request.path_params["token"]
    form = await request.form()
    one_click = form.get("List-Unsubscribe") == "One-Click"
    if token == "test":
        return PlainTextResponse("test send: nothing to unsubscribe") if one_click else \
            _page(request, "public/message.html", title="Test send", message="This was a test send.")
    sub, _changed = await run_in_threadpool(_unsubscribe, request, token,
                                            "one-click" if one_click else "unsubscribe-page")
    if sub is None:
        if one_click:
            return PlainTextResponse(INVALID, status_code=404)
        return _page(request, "public/message.html", status=404, title="Unsubscribe", message=INVALID)
    if one_click:
        return PlainTextResponse("unsubscribed")
    return _page(request, "public/message.html", title="Unsubscribed",
                 message=f"{mask(sub.email)} will not receive the newsletter any more.")


async def confirm_page(request: Request) -> Response:
    sub = await run_in_threadpool(_verified, request, "confirm", request.path_params["token"])
    if sub is None:
        return _page(request, "public/message.html", status=404, title="Confirm", message=INVALID)
    return _page(request, "public/confirm.html", email=mask(sub.email), status_name=sub.status,
                 action=request.url.path)


def _confirm(request: Request, token: str) -> Subscriber | None:
    sub = _verified(request, "confirm", token)
    if sub is None:
        return None
    with open_store(request.app.state.desk.postgres) as store:
        store.confirm(sub.id, actor="confirm-link")
        return store.subscriber(sub.id)


async def confirm_post(request: Request) -> Response:
    sub = await run_in_threadpool(_confirm, request, request.path_params["token"])
    if sub is None:
        return _page(request, "public/message.html", status=404, title="Confirm", message=INVALID)
    message = ("Your subscription is confirmed." if sub.status == "active"
               else f"This address is {sub.status}; nothing was changed.")
    return _page(request, "public/message.html", title="Confirm", message=message)


def routes() -> list[Route]:
    return [
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", unsubscribe_post, methods=["POST"]),
        Route("/confirm/{token}", confirm_page, methods=["GET"]),
        Route("/confirm/{token}", confirm_post, methods=["POST"]),
    ]
