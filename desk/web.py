"""Small helpers every desk page uses: rendering, flash messages, redirects, the current user,
path parameters, and running blocking work (database, lakehouse, Dagster) off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bitbybit_assets.deliver.database import delivery_target
from desk.db import DB_IN_USE, DatabaseBusy, DeskDB, open_desk

if TYPE_CHECKING:
    from desk.app import DeskState
    from desk.users import DeskUser

T = TypeVar("T")
FLASH_KEY = "flash"


def state(request: Request) -> DeskState:
    return request.app.state.desk


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A page (or an htmx fragment) from ``desk/templates`` (autoescaped)."""
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """After a POST: 303 See Other, so a reload does not repeat the action."""
    return RedirectResponse(url, status_code=303)


def flash(request: Request, message: str, kind: str = "info") -> None:
    """A message shown once, on the next page that renders ``desk_base.html`` (kind: info | error)."""
    messages = list(request.session.get(FLASH_KEY, []))[-4:]
    messages.append([kind, message[:600]])
    request.session[FLASH_KEY] = messages


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    if FLASH_KEY not in request.session:
        return []
    return [(k, m) for k, m in request.session.pop(FLASH_KEY)]


def current_user(request: Request) -> DeskUser:
    """The logged-in user (the auth middleware guarantees one outside the public paths)."""
    user = getattr(request.state, "user", None)
    if user is None:
        raise HTTPException(401, "log in first")
    return user


def require_admin(request: Request) -> DeskUser:
    user = current_user(request)
    if not user.is_admin:
        raise HTTPException(403, "only an admin may do this")
    return user


def path_day(request: Request, name: str = "day") -> date:
    """A ``YYYY-MM-DD`` path parameter; 404 when it is not a date."""
    try:
        return date.fromisoformat(request.path_params[name])
    except (KeyError, ValueError):
        raise HTTPException(404, "not a day (YYYY-MM-DD)") from None


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await run_in_threadpool(fn, *args, **kwargs)


def db_in_use_by_run(desk: DeskState) -> bool:
    """Local mode only: the delivery database is the DuckDB file and a run this desk launched is
    still running. DuckDB admits one process at a time, so the desk keeps off the file until the
    run ends (opening it at the wrong moment would make the run's own writes fail)."""
    if delivery_target(desk.postgres) == "postgres":
        return False
    running = getattr(desk.launcher, "running", None)
    return bool(running and running())


def with_db(request: Request, fn: Callable[[DeskDB], T]) -> T:
    """Run ``fn`` with the desk database open (call it from a worker thread: :func:`in_thread`).
    :class:`DatabaseBusy` while a local run holds the database (:func:`db_in_use_by_run`)."""
    if db_in_use_by_run(state(request)):
        raise DatabaseBusy(DB_IN_USE)
    with open_desk(state(request).postgres) as db:
        return fn(db)
