"""Managing feeds from the desk (admins): add, edit, disable and enable, on top of ``/feeds``.

Only with ``BITBYBIT_FEEDS_SOURCE=database`` (the production default): the ``feeds`` table is then the
feed list every run reads (:mod:`bitbybit_assets.feeds_store`). With the YAML source the list is
edited in ``config/feeds.yaml`` and these routes answer 409.

Adding or editing is two steps: **Test fetch** validates the form (the :class:`FeedConfig` rules,
duplicates, the URL and the fetcher's SSRF rules), fetches the URL once through the real fetcher
with short timeouts, and shows the entries it parsed; **Save** stores exactly those values. The
preview carries a signed token over the tested values (an hour long), so a feed cannot be saved
without a successful test fetch of that URL. A failure shows the reason and saves nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitbybit_assets.feed_check import FeedRefused, check_url, feed_from_form, test_fetch
from bitbybit_assets.feeds_store import FeedExists, FeedNotFound, FeedStore, check_unique, feeds_source
from bitbybit_base.settings import FeedConfig, runtime_settings
from desk.db import DeskDB
from desk.launcher import desk_actor
from desk.web import flash, in_thread, redirect, render, require_admin, state, with_db
from resources.fetch_guard import Resolver

log = logging.getLogger("bitbybit")
PROOF_FIELD = "tested"
PROOF_MAX_AGE = 3600
NOT_MANAGED = ("the feed list comes from config/feeds.yaml (BITBYBIT_FEEDS_SOURCE=yaml): edit that file; "
               "with BITBYBIT_FEEDS_SOURCE=database the desk manages feeds")


def manageable() -> bool:
    return feeds_source() == "database"


def _admin(request: Request):
    user = require_admin(request)
    if not manageable():
        raise HTTPException(409, NOT_MANAGED)
    return user


def _store(db: DeskDB) -> FeedStore:
    store = FeedStore(db.store.w)
    store.ensure_seeded()
    return store


def _resolver(request: Request) -> Resolver | None:
    return state(request).extra.get("feed_resolver")  # tests: map fake host names


# ---------------------------------------------------------------- the signed "tested" token


def _proof(request: Request, mode: str, feed: FeedConfig, issued: int | None = None) -> str:
    issued = int(time.time()) if issued is None else issued
    payload = f"feed-test|{mode}|{issued}|{json.dumps(feed.model_dump(), sort_keys=True)}".encode()
    digest = hmac.new(state(request).server_key, payload, hashlib.sha256).hexdigest()
    return f"{issued}.{digest}"


def _proof_ok(request: Request, mode: str, feed: FeedConfig, token: str) -> bool:
    issued, _, _digest = token.partition(".")
    if not issued.isdigit() or time.time() - int(issued) > PROOF_MAX_AGE:
        return False
    return hmac.compare_digest(_proof(request, mode, feed, int(issued)), token)


# ---------------------------------------------------------------- checks


def _checked(request: Request, form: Any, name: str | None) -> FeedConfig:
    """The form as a feed, after every rule but the test fetch (blocking: call in a thread)."""
    feed = feed_from_form(form, name=name)
    existing = with_db(request, lambda db: _store(db).feeds())
    if name is not None and not any(f.name == name for f in existing):
        raise HTTPException(404, "no such feed")
    check_unique(feed, existing, editing=name)
    check_url(feed.url, runtime_settings().ingest.fetch, _resolver(request))
    return feed


def _test(request: Request, form: Any, name: str | None):
    feed = _checked(request, form, name)
    cfg = runtime_settings().ingest
    return feed, test_fetch(feed, cfg.fetch, cfg.limits, resolver=_resolver(request))


def _form_page(request: Request, *, name: str | None, values: dict[str, Any], error: str | None = None,
               status_code: int = 200, events: list[dict] | None = None) -> Response:
    return render(request, "feeds/form.html", status_code=status_code, title="Edit feed" if name else "Add feed",
                  editing=name, values=values, error=error, events=events or [])


def _values(form: Any, name: str | None) -> dict[str, str]:
    values = {k: str(form.get(k) or "") for k in ("name", "url", "category", "trust")}
    if name is not None:
        values["name"] = name
    return values


# ---------------------------------------------------------------- handlers


async def new_page(request: Request) -> Response:
    _admin(request)
    return _form_page(request, name=None, values={"name": "", "url": "", "category": "general", "trust": "0.5"})


async def edit_page(request: Request) -> Response:
    _admin(request)
    name = request.path_params["name"]

    def load(db: DeskDB):
        store = _store(db)
        return store.get(name), store.events(name, limit=20)

    feed, events = await in_thread(with_db, request, load)
    if feed is None:
        raise HTTPException(404, "no such feed")
    values = {"name": feed.name, "url": feed.url, "category": feed.category, "trust": str(feed.trust)}
    return _form_page(request, name=name, values=values, events=events)


async def _test_post(request: Request, name: str | None) -> Response:
    admin = _admin(request)
    form = await request.form()
    try:
        feed, result = await in_thread(_test, request, form, name)
    except (FeedRefused, FeedExists) as exc:
        log.info("desk: %s test fetch of a feed refused: %s", admin.username, exc)
        return _form_page(request, name=name, values=_values(form, name), error=str(exc), status_code=400)
    mode = f"edit:{name}" if name else "add"
    return render(request, "feeds/preview.html", title="Test fetch", feed=feed, result=result, editing=name,
                  proof=_proof(request, mode, feed), proof_field=PROOF_FIELD,
                  save_url=f"/feeds/{name}/edit" if name else "/feeds/new")


async def new_test(request: Request) -> Response:
    return await _test_post(request, None)


async def edit_test(request: Request) -> Response:
    return await _test_post(request, request.path_params["name"])


async def _save_post(request: Request, name: str | None) -> Response:
    admin = _admin(request)
    form = await request.form()
    actor = desk_actor(admin.username)
    mode = f"edit:{name}" if name else "add"

    def save(db: DeskDB) -> FeedConfig:
        store = _store(db)
        return store.update(feed, actor=actor) if name else store.add(feed, actor=actor)

    try:
        feed = await in_thread(_checked, request, form, name)
        if not _proof_ok(request, mode, feed, str(form.get(PROOF_FIELD) or "")):
            raise FeedRefused("run the test fetch first (or again: these values were not tested, or the test "
                              "is older than an hour)")
        saved = await in_thread(with_db, request, save)
    except (FeedRefused, FeedExists) as exc:
        return _form_page(request, name=name, values=_values(form, name), error=str(exc), status_code=400)
    except FeedNotFound:
        raise HTTPException(404, "no such feed") from None
    log.info("desk: %s %s feed %s (%s)", admin.username, "edited" if name else "added", saved.name, saved.url)
    flash(request, f"{'Saved' if name else 'Added'} feed {saved.name}; the next ingest run reads it.")
    return redirect("/feeds")


async def new_save(request: Request) -> Response:
    return await _save_post(request, None)


async def edit_save(request: Request) -> Response:
    return await _save_post(request, request.path_params["name"])


async def set_enabled(request: Request) -> Response:
    admin = _admin(request)
    name, action = request.path_params["name"], request.path_params["action"]
    if action not in ("disable", "enable"):
        raise HTTPException(404, "unknown action")
    enable = action == "enable"
    try:
        changed = await in_thread(
            with_db, request, lambda db: _store(db).set_enabled(name, enable, actor=desk_actor(admin.username))
        )
    except FeedNotFound:
        raise HTTPException(404, "no such feed") from None
    verb = "enabled" if enable else "disabled"
    log.info("desk: %s %s feed %s", admin.username, verb, name)
    flash(request, f"Feed {name} {verb}." if changed else f"Feed {name} was already {verb}.")
    return redirect("/feeds")


def routes() -> list[Route]:
    return [
        Route("/feeds/new", new_page, methods=["GET"]),
        Route("/feeds/new/test", new_test, methods=["POST"]),
        Route("/feeds/new", new_save, methods=["POST"]),
        Route("/feeds/{name}/edit", edit_page, methods=["GET"]),
        Route("/feeds/{name}/edit/test", edit_test, methods=["POST"]),
        Route("/feeds/{name}/edit", edit_save, methods=["POST"]),
        Route("/feeds/{name}/{action}", set_enabled, methods=["POST"]),
    ]
