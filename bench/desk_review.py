"""Server time of the desk's day review page (``GET /days/{day}``) with many candidates.

    .venv/bin/python -m bench.desk_review                 # 600 candidates, 30 edits, local DuckDB
    .venv/bin/python -m bench.desk_review --candidates 2000 --requests 50
    .venv/bin/python -m bench.desk_review --postgres postgresql://postgres@127.0.0.1:5432/postgres

With ``--postgres`` (a server's admin DSN) the benchmark works in a database of its own, created
for the run and dropped afterwards.

Builds a temporary lakehouse (synthetic ``scored_articles`` with realistic titles, clusters, ads,
"also covered by" lists; the day's ``enhanced_articles`` and ``newsletters``), a desk user and
``--edits`` editorial overrides, logs in, and times the page in process (Starlette's TestClient: the
whole server path: session, authentication, lakehouse and database reads, overrides, rendering;
no network). Prints the median, p95 and max, the same after ``gc.freeze()``, and the parts (load,
render) measured separately.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

DAY = date(2026, 8, 5)
PASSWORD = "correct horse battery staple"
WORDS = (
    "model",
    "open",
    "agents",
    "GPU",
    "inference",
    "chips",
    "startup",
    "raises",
    "security",
    "flaw",
    "kernel",
    "benchmark",
    "dataset",
    "release",
    "paper",
    "training",
    "robots",
    "cloud",
    "compiler",
    "database",
    "privacy",
    "regulation",
    "quantum",
)
TYPES = ("news", "research", "tutorial", "opinion", "release", "funding", "other")


def synthetic_day(n: int, picks: int = 20, seed: int = 7) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cluster = f"c{i if rng.random() > 0.15 else max(0, i - rng.randint(1, 5))}"
        ad = rng.random() < 0.05
        rows.append(
            {
                "partition_date": DAY,
                "entry_key": f"{i:032x}",
                "article_id": f"{i:032x}"[::-1],
                "title": " ".join(
                    rng.choice(WORDS).capitalize() if j == 0 else rng.choice(WORDS)
                    for j in range(rng.randint(6, 16))
                )
                + (" <b>&</b>" if i % 50 == 0 else ""),
                "url": f"https://news{i % 40}.example.com/2026/08/05/story-{i}",
                "feed_name": f"feed-{i % 40}",
                "domain": f"news{i % 40}.example.com",
                "passed_filter": rng.random() > 0.1,
                "filter_reason": None,
                "is_advertisement": ad,
                "ad_score": rng.random() * (1 if ad else 0.4),
                "ad_reason": "title: job post" if ad else None,
                "quality_score": round(rng.uniform(2, 9), 2),
                "tech_relevance_score": round(rng.uniform(0, 10), 2),
                "content_type": rng.choice(TYPES),
                "cluster_id": cluster,
                "cluster_size": rng.randint(1, 4),
                "is_canonical": True,
                "canonical_entry_key": None,
                "previously_sent": False,
                "also_covered_by": [
                    {"feed_name": f"feed-{(i + k) % 40}", "title": "t", "url": "https://x.example/"}
                    for k in range(rng.randint(0, 3))
                ],
                "final_score": round(10 - i * 10 / n, 3),
                "rank": i + 1 if i < n * 0.6 else None,
                "selected": i < picks,
                "selection_reason": f"selected: rank {i + 1}"
                if i < picks
                else "not selected: rank below top_n",
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            "rank": pl.Int32,
            "ad_reason": pl.String,
            "filter_reason": pl.String,
            "canonical_entry_key": pl.String,
        },
    )


def published(scored: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    picks = scored.filter(pl.col("selected"))
    enhanced = picks.select("partition_date", "entry_key", "title", "rank").with_columns(
        summary=pl.lit("A two sentence summary of the story. It says what happened and why it matters."),
        tags=pl.lit(["ai", "chips", "open source"]),
        summary_source=pl.lit("offline"),
    )
    letter = pl.DataFrame(
        {
            "partition_date": [DAY],
            "subject_line": ["Chips, agents and a flaw"],
            "preheader": ["Today's reads"],
            "intro": ["Good morning."],
        }
    )
    return enhanced, letter


def setup(root: Path, n: int, edits: int, dsn: str | None) -> None:
    os.environ.update(
        {
            "BITBYBIT_ENV": "local",
            "BITBYBIT_DATA_DIR": str(root / "data"),
            "BITBYBIT_OUTPUT_DIR": str(root / "out"),
            "BITBYBIT_LAKEHOUSE_ROOT": str(root / "lakehouse"),
            "BITBYBIT_SECRET_KEY": "bench-" + "k" * 40,
            "BITBYBIT_PUBLIC_URL": "http://127.0.0.1:8000",
        }
    )
    if dsn:
        os.environ["BITBYBIT_POSTGRES_DSN"] = dsn
    else:
        os.environ.pop("BITBYBIT_POSTGRES_DSN", None)
        os.environ.pop("POSTGRES_HOST", None)
    from bitbybit_assets.editorial.store import Action, EditorialStore
    from desk.db import open_desk
    from resources.lakehouse import Lakehouse
    from resources.postgres import PostgresResource

    lake = Lakehouse()
    scored = synthetic_day(n)
    enhanced, letter = published(scored)
    lake.write_days("scored_articles", scored, DAY, DAY)
    lake.write_days("enhanced_articles", enhanced, DAY, DAY)
    lake.write_days("newsletters", letter, DAY, DAY)
    keys = scored["entry_key"].to_list()
    actions = [
        Action("pin", keys[25 + i])
        if i % 3 == 0
        else Action("drop", keys[i])
        if i % 3 == 1
        else Action("edit", keys[i], "title", f"Edited <i>title</i> {i}")
        for i in range(edits)
    ]
    with open_desk(PostgresResource()) as db:
        db.users.add("bench", PASSWORD, "editor", actor="bench")
        EditorialStore(db.store.w).save(DAY, actions, actor="bench", base_revision=0)


@contextmanager
def scratch_database(admin_dsn: str | None) -> Iterator[str | None]:
    """A throw-away database on the server of ``admin_dsn`` (its DSN), dropped afterwards."""
    if not admin_dsn:
        yield None
        return
    import psycopg2
    from psycopg2 import sql

    name = f"bitbybit_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg2.extensions.parse_dsn(admin_dsn)
    try:
        yield psycopg2.extensions.make_dsn(**{**params, "dbname": name})
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def login():
    from starlette.testclient import TestClient

    from desk.app import create_app

    client = TestClient(create_app(), follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post(
        "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token, "next": "/"}
    )
    assert r.status_code == 303, r.text
    return client


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   max {ms[-1]:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=600)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--postgres", help="a PostgreSQL DSN (default: the local DuckDB warehouse)")
    args = parser.parse_args()
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    with tempfile.TemporaryDirectory(prefix="bench-desk-") as tmp, scratch_database(args.postgres) as dsn:
        setup(Path(tmp), args.candidates, args.edits, dsn)
        client = login()
        url = f"/days/{DAY}"
        first = client.get(url)
        assert first.status_code == 200 and first.text.count('<tr id="row-') == args.candidates, (
            first.status_code
        )
        client.get(url + "?sort=quality&dir=desc")  # warm
        total = timed(lambda: client.get(url), args.requests)
        sorted_ = timed(lambda: client.get(url + "?sort=title&show=dropped"), max(5, args.requests // 3))
        # the loaded modules (Dagster, polars, pydantic) make each full GC pass cost 100-300 ms; a
        # server that freezes its start-up objects (gc.freeze()) keeps those passes out of requests
        gc.collect()
        gc.freeze()
        frozen = timed(lambda: client.get(url), args.requests)

        from starlette.requests import Request

        from desk.review import limits, load_review
        from desk.review_data import View

        app = client.app
        scope = {
            "type": "http",
            "app": app,
            "method": "GET",
            "path": url,
            "headers": [],
            "query_string": b"",
            "path_params": {"day": DAY.isoformat()},
            "session": {},
            "state": {},
        }
        request = Request(scope)
        load = timed(lambda: load_review(request, DAY), args.requests)
        review = load_review(request, DAY)
        template = app.state.templates.get_template("review/day.html")

        class _User:
            username, role, is_admin = "bench", "editor", False

        request.state.user = _User()
        ctx = {
            "request": request,
            "day": DAY,
            "review": review,
            "view": View(),
            "rows": View().apply(review.candidates),
            "limits": limits(),
            "title": f"Day {DAY}",
        }
        render = timed(lambda: template.render(ctx), args.requests)
    db = "PostgreSQL" if args.postgres else "DuckDB"
    print(
        f"day review, {args.candidates} candidates, {args.edits} edits, {db}, {len(first.content) / 1024:.0f} KB HTML "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    )
    print(f"  GET /days/D (whole request)   {summary(total)}")
    print(f"  GET sorted + filtered         {summary(sorted_)}")
    print(f"  GET /days/D after gc.freeze() {summary(frozen)}")
    print(f"  load (lakehouse, db, apply)   {summary(load)}")
    print(f"  render (template only)        {summary(render)}")


if __name__ == "__main__":
    main()
