"""Helpers for the hardening tests: the hostile corpus, the parser → filter → enhance → render →
export path on plain frames (no Dagster), and ``psql`` replays under both
``standard_conforming_strings`` settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import psycopg2
import pytest

from bitbybit_assets.enhance.enhance import EnhancementSettings, enhance_articles
from bitbybit_assets.ingest.bronze import raw_feed_rows
from bitbybit_assets.ingest.content_filter import apply_content_filter
from bitbybit_assets.ingest.silver import new_entries
from bitbybit_assets.publish.newsletter import DayResult, build_day
from bitbybit_assets.publish.render import NewsletterSettings
from bitbybit_assets.warehouse.export import render_sql_inserts
from bitbybit_assets.warehouse.loads import RunInfo, build_day_tables
from bitbybit_base.settings import ContentFilterSettings, FeedConfig, IngestLimits
from resources.fetch_types import FetchResult

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hostile"
DAY = date(2026, 8, 5)
RUN = RunInfo("0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b", started_at=datetime(2026, 8, 6, 6, 30, tzinfo=UTC))
FEED = "hostile"
# what the shared sanitiser removes: nothing of it may reach a stored or rendered text
UNSTORABLE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
UNSAFE = re.compile(
    r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]"
)


def strings() -> dict[str, list[str]]:
    """``strings.json`` with ``{"repeat": s, "times": n}`` entries expanded."""
    raw = json.loads((FIXTURES / "strings.json").read_text(encoding="utf-8"))
    return {
        kind: [v["repeat"] * v["times"] if isinstance(v, dict) else v for v in values]
        for kind, values in raw.items()
    }


def all_strings() -> list[str]:
    return [s for values in strings().values() for s in values]


def lines(name: str) -> list[str]:
    """Lines of a corpus text file with ``\\uXXXX`` escapes decoded (the files are ASCII)."""
    text = (FIXTURES / name).read_text(encoding="ascii")
    return [line.encode("ascii").decode("unicode_escape") for line in text.split("\n")[:-1]]


def is_clean(text: str | None) -> bool:
    """Shown or plain text: nothing the sanitiser removes."""
    return text is None or not UNSAFE.search(text)


def is_storable(text: str | None) -> bool:
    """Raw text kept as sent (feed HTML): encodable, no NUL or control characters."""
    return text is None or not UNSTORABLE.search(text)


# ---------------------------------------------------------------- the pipeline path, in memory


def filtered_from_feed(
    content: bytes, *, day: date = DAY, limits: IngestLimits | None = None
) -> pl.DataFrame:
    """``filtered_articles`` rows of one feed document (bronze → silver → content filter)."""
    result = FetchResult(
        feed_name=FEED, url="https://example.org/feed.xml", source="archive", fetch_status="ok",
        fetched_at=datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC), content=content,
    )  # fmt: skip
    raw = raw_feed_rows(day, [result], limits)
    entries = new_entries(
        day, raw, {}, {FEED: FeedConfig(name=FEED, url="https://example.org/feed.xml")}, limits
    )
    return apply_content_filter(entries, day, ContentFilterSettings(allowed_languages=[]))


def scored_from(filtered: pl.DataFrame) -> pl.DataFrame:
    """Every passing row picked, in feed order (what ``scored_articles`` hands to enhancement)."""
    picked = filtered.filter(pl.col("passed_filter")) if filtered.height else filtered
    n = picked.height
    return picked.with_columns(
        pl.Series("rank", list(range(1, n + 1)), dtype=pl.Int32),
        pl.lit(True).alias("selected"),
        pl.lit("news").alias("content_type"),
        pl.lit(None, dtype=pl.List(pl.String)).alias("topics"),
        pl.lit(7.0).alias("quality_score"),
        pl.lit(8.0).alias("tech_relevance_score"),
        pl.Series("cluster_id", [f"c{i}" for i in range(n)], dtype=pl.String),
        pl.lit(False).alias("is_advertisement"),
    )


def enhance_offline(scored: pl.DataFrame) -> pl.DataFrame:
    return enhance_articles(scored, settings=EnhancementSettings(use_embeddings=False))


def newsletter(
    enhanced_rows: list[dict], *, min_articles: int = 5, day: date = DAY, session=None
) -> DayResult:
    return build_day(day, enhanced_rows, settings=NewsletterSettings(min_articles=min_articles),
                     session=session, write_files=False)  # fmt: skip


def export_sql(day: date, frames: dict[str, pl.DataFrame]) -> tuple[str, dict[str, pl.DataFrame]]:
    """The ``.sql`` export of ``day`` from upstream frames, and the seed tables it holds."""
    tables = build_day_tables(frames, day, run=RUN)
    runs = [{"id": RUN.pipeline_run_id, "dagster_run_id": RUN.dagster_run_id, "started_at": RUN.started_at,
             "status": "running"}]  # fmt: skip
    sql = render_sql_inserts(
        day, {"articles": tables["articles"], "newsletters": tables["newsletters"]}, pipeline_runs=runs
    )
    return sql, tables


# ---------------------------------------------------------------- psql


def psql_path() -> str:
    path = shutil.which("psql")
    if not path:
        pytest.skip("psql is not installed")
    return path


def psql_replay(dsn: str, sql: str, *, conforming: bool, tmp: Path) -> subprocess.CompletedProcess:
    """Run ``sql`` as a file through ``psql`` with ``standard_conforming_strings`` on or off for the
    session (as a server configured that way would), stopping at the first error."""
    path = tmp / f"replay_{'on' if conforming else 'off'}.sql"
    path.write_text(sql, encoding="utf-8")
    env = {
        **os.environ,
        "PGOPTIONS": f"-c standard_conforming_strings={'on' if conforming else 'off'} -c escape_string_warning=off",
        "PGCLIENTENCODING": "UTF8",
    }
    return subprocess.run(
        [psql_path(), "--no-psqlrc", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def connect(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn
