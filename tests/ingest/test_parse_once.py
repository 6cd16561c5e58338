"""One parse per document: bronze keeps what it parsed, silver takes it instead of parsing again, and
the rows are the same either way."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from bitbybit_assets.ingest import parsing
from bitbybit_assets.ingest.bronze import raw_feed_rows
from bitbybit_assets.ingest.silver import new_entries
from bitbybit_base.settings import FeedConfig, IngestLimits
from resources.fetch_types import FetchResult

DAY = date(2026, 8, 3)
FEEDS_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "feeds" / DAY.isoformat()
NAMES = ("cacm", "anthropic-news", "anthropic-engineering-atom")


def _results() -> list[FetchResult]:
    at = datetime(2026, 8, 3, 23, 59, tzinfo=UTC)
    out = [FetchResult(feed_name=n, url=f"https://example.org/{n}", source="archive", fetch_status="ok",
                       fetched_at=at, content=(FEEDS_DIR / f"{n}.xml").read_bytes()) for n in NAMES]
    out.append(FetchResult(feed_name="broken", url="https://example.org/b", source="archive", fetch_status="ok",
                           fetched_at=at, content=b"<html><title>Just a moment</title></html>"))
    return out


def _feeds() -> dict[str, FeedConfig]:
    return {n: FeedConfig(name=n, url=f"https://example.org/{n}") for n in (*NAMES, "broken")}


@pytest.fixture(autouse=True)
def _empty_store():
    parsing.forget_parsed()
    yield
    parsing.forget_parsed()


def test_silver_takes_the_documents_bronze_parsed():
    limits = IngestLimits()
    raw = raw_feed_rows(DAY, _results(), limits)
    assert raw.filter(raw["feed_name"] == "broken")["fetch_status"].item() == "error"
    ok = raw.filter(raw["fetch_status"] == "ok")
    kept = {row["sha256"]: parsing._kept[(row["sha256"], limits.model_dump_json())][1]
            for row in ok.iter_rows(named=True)}
    assert len(kept) == len(NAMES)
    # silver gets the very objects bronze parsed, and they leave the store
    row = ok.row(0, named=True)
    assert parsing.take_parsed(row["content"], limits, row["sha256"]) is kept[row["sha256"]]
    assert parsing.take_parsed(row["content"], limits, row["sha256"]) is not kept[row["sha256"]]  # parsed again
    assert len(parsing._kept) == len(NAMES) - 1


def test_same_rows_with_and_without_the_kept_documents(monkeypatch):
    limits = IngestLimits()
    raw = raw_feed_rows(DAY, _results(), limits)
    with_kept = new_entries(DAY, raw, {}, _feeds(), limits)
    assert not parsing._kept and with_kept.height >= 30
    monkeypatch.setattr(parsing, "KEEP_BYTES", 0)  # nothing kept: silver parses every document itself
    raw_again = raw_feed_rows(DAY, _results(), limits)
    assert not parsing._kept
    assert_frame_equal(raw_again, raw)
    assert_frame_equal(new_entries(DAY, raw_again, {}, _feeds(), limits), with_kept)


def test_other_limits_parse_again():
    raw = raw_feed_rows(DAY, _results(), IngestLimits())
    small = IngestLimits(max_entries_per_feed=2)
    entries = new_entries(DAY, raw, {}, _feeds(), small)
    assert entries.group_by("feed_name").len()["len"].max() <= 2
    assert len(parsing._kept) == len(NAMES)  # the default-limits documents were not used


def test_a_document_whose_ids_were_all_seen_is_not_parsed_again(monkeypatch):
    from bitbybit_assets.ingest import silver

    limits = IngestLimits()
    monkeypatch.setattr(parsing, "KEEP_BYTES", 0)  # as a long backfill's later days: nothing kept
    raw = raw_feed_rows(DAY, _results(), limits)
    first = raw.filter(raw["fetch_status"] == "ok").row(0, named=True)
    assert first["entry_ids"]
    seen = {n: {"an older id"} for n in NAMES} | {first["feed_name"]: set(first["entry_ids"])}
    parsed = []
    take = parsing.take_parsed
    monkeypatch.setattr(silver, "take_parsed", lambda content, *a: parsed.append(content) or take(content, *a))
    ok = raw.filter(raw["fetch_status"] == "ok").iter_rows(named=True)
    new = [r["content"] for r in ok if not set(r["entry_ids"]) <= seen.get(r["feed_name"], set())]
    assert 0 < len(new) < len(NAMES)
    rows = new_entries(DAY, raw, seen, _feeds(), limits)
    assert parsed == new and first["content"] not in parsed
    assert first["feed_name"] not in set(rows["feed_name"]) and rows.height > 0
    # the rows of parsing every document (a raw frame without the recorded ids)
    assert_frame_equal(rows, new_entries(DAY, raw.drop("entry_ids"), seen, _feeds(), limits))
    assert len(parsed) == len(new) + len(NAMES)
