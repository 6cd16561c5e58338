"""A small local warehouse for the Analytics and Feeds pages: the real staging tables loaded from the
warehouse sample frames over several days, a send ledger with unsubscribes, and the dbt models built
on it by a real ``dbt run`` (target ``local``).

Feeds: ``alpha-ai`` healthy; ``beta-dev`` failing its last :data:`BETA_FAILING_DAYS` days (HTTP
503); ``gamma-broken`` failing every day.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from bitbybit_assets.warehouse.dbt_assets import dbt_env, dbt_resource
from bitbybit_assets.warehouse.loads import RunInfo, load_days
from bitbybit_assets.warehouse.migrate import migrate
from resources.warehouse_db import DuckDBWarehouse, connect_duckdb
from tests.warehouse.sample import concat_days, day_frames

FIRST = date(2026, 7, 10)
DAYS = 10
LAST = FIRST + timedelta(days=DAYS - 1)
BETA_FAILING_DAYS = 2
SUBSCRIBERS = 20
SENT_FROM = FIRST + timedelta(days=2)  # the first day that went out
RUN = RunInfo("0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b")


def n_per_feed(i: int) -> int:
    return 5 + i % 4


def _drop_feed(frames: dict[str, pl.DataFrame], feed: str) -> dict[str, pl.DataFrame]:
    """The day's frames with ``feed``'s fetch failed (HTTP 503) and its articles gone."""
    keys = frames["filtered_articles"].filter(pl.col("feed_name") == feed)["entry_key"].to_list()
    raw = frames["raw_feeds"].with_columns(
        pl.when(pl.col("feed_name") == feed)
        .then(pl.lit("error"))
        .otherwise(pl.col("fetch_status"))
        .alias("fetch_status"),
        pl.when(pl.col("feed_name") == feed)
        .then(pl.lit(503))
        .otherwise(pl.col("http_status"))
        .cast(frames["raw_feeds"].schema["http_status"])
        .alias("http_status"),
        pl.when(pl.col("feed_name") == feed)
        .then(pl.lit("HTTP 503 Service Unavailable"))
        .otherwise(pl.col("error"))
        .alias("error"),
    )
    out = {**frames, "raw_feeds": raw}
    for name in ("filtered_articles", "scored_articles", "enhanced_articles"):
        out[name] = frames[name].filter(~pl.col("entry_key").is_in(keys))
    ids = out["enhanced_articles"]["entry_key"].to_list()
    out["newsletters"] = frames["newsletters"].with_columns(
        pl.lit(ids).alias("article_ids"),
        pl.lit(len(ids)).cast(frames["newsletters"].schema["article_count"]).alias("article_count"),
    )
    return out


def frames_for(days: list[date]) -> dict[str, pl.DataFrame]:
    per_day = []
    for i, day in enumerate(days):
        frames = day_frames(day, n_per_feed(i))
        if day > days[-1] - timedelta(days=BETA_FAILING_DAYS):
            frames = _drop_feed(frames, "beta-dev")
        per_day.append(frames)
    return concat_days(*per_day)


def add_deliveries(w: DuckDBWarehouse, days: list[date], subscribers: int = SUBSCRIBERS) -> None:
    """From the third day (:data:`SENT_FROM`): one send per day to the active readers (one failure
    every third day); one reader unsubscribes between each two sends."""
    subs = [uuid.UUID(int=i + 1) for i in range(subscribers)]
    gone: list[uuid.UUID] = []
    for i, day in enumerate(days[2:]):
        sent_at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(days=1)
        if 0 < i < subscribers:  # left between the previous send and this one
            leaver = subs[subscribers - i]
            gone.append(leaver)
            w.execute(
                "INSERT INTO subscriber_events VALUES (%s, %s, 'unsubscribed', 'active', 'unsubscribed', "
                "'reader', NULL, %s)",
                [str(uuid.uuid4()), str(leaver), sent_at - timedelta(hours=12)],
            )
        for j, sub in enumerate(subs):
            status = "suppressed" if sub in gone else ("failed" if j == 0 and i % 3 == 0 else "sent")
            w.execute(
                "INSERT INTO send_ledger VALUES "
                "(%s, 1, %s, %s, %s, 1, NULL, NULL, NULL, NULL, NULL, %s, %s, %s)",
                [
                    day,
                    str(sub),
                    f"r{j}@example.com",
                    status,
                    sent_at if status == "sent" else None,
                    sent_at,
                    sent_at,
                ],
            )


def run_dbt(target_path: Path) -> None:
    with dbt_env("local"):
        invocation = dbt_resource().cli(
            ["run", "--target", "local"], target_path=target_path, raise_on_error=False
        )
    invocation.wait()
    assert invocation.is_successful(), "dbt run failed"


@contextmanager
def duckdb_path_env(path: Path):
    old = os.environ.get("BITBYBIT_DUCKDB_PATH")
    os.environ["BITBYBIT_DUCKDB_PATH"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("BITBYBIT_DUCKDB_PATH", None)
        else:
            os.environ["BITBYBIT_DUCKDB_PATH"] = old


def build_warehouse(
    path: Path,
    *,
    models: bool = True,
    first: date = FIRST,
    n_days: int = DAYS,
    subscribers: int = SUBSCRIBERS,
) -> Path:
    """The local warehouse at ``path``: staging tables for ``n_days`` days from ``first``,
    deliveries, and (``models``) the dbt models."""
    days = [first + timedelta(days=i) for i in range(n_days)]
    w = connect_duckdb(str(path))
    try:
        migrate(w)
        load_days(w, frames_for(days), days, run=RUN)
        add_deliveries(w, days, subscribers)
    finally:
        w.close()
    if models:
        with duckdb_path_env(path):
            run_dbt(path.parent / "dbt_target")
    return path
