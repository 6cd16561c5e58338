"""raw_feeds → feed_entries → filtered_articles on Delta: partition isolation, backfills, bad input."""

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from bitbybit_assets.ingest.assets import feed_entries, filtered_articles, raw_feeds
from resources.lakehouse import Lakehouse, LakehouseError
from tests.integration.helpers import materialize_days

INGEST = [raw_feeds, feed_entries, filtered_articles]
TABLES = ("raw_feeds", "feed_entries", "filtered_articles")
D = [date(2026, 8, 3), date(2026, 8, 4), date(2026, 8, 5), date(2026, 8, 6)]


def partition_files(table_uri: str, day: date) -> dict[str, bytes]:
    dt = DeltaTable(table_uri)
    files = dt.file_uris(partition_filters=[("partition_date", "=", day.isoformat())])
    return {Path(f).name: Path(f).read_bytes() for f in files}


def counts(lh: Lakehouse, table: str) -> dict[date, int]:
    df = lh.read_days(table, D[0], D[-1])
    return dict(df.group_by("partition_date").len().iter_rows())


def test_day_by_day_then_rematerialise_middle_day(isolated_env):
    lh = Lakehouse()
    for d in D:
        materialize_days(INGEST, d.isoformat())
    before = {t: counts(lh, t) for t in TABLES}
    assert before["filtered_articles"][D[2]] > 0
    untouched = {(t, d): partition_files(lh.table_uri(t), d) for t in TABLES for d in (D[1], D[3])}

    materialize_days(INGEST, D[2].isoformat())

    assert {t: counts(lh, t) for t in TABLES} == before  # exact row counts, nothing duplicated
    for (t, d), files in untouched.items():
        assert partition_files(lh.table_uri(t), d) == files, f"{t} {d} changed"
    raw = lh.read_days("raw_feeds", D[2], D[2])
    files = {p.stem for p in (Path(__file__).resolve().parents[2] / "sample_data/feeds" / D[2].isoformat()).glob("*.xml")}
    ok = raw.filter(pl.col("fetch_status") == "ok")
    assert raw.height == 35 and set(ok["feed_name"]) == files
    assert set(raw["fetch_status"]) == {"ok", "missing"}  # feeds added to the list after that day
    assert ok["content"].null_count() == 0 and (ok["size_bytes"] == ok["content"].bin.size()).all()


def test_single_run_backfill_equals_day_by_day(isolated_env, tmp_path, monkeypatch):
    materialize_days(INGEST, D[0].isoformat(), D[-1].isoformat())  # one run over four days
    lh_range = Lakehouse()
    monkeypatch.setenv("BITBYBIT_LAKEHOUSE_ROOT", str(tmp_path / "lakehouse2"))
    for d in D:
        materialize_days(INGEST, d.isoformat())
    lh_days = Lakehouse()
    for table in TABLES:
        a = lh_range.read_days(table, D[0], D[-1]).drop("content", strict=False)
        b = lh_days.read_days(table, D[0], D[-1]).drop("content", strict=False)
        key = ["partition_date", "feed_name"] + (["entry_key"] if table != "raw_feeds" else [])
        assert a.height == b.height > 0
        assert a.sort(key).equals(b.select(a.columns).sort(key)), table


def test_reads_prune_to_the_requested_day(isolated_env):
    materialize_days(INGEST, D[0].isoformat(), D[1].isoformat())
    lh = Lakehouse()
    plan = lh.scan_days("feed_entries", D[1], D[1]).explain()
    wanted = set(DeltaTable(lh.table_uri("feed_entries")).file_uris(
        partition_filters=[("partition_date", "=", D[1].isoformat())]))
    other = set(DeltaTable(lh.table_uri("feed_entries")).file_uris(
        partition_filters=[("partition_date", "=", D[0].isoformat())]))
    assert wanted and all(Path(f).name in plan for f in wanted)
    assert not any(Path(f).name in plan for f in other)


def test_new_column_later_keeps_old_partitions_readable(isolated_env):
    lh = Lakehouse()
    old = pl.DataFrame({"partition_date": [D[0]], "x": [1]})
    lh.write_days("t", old, D[0], D[0])
    lh.write_days("t", pl.DataFrame({"partition_date": [D[1]], "x": [2], "y": ["new"]}), D[1], D[1])
    both = lh.read_days("t", D[0], D[1]).sort("partition_date")
    assert both["y"].to_list() == [None, "new"]
    lh.write_days("t", old.with_columns(x=pl.lit(5)), D[0], D[0])  # rewrite an old day without the column
    assert lh.read_days("t", D[0], D[1]).sort("partition_date")["x"].to_list() == [5, 2]


