"""``/login`` and ``/logout``. The login form carries the session's CSRF token too (no login CSRF);
failures are counted per username and client address (:mod:`desk.users`)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from desk import csrf
from desk.auth import safe_next, start_session
from desk.db import DatabaseBusy
from desk.users import FAILURE_WINDOW, MAX_FAILURES, LoginResult
from desk.web import in_thread, redirect, render, with_db

log = logging.getLogger("bitbybit")

MESSAGES = {
    "bad": "Wrong username or password.",
    "disabled": "Wrong username or password.",  # the same answer: a probe learns nothing
    "throttled": f"Too many failed logins ({MAX_FAILURES} in {int(FAILURE_WINDOW.total_seconds() // 60)} minutes) "
                 "for this username from your address. Wait and try again.",
}


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login_page(request: Request) -> Response:
    nxt = safe_next(request.query_params.get("next"))
    csrf.session_token(request.session)
    return render(request, "login.html", next=nxt, username="", error=None)


async def login_post(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))
    nxt = safe_next(str(form.get("next", "")))
    if not csrf.matches(request.session.get(csrf.SESSION_KEY), form.get(csrf.FIELD)):
        csrf.session_token(request.session)
        return render(request, "login.html", status_code=403, next=nxt, username=username,
                      error="The form expired: please log in again.")
    ip = client_ip(request)
    try:
        result: LoginResult = await in_thread(with_db, request, lambda db: db.users.authenticate(username, password, ip))
    except DatabaseBusy as exc:
        return render(request, "login.html", status_code=503, next=nxt, username=username, error=f"Database busy: {exc}")
    if not result.ok or result.user is None:
        log.warning("desk: login %s for %r from %s", result.outcome, username[:64], ip)
        return render(request, "login.html", status_code=429 if result.outcome == "throttled" else 401, next=nxt,
                      username=username, error=MESSAGES[result.outcome])
    start_session(request.session, result.user)
    log.info("desk: %s logged in from %s", result.user.username, ip)
    return redirect(nxt)


async def logout(request: Request) -> Response:
    form = await request.form()
    if request.session.get("user") and not csrf.matches(request.session.get(csrf.SESSION_KEY), form.get(csrf.FIELD)):
        return Response("CSRF token missing or wrong", status_code=403)
    request.session.clear()
    return redirect("/login")


def routes() -> list[Route]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
