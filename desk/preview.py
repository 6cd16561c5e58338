"""``/days/{day}/preview``: the day's newsletter as readers will get it, and the decisions on it.

The HTML is served by ``/days/{day}/newsletter.html`` under a strict CSP (no scripts, no fetches
other than images, inline styles only) into an ``<iframe sandbox="">`` (no scripts, an opaque
origin): feed content inside the newsletter cannot reach the desk. Actions: approve (this exact
content, by the logged-in user; failing blocking checks need an explicit, recorded override),
revoke, a test send to one address, and send (after a confirmation page), which launches the
``deliver_newsletter`` job like the CLI's ``bitbybit send``; the send ledger's counts refresh every
2 s while a send runs (``/days/{day}/ledger``).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bitbybit_assets.checks import blocking_failures
from bitbybit_assets.deliver import addresses
from bitbybit_assets.deliver.message import MERGE_TAG, NewsletterContent
from bitbybit_assets.deliver.records import LEDGER_STATUSES, DeliveryStateError
from bitbybit_assets.deliver.service import approve, load_content, send_decision, send_options, send_test
from bitbybit_assets.jobs import DELIVER_JOB_NAME
from bitbybit_base.settings import public_url, runtime_settings, secret_key
from desk.dagster_access import InstanceUnavailable
from desk.db import DatabaseBusy, DeskDB
from desk.launcher import desk_actor
from desk.today import active_runs_for, launch_and_record, launch_view
from desk.web import current_user, flash, in_thread, path_day, redirect, render, state, with_db
from resources.email import EmailSender
from resources.mail_base import DeliveryError

log = logging.getLogger("bitbybit")

GMAIL_CLIP_BYTES = 102 * 1024  # Gmail shows "[Message clipped]" above this much HTML
NEWSLETTER_CSP = ("default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
                  "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")


def size_report(html: str, limit: int = GMAIL_CLIP_BYTES) -> dict[str, Any]:
    """The HTML's size against the clipping limit: bytes, share, and ok | near | over."""
    size = len(html.encode("utf-8"))
    share = size / limit
    return {"bytes": size, "kb": round(size / 1024, 1), "limit_kb": round(limit / 1024), "percent": round(100 * share),
            "state": "over" if share > 1 else "near" if share > 0.9 else "ok"}


def _content(request: Request, day: date) -> NewsletterContent | None:
    try:
        return load_content(state(request).lakehouse, day)
    except DeliveryStateError:
        return None


def _ledger_rows(db: DeskDB, day: date) -> dict[str, Any]:
    counts = db.store.ledger_counts(day)
    launches = db.launches.recent(1, day=day, kind="delivery")
    return {"counts": counts, "total": sum(counts.values()), "editions": db.store.editions(day),
            "launch": launches[0] if launches else None}


def _ledger_rows_busy(request: Request, day: date, reason: str) -> dict[str, Any]:
    """What can be shown without the database: the latest send this process launched for ``day``."""
    launches = getattr(state(request).launcher, "launches", lambda: [])()
    mine = [x for x in launches if x.kind == "delivery" and x.partition_date == day]
    return {"counts": dict.fromkeys(LEDGER_STATUSES, 0), "total": 0, "editions": [],
            "launch": mine[0] if mine else None, "busy": reason}


def _ledger_context(request: Request, rows: dict[str, Any]) -> dict[str, Any]:
    """The ledger's counts and the latest send launched from the desk (reads the Dagster instance)."""
    view = None
    if rows["launch"] is not None:
        try:
            view = launch_view(request, rows["launch"], datetime.now(UTC))
        except InstanceUnavailable:
            view = None
    counts = rows["counts"]
    polling = (view is not None and not view.state.finished) or bool(counts["pending"] or counts["sending"]) \
        or bool(rows.get("busy"))
    return {**rows, "delivery": view, "polling": polling}


def _preview_context(request: Request, day: date) -> dict[str, Any]:
    content = _content(request, day)
    ctx: dict[str, Any] = {"day": day, "content": content}
    if content is None:
        return ctx
    lakehouse = state(request).lakehouse
    failures = blocking_failures(lakehouse, day)
    settings = runtime_settings().delivery

    def from_db(db: DeskDB) -> dict[str, Any]:
        approval = db.store.approval(day)
        decision = send_decision(db.store, content, settings, now=datetime.now(UTC),
                                 blocking_failures=lambda _d: failures)
        return {"approval": approval, "history": db.store.approval_history(day),
                "approved_current": approval is not None and approval.status == "approved"
                and approval.content_sha256 == content.content_sha256,
                "decision": decision, "active_subscribers": db.store.counts_by_status()["active"],
                "ledger": _ledger_rows(db, day)}

    try:
        ctx.update(with_db(request, from_db))
    except DatabaseBusy as exc:  # the newsletter and its checks still show; the decisions wait
        ctx.update(db_busy=str(exc), ledger=_ledger_rows_busy(request, day, str(exc)))
    ctx["ledger"] = _ledger_context(request, ctx["ledger"])
    ctx.update(failures=failures, size=size_report(content.html), sha=content.content_sha256,
               approval_mode=settings.approval)
    return ctx


async def preview_page(request: Request) -> Response:
    day = path_day(request)
    ctx = await in_thread(_preview_context, request, day)
    status = 200 if ctx["content"] is not None else 404
    return render(request, "preview.html", status_code=status, title=f"Preview {day}", **ctx)


