"""``/subscribers``: counts by status, search, add one reader, unsubscribe one.

Adding goes through the same service as ``bitbybit subscribers add`` (address normalised and
validated, double opt-in when ``delivery.double_opt_in``); an existing address is never changed.
Unsubscribing keeps the row (``unsubscribed``: never mailed again) with an audit event naming
the desk user.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitbybit_assets.deliver import addresses
from bitbybit_assets.deliver.records import (
    SUBSCRIBER_STATUSES,
    Subscriber,
    SubscriberNotFound,
    subscriber_from_row,
)
from bitbybit_assets.deliver.service import send_options, subscribe
from bitbybit_base.settings import public_url, runtime_settings, secret_key
from desk.db import DeskDB
from desk.launcher import desk_actor
from desk.web import current_user, flash, in_thread, redirect, render, with_db
from resources.email import EmailSender
from resources.mail_base import DeliveryError
from resources.warehouse_db import Warehouse

PAGE_SIZE = 200


def like_pattern(text: str) -> str:
    """A case-insensitive ``LIKE`` pattern matching ``text`` anywhere (``%``, ``_``, ``\\`` literal)."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(w: Warehouse, query: str = "", status: str | None = None, limit: int = PAGE_SIZE) -> list[Subscriber]:
    """Subscribers whose address or name contains ``query`` (any case), optionally of one status."""
    sql, params = "SELECT * FROM subscribers WHERE 1 = 1", []
    if query.strip():
        sql += " AND (lower(email) LIKE %s ESCAPE '\\' OR lower(coalesce(name, '')) LIKE %s ESCAPE '\\')"
        params += [like_pattern(query)] * 2
    if status:
        if status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        sql += " AND status = %s"
        params.append(status)
    sql += f" ORDER BY email LIMIT {int(limit)}"
    return [subscriber_from_row(r) for r in w.query(sql, params)]


async def subscribers_page(request: Request) -> Response:
    query = request.query_params.get("q", "")[:200]
    status = request.query_params.get("status") or None
    if status is not None and status not in SUBSCRIBER_STATUSES:
        raise HTTPException(404, "unknown status")

    def load(db: DeskDB) -> dict[str, Any]:
        return {"counts": db.store.counts_by_status(), "subscribers": search(db.store.w, query, status)}

    data = await in_thread(with_db, request, load)
    return render(request, "subscribers.html", title="Subscribers", q=query, status=status,
                  statuses=SUBSCRIBER_STATUSES, page_size=PAGE_SIZE, **data)


def _add(request: Request, email: str, name: str) -> tuple[str, str]:
    try:
        address = addresses.normalise_email(email)
        clean = addresses.clean_name(name or None)
    except addresses.InvalidAddress as exc:
        return "error", f"{email[:100]!r} is not a valid address: {exc}"
    actor = desk_actor(current_user(request).username)
    cfg = runtime_settings().delivery

    def add(db: DeskDB) -> tuple[Subscriber, bool]:
        if not cfg.double_opt_in:
            return subscribe(db.store, address, clean, source="desk", actor=actor, double_opt_in=False)
        sender = EmailSender()
        options = send_options(cfg, mail_from=sender.sender_address(), public_url=public_url(cfg.public_url),
                               server_key=secret_key())
        with sender.session() as mail:
            return subscribe(db.store, address, clean, source="desk", actor=actor, double_opt_in=True, mail=mail,
                             options=options)

    try:
        sub, created = with_db(request, add)
    except DeliveryError as exc:
        return "error", f"{address}: the confirmation email could not be sent: {exc}"
    if not created:
        return "error", f"{address} is already a subscriber ({sub.status}); nothing changed."
    if sub.status == "pending":
        return "info", f"{address} added; a confirmation email was sent (pending until confirmed)."
    return "info", f"{address} added ({sub.status})."


async def add_post(request: Request) -> Response:
    form = await request.form()
    kind, message = await in_thread(_add, request, str(form.get("email", "")), str(form.get("name", "")))
    flash(request, message, kind)
    return redirect("/subscribers")


async def unsubscribe_post(request: Request) -> Response:
    sid = request.path_params["subscriber_id"]
    actor = desk_actor(current_user(request).username)

    def unsubscribe(db: DeskDB) -> tuple[str, bool]:
        sub = db.store.subscriber(sid)
        return sub.email, db.store.unsubscribe(sub.id, actor=actor, detail="unsubscribed from the desk")

    try:
        email, changed = await in_thread(with_db, request, unsubscribe)
    except (SubscriberNotFound, ValueError):
        raise HTTPException(404, "no such subscriber") from None
    flash(request, f"{email} unsubscribed." if changed else f"{email} was already unsubscribed.")
    return redirect("/subscribers")


def routes() -> list[Route]:
    return [
        Route("/subscribers", subscribers_page, methods=["GET"]),
        Route("/subscribers", add_post, methods=["POST"]),
        Route("/subscribers/{subscriber_id}/unsubscribe", unsubscribe_post, methods=["POST"]),
    ]
