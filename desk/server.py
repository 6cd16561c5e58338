"""``python -m desk`` / ``make desk``: serve the desk with uvicorn on ``BITBYBIT_DESK_HOST``:``BITBYBIT_DESK_PORT``
(default 127.0.0.1:8000)."""

from __future__ import annotations

import gc
import logging
import os

import uvicorn

from desk.app import create_app
from desk.db import DatabaseBusy, open_desk
from resources.postgres import PostgresResource

log = logging.getLogger("bitbybit")


def address() -> tuple[str, int]:
    host = os.environ.get("BITBYBIT_DESK_HOST", "127.0.0.1").strip() or "127.0.0.1"
    raw = os.environ.get("BITBYBIT_DESK_PORT", "8000").strip() or "8000"
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"BITBYBIT_DESK_PORT={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SystemExit(f"BITBYBIT_DESK_PORT={port} is out of range")
    return host, port


def startup_notes() -> list[str]:
    """What an operator should know before the first login (no users yet, no Dagster home)."""
    notes = []
    if not os.environ.get("DAGSTER_HOME"):
        notes.append("DAGSTER_HOME is not set: the desk cannot show or launch runs (make desk sets it)")
    try:
        with open_desk(PostgresResource()) as db:
            if db.users.count() == 0:
                notes.append("no desk users yet: bitbybit users add NAME --role admin")
    except DatabaseBusy as exc:
        notes.append(f"database not reachable yet: {exc}")
    return notes


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    host, port = address()
    app = create_app()
    for note in startup_notes():
        log.warning("%s", note)
    # Dagster, polars and dbt leave a large long-lived heap: freeze it so full collections stop
    # scanning it (they cost 150-300 ms per request otherwise; bench/desk_review.py)
    gc.collect()
    gc.freeze()
    log.info("bitbybit desk on http://%s:%d/", host, port)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)


if __name__ == "__main__":
    main()