async def newsletter_html(request: Request) -> Response:
    """The newsletter's HTML alone, for the sandboxed iframe (strict CSP, framable by the desk only)."""
    day = path_day(request)
    content = await in_thread(_content, request, day)
    if content is None:
        return HTMLResponse("<p>No newsletter for this day.</p>", status_code=404,
                            headers={"content-security-policy": NEWSLETTER_CSP, "x-frame-options": "SAMEORIGIN"})
    base = public_url(runtime_settings().delivery.public_url)
    html = MERGE_TAG.sub(f"{base}/unsubscribe/test", content.html)
    return HTMLResponse(html, headers={"content-security-policy": NEWSLETTER_CSP, "x-frame-options": "SAMEORIGIN",
                                       "cache-control": "no-store"})


async def ledger_fragment(request: Request) -> Response:
    day = path_day(request)
    try:
        rows = await in_thread(with_db, request, lambda db: _ledger_rows(db, day))
    except DatabaseBusy as exc:
        rows = _ledger_rows_busy(request, day, str(exc))
    ctx = await in_thread(_ledger_context, request, rows)
    return render(request, "_ledger.html", day=day, ledger=ctx)


def _approve(request: Request, day: date, force: bool, note: str) -> tuple[str, str]:
    content = _content(request, day)
    if content is None:
        return "error", f"{day}: there is no newsletter to approve."
    failures = blocking_failures(state(request).lakehouse, day)
    if failures and not force:
        return "error", (f"{day}: not approved: {len(failures)} blocking check(s) fail. Tick 'approve anyway' "
                         "to override (it is recorded).")
    text = "; ".join(filter(None, [note.strip()[:500], ("forced despite: " + "; ".join(failures)) if failures else ""]))
    actor = desk_actor(current_user(request).username)
    a = with_db(request, lambda db: approve(db.store, content, actor=actor, note=text or None))
    log.info("desk: %s approved %s (content %s)", actor, day, a.content_sha256[:12])
    return "info", f"{day}: approved by {actor} (content {a.content_sha256[:12]})."


async def approve_post(request: Request) -> Response:
    day = path_day(request)
    form = await request.form()
    kind, message = await in_thread(_approve, request, day, form.get("force") == "yes", str(form.get("note", "")))
    flash(request, message, kind)
    return redirect(f"/days/{day}/preview")


async def revoke_post(request: Request) -> Response:
    day = path_day(request)
    actor = desk_actor(current_user(request).username)
    done = await in_thread(with_db, request,
                           lambda db: db.store.revoke_approval(day, actor=actor, note="revoked from the desk"))
    flash(request, f"{day}: approval revoked (draft)." if done else f"{day}: was not approved.")
    return redirect(f"/days/{day}/preview")


def _test_send(request: Request, day: date, address: str) -> tuple[str, str]:
    try:
        to = addresses.normalise_email(address)
    except addresses.InvalidAddress as exc:
        return "error", f"{address[:100]!r} is not a valid address: {exc}"
    content = _content(request, day)
    if content is None:
        return "error", f"{day}: there is no newsletter to send."
    sender = EmailSender()
    cfg = runtime_settings().delivery
    try:
        options = send_options(cfg, mail_from=sender.sender_address(), public_url=public_url(cfg.public_url),
                               server_key=secret_key())
        with sender.session() as mail:
            pid = send_test(content, mail, options, to=to, now=datetime.now(UTC))
    except DeliveryError as exc:
        return "error", f"Test send to {to} failed: {exc}"
    log.info("desk: %s test-sent %s to %s (%s)", current_user(request).username, day, to, pid)
    return "info", f"Test email sent to {to} (subject starts with [TEST]; the ledger is untouched)."


async def test_send_post(request: Request) -> Response:
    day = path_day(request)
    form = await request.form()
    kind, message = await in_thread(_test_send, request, day, str(form.get("address", "")))
    flash(request, message, kind)
    return redirect(f"/days/{day}/preview")


async def send_confirm_page(request: Request) -> Response:
    day = path_day(request)
    ctx = await in_thread(_preview_context, request, day)
    status = 200 if ctx["content"] is not None else 404
    return render(request, "send_confirm.html", status_code=status, title=f"Send {day}", **ctx)


async def send_post(request: Request) -> Response:
    day = path_day(request)
    form = await request.form()
    if form.get("confirm") != "yes":
        return redirect(f"/days/{day}/send")
    try:
        active = await in_thread(active_runs_for, request, day, (DELIVER_JOB_NAME,))
    except InstanceUnavailable as exc:
        flash(request, f"Cannot launch: {exc}", "error")
        return redirect(f"/days/{day}/preview")
    if active:
        flash(request, f"{day}: a send is already running (run {active[0].run_id[:8]}).", "error")
        return redirect(f"/days/{day}/preview#delivery")
    try:
        launch = await in_thread(launch_and_record, request, "delivery", day)
    except DatabaseBusy as exc:
        flash(request, f"{day}: not sent: {exc}.", "error")
        return redirect(f"/days/{day}/preview")
    if launch.error:
        flash(request, f"{day}: the send could not be launched: {launch.error}", "error")
    else:
        flash(request, f"{day}: sending ({launch.job_name}, run {launch.run_id[:8]}); progress below.")
    return redirect(f"/days/{day}/preview#delivery")


def routes() -> list[Route]:
    return [
        Route("/days/{day}/preview", preview_page, methods=["GET"]),
        Route("/days/{day}/newsletter.html", newsletter_html, methods=["GET"]),
        Route("/days/{day}/ledger", ledger_fragment, methods=["GET"]),
        Route("/days/{day}/approve", approve_post, methods=["POST"]),
        Route("/days/{day}/revoke", revoke_post, methods=["POST"]),
        Route("/days/{day}/test-send", test_send_post, methods=["POST"]),
        Route("/days/{day}/send", send_confirm_page, methods=["GET"]),
        Route("/days/{day}/send", send_post, methods=["POST"]),
    ]
