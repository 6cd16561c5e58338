"""``/days/{day}``: the day review, and the editors' actions on it.

All candidates of the day (``scored_articles``) in one table, sortable and filterable on the server
(``?sort=…&dir=…&show=all|selected|dropped|ads``), with the editorial overrides applied as the next
run will apply them. Actions (each a POST carrying the day's revision the editor saw; a stale one
answers 409 and names who saved in between; every action is one ``editorial_overrides`` row):

* ``POST /days/{day}/pin`` | ``/drop`` (``entry_key``), ``/swap`` (``entry_key`` out, ``candidate`` in),
  ``/move`` (``entry_key``, ``to`` = up | down | top | position), ``/revert`` (``id``);
* ``GET``/``POST /days/{day}/articles/{entry_key}``: edit a pick's title, summary and tags;
* ``POST /days/{day}/issue``: edit the subject, preheader and intro.

Edits take effect when the day is re-run ("Re-run this day" posts to ``/days/{day}/rerun``,
:mod:`desk.today`). Edited text is stored as given and escaped wherever it is shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitbybit_assets.editorial.assets import TABLE as SNAPSHOT_TABLE
from bitbybit_assets.editorial.overrides import Override, short
from bitbybit_assets.editorial.store import Action, EditConflict, EditorialStore, InvalidAction
from bitbybit_assets.settings_overrides import read_overrides
from bitbybit_base.settings import runtime_settings
from desk.review_data import (
    ENHANCED_COLUMNS,
    NEWSLETTER_COLUMNS,
    SCORED_COLUMNS,
    DayReview,
    EditError,
    View,
    add_published,
    article_changes,
    build_review,
    issue_changes,
    moved,
)
from desk.web import current_user, flash, in_thread, path_day, redirect, render, state, with_db

log = logging.getLogger("bitbybit")
Builder = Callable[[DayReview, FormData], tuple[list[Action], str]]

_LIMITS_TTL = 30.0
_limits_cache: tuple[float, dict[str, int]] | None = None


def limits() -> dict[str, int]:
    """``top_n``, ``summary_max_words``, ``tags_max`` from the settings (re-read every 30 s: parsing
    the settings file costs more than rendering the page)."""
    global _limits_cache
    now = time.monotonic()
    if _limits_cache is None or now - _limits_cache[0] > _LIMITS_TTL:
        s = runtime_settings()
        enh = s.enhancement
        _limits_cache = (
            now,
            {
                "top_n": s.curation.top_n,
                "summary_max_words": enh.summary_max_words,
                "tags_max": enh.tags_max,
            },
        )
    return _limits_cache[1]


# ---------------------------------------------------------------- loading (worker threads)


def _editorial(request: Request, day: date) -> tuple[list[Override], int, int | None]:
    """The day's overrides, its revision (the highest one) and the top N set on the Settings page
    (``None``: production.yaml's, as the next run will use)."""
    overrides, top_n = with_db(
        request,
        lambda db: (EditorialStore(db.store.w).overrides(day), read_overrides(db.store.w).get("curation.top_n")),
    )
    return overrides, max((o.revision for o in overrides), default=0), top_n


def load_review(request: Request, day: date, *, published: bool = True) -> DayReview | None:
    """The day's review (``None`` when the day has no scored articles); with ``published`` also the
    last run's summaries, copy and applied revision. The reads run side by side."""
    lakehouse = state(request).lakehouse
    with ThreadPoolExecutor(max_workers=5) as pool:
        scored = pool.submit(lakehouse.read_days, "scored_articles", day, day, SCORED_COLUMNS)
        editorial = pool.submit(_editorial, request, day)
        if published:
            parts = [
                pool.submit(lakehouse.read_days, table, day, day, cols)
                for table, cols in (
                    ("enhanced_articles", ENHANCED_COLUMNS),
                    ("newsletters", NEWSLETTER_COLUMNS),
                    (SNAPSHOT_TABLE, ["revision"]),
                )
            ]
        if scored.result().is_empty():
            return None
        overrides, revision, top_n = editorial.result()
        review = build_review(day, scored.result(), overrides, revision, top_n or limits()["top_n"])
        if published:
            add_published(review, *(p.result() for p in parts))
    return review


def _save(request: Request, day: date, actions: list[Action], base: int) -> list[Override]:
    actor = current_user(request).username
    return with_db(
        request, lambda db: EditorialStore(db.store.w).save(day, actions, actor=actor, base_revision=base)
    )


# ---------------------------------------------------------------- pages


async def review_page(request: Request) -> Response:
    day = path_day(request)
    view = View.parse(request.query_params)
    review = await in_thread(load_review, request, day)
    if review is None:
        return render(request, "review/missing.html", status_code=404, title=f"Day {day}", day=day)
    return render(
        request,
        "review/day.html",
        title=f"Day {day}",
        day=day,
        review=review,
        view=view,
        rows=view.apply(review.candidates),
        limits=limits(),
    )


async def article_page(request: Request) -> Response:
    day = path_day(request)
    key = request.path_params["entry_key"]
    review = await in_thread(load_review, request, day)
    cand = review.by_key.get(key) if review else None
    if review is None or cand is None:
        raise HTTPException(404, f"no article {short(key)} on {day}")
    history = [o for o in review.overrides if o.entry_key == key or o.value == key]
    return render(
        request,
        "review/article.html",
        title=f"Edit · {cand.title[:60]}",
        day=day,
        review=review,
        cand=cand,
        values=review.article_values(key),
        history=history,
        limits=limits(),
        error=None,
    )


# ---------------------------------------------------------------- actions


def _revision(form: FormData) -> int:
    try:
        return int(str(form.get("revision", "")))
    except ValueError:
        raise HTTPException(400, "the form carries no revision: reload the page") from None


def _back(day: date, form: FormData) -> str:
    view = View.parse({k: str(form.get(k, "")) for k in ("sort", "dir", "show")})
    query = view.query()
    return f"/days/{day}" + (f"?{query}" if query else "")


def _conflict(request: Request, day: date, exc: EditConflict) -> Response:
    log.info("desk: edit conflict on %s for %s: %s", day, current_user(request).username, exc)
    return render(
        request, "review/conflict.html", status_code=409, title=f"Conflict on {day}", day=day, error=exc
    )


def _refused(request: Request, day: date, message: str, status: int = 400) -> Response:
    return render(
        request,
        "review/refused.html",
        status_code=status,
        title=f"Not saved · {day}",
        day=day,
        message=message,
    )


async def _act(request: Request, build: Builder, *, published: bool = False) -> Response:
    """Load the day, check the revision, let ``build(review, form)`` make the actions (or raise
    :class:`EditError`), save them as the next revisions, and go back to the table."""
    day = path_day(request)
    form = await request.form()
    base = _revision(form)
    review = await in_thread(load_review, request, day, published=published)
    if review is None:
        raise HTTPException(404, f"no scored articles on {day}")
    try:
        if base != review.revision:
            raise EditConflict(day, base, review.revision, [o for o in review.overrides if o.revision > base])
        actions, message = build(review, form)
        if not actions:
            flash(request, message or "Nothing changed.")
            return redirect(_back(day, form))
        await in_thread(_save, request, day, actions, base)
    except EditConflict as exc:
        return _conflict(request, day, exc)
    except (EditError, InvalidAction) as exc:
        return _refused(request, day, str(exc))
    flash(request, f"{message} Re-run the day to rebuild its newsletter.")
    return redirect(_back(day, form))


def _article(review: DayReview, key: Any) -> str:
    key = str(key or "")
    if key not in review.by_key:
        raise EditError(f"there is no article {short(key)!r} on {review.day}")
    return key


def _title(review: DayReview, key: str) -> str:
    title = review.by_key[key].title
    return f"“{title[:80]}”"


async def pin_post(request: Request) -> Response:
    def build(review: DayReview, form: FormData) -> tuple[list[Action], str]:
        key = _article(review, form.get("entry_key"))
        state_ = review.effective.selection.get(key)
        if review.by_key[key].status == "pick" and state_ is not None and state_.kind == "pin":
            return [], f"{_title(review, key)} is already pinned."
        return [Action("pin", key)], f"Pinned {_title(review, key)}."

    return await _act(request, build)


async def drop_post(request: Request) -> Response:
    def build(review: DayReview, form: FormData) -> tuple[list[Action], str]:
        key = _article(review, form.get("entry_key"))
        if review.by_key[key].status != "pick":
            raise EditError(f"{_title(review, key)} is not a pick")
        return [
            Action("drop", key)
        ], f"Dropped {_title(review, key)}; the next-best candidate takes its place."

    return await _act(request, build)


async def swap_post(request: Request) -> Response:
    def build(review: DayReview, form: FormData) -> tuple[list[Action], str]:
        out = _article(review, form.get("entry_key"))
        into = _article(review, form.get("candidate"))
        if review.by_key[out].status != "pick":
            raise EditError(f"{_title(review, out)} is not a pick")
        if review.by_key[into].status == "pick":
            raise EditError(f"{_title(review, into)} is already a pick")
        return [Action("swap", out, value=into)], f"Swapped {_title(review, out)} for {_title(review, into)}."

    return await _act(request, build)


async def move_post(request: Request) -> Response:
    """``to`` comes from the form or, for the table's ↑/↓ buttons, the query (``formaction``)."""
    query_to = request.query_params.get("to", "")

    def build(review: DayReview, form: FormData) -> tuple[list[Action], str]:
        key = _article(review, form.get("entry_key"))
        before = [c.key for c in review.picks]
        after = moved(before, key, str(form.get("to") or query_to))
        if after == before:
            return [], "The order did not change."
        return [Action("reorder", value=after, before=before)], (
            f"Moved {_title(review, key)} to place {after.index(key) + 1}."
        )

    return await _act(request, build)


async def revert_post(request: Request) -> Response:
    def build(review: DayReview, form: FormData) -> tuple[list[Action], str]:
        target = next((o for o in review.overrides if o.id == str(form.get("id", ""))), None)
        if target is None:
            raise EditError(f"no such action on {review.day}")
        return [Action("revert", value=target.id)], f"Reverted: {target.describe()}."

    return await _act(request, build)


async def issue_post(request: Request) -> Response:
    def build(review: DayReview, form: FormData) -> tuple[list[Action], str]:
        changes = issue_changes(review.issue, form)
        actions = [
            Action("edit", field=k, value=v, before=review.issue[k]["value"]) for k, v in changes.items()
        ]
        return actions, f"Saved the {', '.join(changes)}." if changes else "Nothing changed."

    return await _act(request, build, published=True)


async def article_post(request: Request) -> Response:
    key = request.path_params["entry_key"]
    lim = limits()

    def build(review: DayReview, form: FormData) -> tuple[list[Action], str]:
        _article(review, key)
        if review.by_key[key].status != "pick":
            raise EditError(f"{_title(review, key)} is not a pick: pin it first")
        values = review.article_values(key)  # the last run's values or the latest edits
        changes = article_changes(values, form, max_words=lim["summary_max_words"], tags_max=lim["tags_max"])
        actions = [Action("edit", key, k, v, before=values.get(k)) for k, v in changes.items()]
        return (
            actions,
            f"Saved the {', '.join(changes)} of {_title(review, key)}." if changes else "Nothing changed.",
        )

    return await _act(request, build, published=True)


def routes() -> list[Route]:
    return [
        Route("/days/{day}", review_page, methods=["GET"]),
        Route("/days/{day}/pin", pin_post, methods=["POST"]),
        Route("/days/{day}/drop", drop_post, methods=["POST"]),
        Route("/days/{day}/swap", swap_post, methods=["POST"]),
        Route("/days/{day}/move", move_post, methods=["POST"]),
        Route("/days/{day}/revert", revert_post, methods=["POST"]),
        Route("/days/{day}/issue", issue_post, methods=["POST"]),
        Route("/days/{day}/articles/{entry_key}", article_page, methods=["GET"]),
        Route("/days/{day}/articles/{entry_key}", article_post, methods=["POST"]),
    ]
