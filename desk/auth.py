"""Authentication and CSRF for every desk page, as one ASGI middleware inside the session middleware.

* The session is Starlette's signed cookie (itsdangerous, HMAC of a key derived from
  ``BITBYBIT_SECRET_KEY``): ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the public URL is
  https, refused by the signer after :data:`SESSION_MAX_AGE`. It carries the user's id, name and
  session epoch, the login time and the CSRF token. Every request re-reads the user: a disabled
  user, a changed password (both bump the epoch) or a login older than 12 hours ends the session.
* Public paths (:func:`is_public`) pass untouched: the login page, health, static files and the
  readers' unsubscribe/confirm links (their signed tokens are the authority there).
* Anything else without a valid session: ``GET``/``HEAD`` are redirected to ``/login?next=...``,
  other methods get 401.
* Every other method than ``GET``/``HEAD``/``OPTIONS`` must carry the session's CSRF token (form
  field ``csrf_token`` or header ``X-CSRF-Token``), else 403. The body is read here and replayed to
  the endpoint unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk import csrf
from desk.db import DB_IN_USE, DatabaseBusy
from desk.users import DeskUser

log = logging.getLogger("bitbybit")

SESSION_COOKIE = "bitbybit_desk"
SESSION_MAX_AGE = 12 * 3600
PUBLIC_PATHS = frozenset({"/login", "/logout", "/healthz", "/favicon.ico"})
AUTH_KEYS = frozenset({"uid", "user", "epoch", "login_at"})
PUBLIC_PREFIXES = ("/static/", "/unsubscribe/", "/confirm/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY_BYTES = 2 * 1024 * 1024
STALE_USER_SECONDS = 300  # while the local database is busy, a user read this recently is trusted

UserLoader = Callable[[str], DeskUser | None]


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def session_key(server_key: bytes) -> str:
    """The cookie-signing key: derived from the server key, so a session cookie and a signed
    unsubscribe link never share a key."""
    return hmac.new(server_key, b"bitbybit desk session v1", hashlib.sha256).hexdigest()


def safe_next(value: str | None) -> str:
    """A local path to return to after login (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def start_session(session: dict, user: DeskUser, now: float | None = None) -> None:
    """A fresh session for ``user`` (new CSRF token: nothing from before the login survives)."""
    session.clear()
    session.update({"uid": user.id, "user": user.username, "epoch": user.session_epoch,
                    "login_at": int(now if now is not None else time.time()), csrf.SESSION_KEY: csrf.new_token()})


def session_valid_for(session: dict, user: DeskUser | None, now: float) -> bool:
    """Whether ``session`` still belongs to ``user`` (same id and epoch, enabled, not too old)."""
    if user is None or user.disabled:
        return False
    login_at = session.get("login_at")
    if not isinstance(login_at, int) or now - login_at > SESSION_MAX_AGE or login_at > now + 60:
        return False
    return session.get("uid") == user.id and session.get("epoch") == user.session_epoch


class AuthMiddleware:
    """Sets ``request.state.user`` (a :class:`~desk.users.DeskUser`) or refuses the request."""

    def __init__(self, app: ASGIApp, *, load_user: UserLoader, clock: Callable[[], float] = time.time,
                 keep_off_db: Callable[[], bool] = lambda: False) -> None:
        self.app = app
        self.load_user = load_user
        self.clock = clock
        self.keep_off_db = keep_off_db  # True while a local run holds the DuckDB file (desk.web.db_in_use_by_run)
        self._seen: dict[str, tuple[float, DeskUser | None]] = {}
        self._lock = threading.Lock()

    def _user(self, username: str) -> DeskUser | None:
        """The user from the database. While a local run holds the database: the last copy read;
        while the database is busy otherwise: the copy read in the past few minutes."""
        with self._lock:
            seen = self._seen.get(username)
        if self.keep_off_db():
            if seen is not None:
                return seen[1]
            raise DatabaseBusy(DB_IN_USE)
        try:
            user = self.load_user(username)
        except DatabaseBusy:
            if seen is not None and time.monotonic() - seen[0] < STALE_USER_SECONDS:
                return seen[1]
            raise
        with self._lock:
            self._seen[username] = (time.monotonic(), user)
        return user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session = scope["session"]
        username = session.get("user")
        try:
            user = await run_in_threadpool(self._user, username) if isinstance(username, str) else None
        except DatabaseBusy as exc:
            await busy_response(str(exc))(scope, receive, send)
            return
        if not session_valid_for(session, user, self.clock()):
            for key in AUTH_KEYS & session.keys():  # a stale login ends; the login form's CSRF token stays
                del session[key]
            await self._refuse(request)(scope, receive, send)
            return
        if request.method not in SAFE_METHODS:
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)
                return
            given = request.headers.get(csrf.HEADER) or await _form_token(scope, body)
            if not csrf.matches(session.get(csrf.SESSION_KEY), given):
                log.warning("desk: CSRF token missing or wrong for %s %s (%s)", request.method, scope["path"],
                            user.username)
                await PlainTextResponse("CSRF token missing or wrong: reload the page and try again",
                                        status_code=403)(scope, receive, send)
                return
            receive = _replay(body, receive)
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    @staticmethod
    def _refuse(request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.headers.get("hx-request"):  # an htmx poll: send the whole page to the login form
                return Response(status_code=401, headers={"HX-Redirect": "/login?next=" + quote(target, safe="")})
            return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
        return PlainTextResponse("log in first", status_code=401)


def busy_response(message: str) -> Response:
    return PlainTextResponse(f"The desk's database is busy: {message}. Retry in a moment.", status_code=503,
                             headers={"Retry-After": "5"})


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, then: Receive | None = None) -> Receive:
    """A ``receive`` that gives ``body`` once, then waits on ``then`` (the client's disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then() if then is not None else {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"").decode("latin-1")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    request = Request(scope, _replay(body))
    try:
        form = await request.form()
        value = form.get(csrf.FIELD)
        return value if isinstance(value, str) else None
    except Exception:  # noqa: BLE001 - a malformed body simply carries no token
        return None
    finally:
        await request.close()
