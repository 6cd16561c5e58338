"""``/settings`` (admins only): the thresholds and the daily send time the desk may change.

Each editable key (:data:`bitbybit_assets.settings_overrides.EDITABLE`) shows its effective value,
the ``production.yaml`` default, who changed it and when, an edit form and a reset; below, the
history. A value is validated by the models ``runtime_settings()`` uses (with every other override
applied) and refused with the model's reason; stored values apply from the next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitbybit_assets.settings_overrides import (
    EDITABLE,
    Editable,
    SettingsEvent,
    SettingsStore,
    apply_overrides,
    display,
    effective_value,
    parse_form_value,
)
from bitbybit_base.settings import SettingsError, runtime_settings
from desk.db import DeskDB
from desk.launcher import desk_actor
from desk.web import flash, in_thread, redirect, render, require_admin, with_db

log = logging.getLogger("bitbybit")


@dataclass(frozen=True)
class Row:
    setting: Editable
    effective: str
    default: str
    overridden: bool
    changed_by: str | None
    changed_at: datetime | None
    form_value: str


def _rows(db: DeskDB) -> tuple[list[Row], list[SettingsEvent], str | None]:
    store = SettingsStore(db.store.w)
    stored = store.overrides()
    defaults = runtime_settings()
    problem = None
    try:
        effective = apply_overrides({k: o.value for k, o in stored.items()})
    except SettingsError as exc:  # e.g. production.yaml changed since: the runs would fail the same way
        problem, effective = str(exc), defaults
    rows = []
    for key, setting in EDITABLE.items():
        o = stored.get(key)
        value = effective_value(effective, key)
        rows.append(
            Row(
                setting=setting,
                effective=display(value),
                default=display(effective_value(defaults, key)),
                overridden=o is not None,
                changed_by=o.updated_by if o else None,
                changed_at=o.updated_at if o else None,
                form_value=", ".join(map(str, value)) if isinstance(value, list) else str(value),
            )
        )
    return rows, store.history(100), problem


async def settings_page(request: Request) -> Response:
    require_admin(request)
    rows, history, problem = await in_thread(with_db, request, _rows)
    return render(
        request,
        "settings.html",
        title="Settings",
        rows=rows,
        history=history,
        problem=problem,
        display=display,
    )


def _key(request: Request) -> str:
    key = request.path_params["key"]
    if key not in EDITABLE:
        raise HTTPException(404, "no such setting")
    return key


async def save_post(request: Request) -> Response:
    admin = require_admin(request)
    key = _key(request)
    form = await request.form()
    text = str(form.get("value", ""))

    def save(db: DeskDB) -> Any:
        return SettingsStore(db.store.w).save(
            key, parse_form_value(key, text), actor=desk_actor(admin.username)
        )

    try:
        event = await in_thread(with_db, request, save)
    except SettingsError as exc:
        flash(request, f"Not saved: {exc}", "error")
        return redirect("/settings")
    if event is None:
        flash(request, f"{key} already has that value.")
    else:
        log.info("desk: %s set %s to %r", admin.username, key, event.after)
        flash(request, f"{key} set to {display(event.after)}; it applies from the next run.")
    return redirect("/settings")


async def reset_post(request: Request) -> Response:
    admin = require_admin(request)
    key = _key(request)
    event = await in_thread(
        with_db, request, lambda db: SettingsStore(db.store.w).reset(key, actor=desk_actor(admin.username))
    )
    if event is None:
        flash(request, f"{key} already follows production.yaml.")
    else:
        log.info("desk: %s reset %s", admin.username, key)
        flash(request, f"{key} follows production.yaml again from the next run.")
    return redirect("/settings")


def routes() -> list[Route]:
    return [
        Route("/settings", settings_page, methods=["GET"]),
        Route("/settings/{key}", save_post, methods=["POST"]),
        Route("/settings/{key}/reset", reset_post, methods=["POST"]),
    ]
