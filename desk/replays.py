"""``/replays``: the what-if replays (``bitbybit replay``) stored under ``<lakehouse>/replays/``, and
``/replays/{name}``: per day the picks added, removed and moved against what was published, stories
lost, the evaluation figures of both sides on labelled days, then every changed pick."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitbybit_assets.replay.run import REPLAYS_PREFIX, ReplayError, read_replay
from desk.web import current_user, in_thread, render, state


def replay_names(root: str) -> list[str]:
    """Replays under a local lakehouse root (an S3 root: none listed; open ``/replays/NAME``)."""
    folder = Path(root) / REPLAYS_PREFIX
    if "://" in root or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "replay_days").is_dir())


async def replays_page(request: Request) -> Response:
    current_user(request)
    names = await in_thread(replay_names, state(request).lakehouse.root_uri())
    return render(request, "replays.html", title="Replays", names=names, name=None, days=[], changes=[])


async def replay_page(request: Request) -> Response:
    current_user(request)
    name = request.path_params["name"]
    try:
        summary, changes = await in_thread(read_replay, state(request).lakehouse, name)
    except ReplayError as exc:
        raise HTTPException(404, str(exc)) from None
    if summary.is_empty():
        raise HTTPException(404, f"no replay named {name}")
    changed = changes.filter(pl.col("change") != "same").sort("partition_date", "change", "replay_rank")
    return render(request, "replays.html", title=f"Replay {name}", names=[], name=name,
                  days=summary.to_dicts(), changes=changed.to_dicts())


def routes() -> list[Route]:
    return [Route("/replays", replays_page, methods=["GET"]), Route("/replays/{name}", replay_page, methods=["GET"])]
