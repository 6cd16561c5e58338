"""Screenshots of the Analytics and Feeds pages with headless Chromium (``docs/desk/*.png``).

    .venv/bin/python -m tests.desk.analytics_screenshots [--out docs/desk] [--chromium /usr/bin/chromium]

Builds a 30-day demo warehouse (:mod:`tests.desk.analytics_helpers`) in a temporary folder, serves
the desk on a free loopback port with uvicorn (a logged-in editor's session cookie added to every
request, since Chromium's command line cannot log in), and saves one screenshot per page. Chromium's
console is checked for Content-Security-Policy violations and chart errors.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import uvicorn
from starlette.testclient import TestClient

from tests.desk.analytics_helpers import build_warehouse

ROOT = Path(__file__).resolve().parents[2]
FEEDS_YAML = """feeds:
  - {name: alpha-ai, url: 'https://alpha.example/feed.xml', category: ai}
  - {name: beta-dev, url: 'https://beta.example/rss', category: dev}
  - {name: gamma-broken, url: 'https://gamma.example/atom', category: misc}
  - {name: delta-new, url: 'https://delta.example/rss', category: dev}
  - {name: epsilon-paused, url: 'https://epsilon.example/feed', enabled: false}
"""
PAGES = {"analytics": ("/analytics", "1400,2150"), "feeds": ("/feeds", "1400,1000")}


def _env(tmp: Path) -> None:
    os.environ.update(
        {
            "BITBYBIT_ENV": "local",
            "BITBYBIT_DATA_DIR": str(tmp / "data"),
            "BITBYBIT_OUTPUT_DIR": str(tmp / "out"),
            "BITBYBIT_LAKEHOUSE_ROOT": str(tmp / "lake"),
            "BITBYBIT_DUCKDB_PATH": str(tmp / "warehouse.duckdb"),
            "BITBYBIT_SECRET_KEY": "screenshot-secret-key-0123456789abcdef-0123",
            "DAGSTER_HOME": str(tmp / "dagster"),
            "BITBYBIT_FEEDS_FILE": str(tmp / "feeds.yaml"),
            "BITBYBIT_PUBLIC_URL": "http://127.0.0.1",
        }
    )
    for name in ("BITBYBIT_POSTGRES_DSN", "POSTGRES_HOST", "BITBYBIT_DBT_TARGET"):
        os.environ.pop(name, None)
    (tmp / "dagster").mkdir()
    (tmp / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (tmp / "feeds.yaml").write_text(FEEDS_YAML)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_cookie(app, cookie: str):
    """``app`` with ``cookie`` sent on every request (the logged-in session)."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"cookie"]
            scope = {**scope, "headers": headers + [(b"cookie", cookie.encode())]}
        await app(scope, receive, send)

    return wrapped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "desk")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="desk-shots-"))
    _env(tmp)
    build_warehouse(tmp / "warehouse.duckdb", first=date(2026, 7, 1), n_days=30, subscribers=60)

    from bitbybit_base.settings import secret_key
    from desk.app import DeskState, create_app
    from desk.auth import SESSION_COOKIE
    from desk.db import open_desk
    from resources.postgres import PostgresResource
    from tests.desk.conftest import login

    app = create_app(DeskState(postgres=PostgresResource(), server_key=secret_key(), secure_cookies=False))
    with open_desk(PostgresResource()) as db:
        db.users.add("editor", "correct horse battery", "editor", actor="screenshots")
    client = TestClient(app, base_url="http://127.0.0.1")
    assert login(client, "editor").status_code == 303
    cookie = f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(with_cookie(app, cookie), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    args.out.mkdir(parents=True, exist_ok=True)
    problems = []
    try:
        for name, (path, size) in PAGES.items():
            shot = args.out / f"{name}.png"
            proc = subprocess.run(
                [
                    args.chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    f"--window-size={size}",
                    "--virtual-time-budget=8000",
                    "--enable-logging=stderr",
                    "--v=0",
                    f"--screenshot={shot}",
                    f"http://127.0.0.1:{port}{path}",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            console = [
                line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Content Security" in line
            ]
            problems += [
                f"{name}: {line}" for line in console if "Content Security" in line or "chart" in line.lower()
            ]
            print(
                f"{shot} ({shot.stat().st_size} bytes)"
                if shot.exists()
                else f"{name}: no screenshot\n{proc.stderr}"
            )
            dom = subprocess.run(
                [
                    args.chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--window-size=1400,1000",
                    "--virtual-time-budget=8000",
                    "--dump-dom",
                    f"http://127.0.0.1:{port}{path}",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
            specs, drawn = dom.count('class="chart-spec"'), dom.count("chart-ready")
            print(f"  {drawn} of {specs} charts drawn")
            if drawn != specs or 'chart-error"' in dom:
                problems.append(f"{name}: {drawn} of {specs} charts drawn")
            for line in console:
                print("  console:", line[:300])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    for p in problems:
        print("PROBLEM", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
