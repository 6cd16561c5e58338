"""``/users`` (admins only): list desk users, add one, disable or enable one.

Disabling ends the user's sessions at once (their session epoch changes). An admin cannot disable
their own account from here (no locking out the last admin by accident); ``bitbybit users`` can.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from desk.db import DeskDB
from desk.launcher import desk_actor
from desk.passwords import MIN_PASSWORD_LENGTH, ROLES, InvalidCredentials
from desk.users import UserExists, UserNotFound
from desk.web import flash, in_thread, redirect, render, require_admin, with_db

log = logging.getLogger("bitbybit")


async def users_page(request: Request) -> Response:
    require_admin(request)
    users = await in_thread(with_db, request, lambda db: db.users.users())
    return render(request, "users.html", title="Users", users=users, roles=ROLES, min_length=MIN_PASSWORD_LENGTH)


async def add_post(request: Request) -> Response:
    admin = require_admin(request)
    form = await request.form()
    username, role, password = (str(form.get(k, "")) for k in ("username", "role", "password"))

    def add(db: DeskDB):
        return db.users.add(username, password, role, actor=desk_actor(admin.username))

    try:
        user = await in_thread(with_db, request, add)
    except (InvalidCredentials, UserExists) as exc:
        flash(request, str(exc), "error")
        return redirect("/users")
    log.info("desk: %s added user %s (%s)", admin.username, user.username, user.role)
    flash(request, f"Added {user.username} ({user.role}).")
    return redirect("/users")


async def set_disabled(request: Request) -> Response:
    admin = require_admin(request)
    username, action = request.path_params["username"], request.path_params["action"]
    if action not in ("disable", "enable"):
        raise HTTPException(404, "unknown action")
    disable = action == "disable"
    if disable and username == admin.username:
        flash(request, "You cannot disable your own account here.", "error")
        return redirect("/users")
    try:
        changed = await in_thread(with_db, request, lambda db: db.users.set_disabled(username, disable))
    except UserNotFound:
        raise HTTPException(404, "no such user") from None
    verb = "disabled" if disable else "enabled"
    log.info("desk: %s %s user %s", admin.username, verb, username)
    flash(request, f"{username} {verb}." if changed else f"{username} was already {verb}.")
    return redirect("/users")


def routes() -> list[Route]:
    return [
        Route("/users", users_page, methods=["GET"]),
        Route("/users", add_post, methods=["POST"]),
        Route("/users/{username}/{action}", set_disabled, methods=["POST"]),
    ]