def test_write_contract_enforced(isolated_env):
    lh = Lakehouse()
    with pytest.raises(LakehouseError, match="outside"):
        lh.write_days("t", pl.DataFrame({"partition_date": [D[1]], "x": [1]}), D[0], D[0])
    with pytest.raises(LakehouseError, match="pl.Date"):
        lh.write_days("t", pl.DataFrame({"partition_date": ["2026-08-04"], "x": [1]}), D[0], D[0])
    lh.write_days("t", pl.DataFrame({"partition_date": [D[0]], "x": [1]}), D[0], D[0])
    lh.write_days("t", pl.DataFrame(schema={"partition_date": pl.Date, "x": pl.Int64}), D[0], D[0])
    assert lh.read_days("t", D[0], D[0]).height == 0  # an empty frame clears the day


def _archive_with_broken_feeds(src: Path, dst: Path, corpus: Path | None) -> None:
    for d in D[:3]:
        shutil.copytree(src / d.isoformat(), dst / d.isoformat())
    day = dst / D[3].isoformat()
    shutil.copytree(src / D[3].isoformat(), day)
    snaps = sorted((corpus / "_error_snapshots").glob("*.xml")) if corpus else []
    challenge = next((p for p in snaps if "techcrunch" in p.name), None)
    (day / "techcrunch.xml").write_bytes(
        challenge.read_bytes() if challenge else b"<!DOCTYPE html><html><title>Just a moment...</title></html>")
    truncated = (day / "cloudflare-blog.xml").read_bytes()
    (day / "cloudflare-blog.xml").write_bytes(truncated[: len(truncated) // 2])
    (day / "cacm.xml").write_bytes('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                                   '<title>Café</title><item><title>é</title><link>https://x.y/1</link></item>'
                                   '</channel></rss>'.encode("latin-1"))
    (day / "digg-tech.xml").write_bytes(b"")


def test_broken_feeds_become_error_rows_and_the_day_still_succeeds(isolated_env, monkeypatch, sample_archive):
    corpus = Path(__file__).resolve().parents[3] / "shared" / "data" / "feeds"
    archive = isolated_env / "archive"
    _archive_with_broken_feeds(sample_archive, archive, corpus if corpus.is_dir() else None)
    monkeypatch.setenv("BITBYBIT_FEED_ARCHIVE", str(archive))
    materialize_days(INGEST, D[0].isoformat(), D[2].isoformat())
    lh = Lakehouse()
    earlier = {t: lh.read_days(t, D[0], D[2]).drop("content", strict=False) for t in TABLES}

    result = materialize_days(INGEST, D[3].isoformat())
    assert result.success
    raw = lh.read_days("raw_feeds", D[3], D[3])
    errors = {r["feed_name"]: r["error"] for r in raw.filter(pl.col("fetch_status") == "error").iter_rows(named=True)}
    assert set(errors) == {"techcrunch", "cloudflare-blog", "cacm", "digg-tech"}
    assert "HTML page" in errors["techcrunch"] and "malformed" in errors["cloudflare-blog"]
    assert "encoding" in errors["cacm"] and "empty" in errors["digg-tech"]
    assert raw.filter(pl.col("feed_name") == "techcrunch")["content"].item()  # bytes kept for re-parsing
    entries = lh.read_days("feed_entries", D[3], D[3])
    assert entries.height > 0 and not set(entries["feed_name"]) & set(errors)
    for t in TABLES:  # nothing stored for earlier days changed
        assert lh.read_days(t, D[0], D[2]).drop("content", strict=False).equals(earlier[t])


def test_missing_history_and_missing_days_fail_clearly(isolated_env):
    with pytest.raises(dg.Failure, match="materialise them first"):
        materialize_days(INGEST, D[2].isoformat(), selection=INGEST)  # 08-04/05 raw_feeds not there yet
    with pytest.raises(Exception, match="no raw feed data for 2026-07-20"):
        materialize_days([raw_feeds], "2026-07-20")
