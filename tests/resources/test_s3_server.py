"""Delta Lake on a real S3 API server (SeaweedFS ``weed mini``, tests/support/s3_server.py)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from datetime import date

import polars as pl
import pytest
from botocore.exceptions import ClientError
from deltalake import DeltaTable

from bitbybit_base import settings
from tests.support.s3_server import S3Server

pytestmark = pytest.mark.integration

WRITERS = 2
APPENDS_PER_WRITER = 10


def test_delta_round_trip(s3_test_server: S3Server):
    uri = s3_test_server.uri("round_trip", "t")
    opts = s3_test_server.storage_options()
    df = pl.DataFrame({"id": [1, 2, 3], "title": ["a", "b", "c"]})

    df.write_delta(uri, storage_options=opts)
    df.with_columns(pl.col("id") + 3).write_delta(uri, mode="append", storage_options=opts)

    back = pl.read_delta(uri, storage_options=opts).sort("id")
    assert back["id"].to_list() == [1, 2, 3, 4, 5, 6]
    assert back["title"].to_list() == ["a", "b", "c", "a", "b", "c"]
    assert DeltaTable(uri, storage_options=opts).version() == 1
    keys = [
        o["Key"] for o in s3_test_server.client().list_objects_v2(Bucket=s3_test_server.bucket)["Contents"]
    ]
    assert "round_trip/t/_delta_log/00000000000000000001.json" in keys


def test_partitioned_overwrite_of_one_day(s3_test_server: S3Server):
    uri = s3_test_server.uri("round_trip", "days")
    opts = s3_test_server.storage_options()
    days = [date(2026, 7, 18), date(2026, 7, 19), date(2026, 7, 20)]
    df = pl.DataFrame({"partition_date": [d for d in days for _ in range(2)], "n": list(range(6))})
    df.write_delta(uri, storage_options=opts, delta_write_options={"partition_by": ["partition_date"]})

    pl.DataFrame({"partition_date": [days[1]], "n": [99]}).write_delta(
        uri,
        mode="overwrite",
        storage_options=opts,
        delta_write_options={"predicate": "partition_date = '2026-07-19'"},
    )

    back = pl.read_delta(uri, storage_options=opts).sort("partition_date", "n")
    assert back["partition_date"].to_list() == [days[0], days[0], days[1], days[2], days[2]]
    assert back["n"].to_list() == [0, 1, 99, 4, 5]
    one_day = pl.scan_delta(uri, storage_options=opts).filter(pl.col("partition_date") == days[2]).collect()
    assert one_day["n"].to_list() == [4, 5]


def test_settings_storage_options_work_against_the_server(s3_test_server: S3Server, monkeypatch):
    """The AWS variables a deployment sets are enough for ``settings.storage_options``."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "BITBYBIT_S3_CONDITIONAL_PUT":
            monkeypatch.delenv(name)
    for name, value in s3_test_server.env().items():
        monkeypatch.setenv(name, value)
    root = s3_test_server.uri("lakehouse")
    opts = settings.storage_options(root)

    pl.DataFrame({"x": [1]}).write_delta(f"{root}/env_table", storage_options=opts)
    assert pl.read_delta(f"{root}/env_table", storage_options=opts)["x"].to_list() == [1]


def test_server_enforces_put_if_none_match(s3_test_server: S3Server):
    """What makes concurrent Delta commits safe: a second create of the same key is refused."""
    client = s3_test_server.client()
    key = "conditional/put-once"
    client.put_object(Bucket=s3_test_server.bucket, Key=key, Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as err:
        client.put_object(Bucket=s3_test_server.bucket, Key=key, Body=b"second", IfNoneMatch="*")
    assert err.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket=s3_test_server.bucket, Key=key)["Body"].read() == b"first"


def _append_many(uri: str, opts: dict[str, str], writer: int, errors: list[str]) -> None:
    for i in range(APPENDS_PER_WRITER):
        try:
            pl.DataFrame({"writer": [writer], "i": [i]}).write_delta(uri, mode="append", storage_options=opts)
        except Exception as exc:  # recorded, asserted empty below
            errors.append(f"writer {writer} append {i}: {exc!r}")


def _append_many_in_process(uri: str, opts: dict[str, str], writer: int, queue) -> None:
    errors: list[str] = []
    _append_many(uri, opts, writer, errors)
    queue.put(errors)


def _assert_no_lost_commit(uri: str, opts: dict[str, str], errors: list[str]) -> None:
    assert errors == []
    back = pl.read_delta(uri, storage_options=opts)
    assert back.height == 1 + WRITERS * APPENDS_PER_WRITER
    for writer in range(WRITERS):
        assert sorted(back.filter(pl.col("writer") == writer)["i"].to_list()) == list(
            range(APPENDS_PER_WRITER)
        )
    assert DeltaTable(uri, storage_options=opts).version() == WRITERS * APPENDS_PER_WRITER


def test_concurrent_appends_from_threads_lose_nothing(s3_test_server: S3Server):
    uri = s3_test_server.uri("concurrency", "threads")
    opts = s3_test_server.storage_options()
    pl.DataFrame({"writer": [-1], "i": [-1]}).write_delta(uri, storage_options=opts)
    errors: list[str] = []
    threads = [threading.Thread(target=_append_many, args=(uri, opts, w, errors)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_no_lost_commit(uri, opts, errors)


@pytest.mark.slow
def test_concurrent_appends_from_processes_lose_nothing(s3_test_server: S3Server):
    uri = s3_test_server.uri("concurrency", "processes")
    opts = s3_test_server.storage_options()
    pl.DataFrame({"writer": [-1], "i": [-1]}).write_delta(uri, storage_options=opts)
    ctx = multiprocessing.get_context("spawn")  # delta-rs' tokio runtime does not survive fork
    queue = ctx.Queue()
    procs = [ctx.Process(target=_append_many_in_process, args=(uri, opts, w, queue)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    errors = [e for _ in procs for e in queue.get(timeout=120)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    _assert_no_lost_commit(uri, opts, errors)
