"""Two production-configured writers committing to one Delta table on S3 lose no commit.

Each writer is its own process configured only through the environment a deployment sets
(``BITBYBIT_ENV=prod``, ``BITBYBIT_LAKEHOUSE_ROOT=s3://…``, the AWS variables), so the storage
options are exactly ``settings.storage_options()``: delta-rs commits each version with a conditional
``PUT`` (``If-None-Match: *``), the loser of a race re-reads the log and retries at the next version.
Both write through ``Lakehouse.write_days``: the IO manager's day-replacing overwrite, as two runs
(say the daily ingest and a backfill) would, each owning different days.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import date, timedelta

import polars as pl
import pytest

from bitbybit_base import settings
from resources.lakehouse import Lakehouse
from tests.support.s3_server import S3Server, s3_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRITERS = 2
COMMITS_PER_WRITER = 10
FIRST_DAY = date(2026, 8, 1)
TABLE = "concurrent_days"


@pytest.fixture(scope="module")
def s3() -> S3Server:
    with s3_server() as server:
        yield server


def _prod_env(s3: S3Server) -> dict[str, str]:
    return {**s3.env(), "BITBYBIT_ENV": "prod", "BITBYBIT_LAKEHOUSE_ROOT": s3.uri("lakehouse")}


def _day(writer: int, i: int) -> date:
    return FIRST_DAY + timedelta(days=writer * COMMITS_PER_WRITER + i)


def _writer(env: dict[str, str], writer: int, queue) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_") or n.startswith("BITBYBIT_")]:
        del os.environ[name]
    os.environ.update(env)
    lakehouse = Lakehouse()
    errors = []
    for i in range(COMMITS_PER_WRITER):
        day = _day(writer, i)
        frame = pl.DataFrame({"partition_date": [day], "writer": [writer], "i": [i]})
        try:
            lakehouse.write_days(TABLE, frame, day, day)
        except Exception as exc:  # reported to the parent, asserted empty there
            errors.append(f"writer {writer} commit {i}: {exc!r}")
    queue.put((writer, errors, settings.storage_options()))


def test_two_processes_commit_twenty_times_without_losing_one(s3: S3Server, monkeypatch):
    env = _prod_env(s3)
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "BITBYBIT_S3_CONDITIONAL_PUT":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seed_day = FIRST_DAY - timedelta(days=1)
    Lakehouse().write_days(TABLE, pl.DataFrame({"partition_date": [seed_day], "writer": [-1], "i": [-1]}),
                           seed_day, seed_day)

    ctx = multiprocessing.get_context("spawn")  # delta-rs' tokio runtime does not survive fork
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(env, w, queue)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    assert [e for _, errors, _ in results for e in errors] == []
    for _, _, opts in results:  # what the writers ran with: the production options
        assert opts["conditional_put"] == "etag"
        assert "AWS_S3_LOCKING_PROVIDER" not in opts

    lakehouse = Lakehouse()
    assert lakehouse.delta_table(TABLE).version() == WRITERS * COMMITS_PER_WRITER
    back = lakehouse.read_days(TABLE, seed_day, _day(WRITERS - 1, COMMITS_PER_WRITER - 1))
    assert back.height == 1 + WRITERS * COMMITS_PER_WRITER
    for writer in range(WRITERS):
        mine = back.filter(pl.col("writer") == writer).sort("partition_date")
        assert mine["partition_date"].to_list() == [_day(writer, i) for i in range(COMMITS_PER_WRITER)]
        assert mine["i"].to_list() == list(range(COMMITS_PER_WRITER))
    keys = {
        o["Key"]
        for page in s3.client().get_paginator("list_objects_v2").paginate(
            Bucket=s3.bucket, Prefix=f"lakehouse/{TABLE}/_delta_log/"
        )
        for o in page.get("Contents", [])
    }
    commits = sorted(k for k in keys if k.endswith(".json") and "/_delta_log/0" in k)
    assert len(commits) == 1 + WRITERS * COMMITS_PER_WRITER  # versions 0..20, none overwritten
