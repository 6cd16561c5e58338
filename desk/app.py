"""The Starlette application: ``create_app()`` wires routes, middleware, templates and static files.

Middleware, outermost first: security headers on every response; the signed session cookie;
authentication + CSRF (:mod:`desk.auth`: everything but the public paths needs a logged-in user,
every state-changing request the session's CSRF token).

Pages add their routes to :func:`page_routes` (each module has a ``routes()`` function).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from bitbybit_base.settings import data_dir, environment, public_url, runtime_settings, secret_key
from desk import (
    admin_users,
    analytics,
    csrf,
    feeds_admin,
    login,
    passwords,
    preview,
    public,
    replays,
    review,
    settings_page,
    subscribers,
    today,
)
from desk.auth import SESSION_COOKIE, SESSION_MAX_AGE, AuthMiddleware, busy_response, session_key
from desk.dagster_access import DagsterAccess
from desk.db import DatabaseBusy, open_desk
from desk.launcher import dagster_ui_url, launcher_from_env
from desk.pipeline_status import last_complete_day, run_url
from desk.users import DeskUser
from desk.web import db_in_use_by_run, pop_flashes
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource

HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    # links carry signed tokens: never leak them through Referer; no framing, no foreign scripts
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}


@dataclass
class DeskState:
    """What every request handler may use: resources and settings loaded once at start-up."""

    postgres: PostgresResource
    server_key: bytes
    title: str = "bitbybit"
    extra: dict = field(default_factory=dict)
    lakehouse: Any = None  # resources.lakehouse.Lakehouse (default: from the settings)
    launcher: Any = None  # desk.launcher.SubprocessLauncher | GraphQLLauncher (default: from the environment)
    dagster: DagsterAccess = field(default_factory=DagsterAccess)
    dagster_url: str = ""  # where run links point (default: BITBYBIT_DAGSTER_UI_URL / _DAGSTER_URL / :3000)
    secure_cookies: bool | None = None  # default: the public URL is https


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                present = {k.decode().lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def favicon(request: Request) -> Response:
    return Response(status_code=204)  # browsers ask for it on every page; there is none


def page_routes() -> list[BaseRoute]:
    """Every route of the desk; a new page module adds ``*module.routes()`` here."""
    return [
        Route("/healthz", healthz),
        Route("/favicon.ico", favicon),
        *public.routes(),
        *login.routes(),
        *today.routes(),
        *preview.routes(),
        *review.routes(),
        *subscribers.routes(),
        *admin_users.routes(),
        *settings_page.routes(),
        *analytics.routes(),
        *feeds_admin.routes(),
        *replays.routes(),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


# ---------------------------------------------------------------- templates


@jinja2.pass_context
def _csrf_token(ctx: jinja2.runtime.Context) -> str:
    return csrf.session_token(ctx["request"].session)


@jinja2.pass_context
def _csrf_input(ctx: jinja2.runtime.Context) -> Markup:
    token = csrf.session_token(ctx["request"].session)
    return Markup(f'<input type="hidden" name="{csrf.FIELD}" value="{escape(token)}">')


@jinja2.pass_context
def _flashes(ctx: jinja2.runtime.Context) -> list[tuple[str, str]]:
    return pop_flashes(ctx["request"])


def format_when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp in UTC for the pages (``—`` for none)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(fmt) + " UTC"


def build_templates(state: DeskState) -> Jinja2Templates:
    """Jinja2 with autoescape on for every template, and the desk's globals: ``csrf_input()``,
    ``csrf_token()``, ``get_flashed_messages()``, ``default_day()``, ``run_url(run_id)``; the filter
    ``when`` (a timestamp in UTC)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True)
    env.globals.update(
        site_title=state.title,
        csrf_token=_csrf_token,
        csrf_input=_csrf_input,
        get_flashed_messages=_flashes,
        default_day=lambda: last_complete_day(datetime.now(UTC)),
        run_url=lambda run_id: run_url(state.dagster_url, run_id),
    )
    env.filters["when"] = format_when
    return Jinja2Templates(env=env)


# ---------------------------------------------------------------- errors


def _error_handlers(templates: Jinja2Templates) -> dict:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.headers.get("hx-request") or exc.status_code not in (403, 404, 405):
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)
        return templates.TemplateResponse(request, "error.html", {"title": f"{exc.status_code}",
                                                                  "message": exc.detail},
                                          status_code=exc.status_code)

    async def busy(request: Request, exc: Exception) -> Response:
        return busy_response(str(exc))

    return {HTTPException: http_error, DatabaseBusy: busy}


def _secure_cookies(state: DeskState) -> bool:
    if state.secure_cookies is not None:
        return state.secure_cookies
    return public_url(runtime_settings().delivery.public_url).lower().startswith("https://")


def create_app(state: DeskState | None = None) -> Starlette:
    """The desk app. Without ``state``: resources from the environment and settings, loaded now
    (a bad setting fails at start-up, not on the first request)."""
    if state is None:
        settings = runtime_settings()
        state = DeskState(postgres=PostgresResource(), server_key=secret_key(),
                          title=settings.newsletter.title)
    if state.lakehouse is None:
        state.lakehouse = Lakehouse()
    if state.launcher is None:
        state.launcher = launcher_from_env(data_dir() / "desk" / "launches", env=environment())
    state.dagster_url = state.dagster_url or dagster_ui_url()
    templates = build_templates(state)
    passwords.prepare()

    def load_user(username: str) -> DeskUser | None:
        with open_desk(state.postgres) as db:
            return db.users.get(username)

    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=session_key(state.server_key), session_cookie=SESSION_COOKIE,
                   max_age=SESSION_MAX_AGE, same_site="lax", https_only=_secure_cookies(state)),
        Middleware(AuthMiddleware, load_user=load_user, keep_off_db=lambda: db_in_use_by_run(state)),
    ]
    app = Starlette(routes=page_routes(), middleware=middleware, exception_handlers=_error_handlers(templates),
                    debug=os.environ.get("BITBYBIT_DESK_DEBUG") == "1")
    app.state.desk = state
    app.state.templates = templates
    return app
