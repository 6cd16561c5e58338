"""Loads: two days, a re-load of one (exact counts, nothing duplicated), failures keep the previous copy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import polars as pl
import pytest

from bitbybit_assets.warehouse.loads import (
    Thresholds,
    WarehouseLoadError,
    build_day_tables,
    entry_uuid,
    load_day,
    load_days,
    table_counts,
)
from bitbybit_assets.warehouse.migrate import migrate
from bitbybit_assets.warehouse.pipeline_runs import RunInfo, article_counts, record_pipeline_run, run_uuid
from bitbybit_assets.warehouse.tables import STAGING_TABLES
from resources.warehouse_db import DuckDBWarehouse, PostgresWarehouse, connect_duckdb
from tests.warehouse.sample import DAY1, DAY2, TRANSLATION, concat_days, day_frames, with_translated_pick

pytestmark = pytest.mark.integration

RUN1 = RunInfo("0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b", started_at=datetime(2026, 7, 19, 6, 30, tzinfo=UTC))
RUN2 = RunInfo("a1b2c3d4-0000-4000-8000-000000000002", started_at=datetime(2026, 7, 20, 6, 30, tzinfo=UTC))

# Two working feeds x 6 entries + one failing feed: per day.
EXPECTED = {
    "stg_loads": 1,
    "stg_feed_fetches": 3,
    "stg_articles": 12,
    "stg_llm_calls": 3,
    "stg_newsletters": 1,
    "articles": 4,
    "newsletters": 1,
}


# ---------------------------------------------------------------- pure builders


def test_stg_articles_funnel_flags():
    t = build_day_tables(day_frames(DAY1), DAY1, run=RUN1, thresholds=Thresholds(3.0, 4.0))
    a = t["stg_articles"].filter(pl.col("feed_name") == "alpha-ai").sort("title")
    flags = a.select(
        "passed_filter", "filter_reason", "scored", "passed_ad_detection", "passed_quality_scoring",
        "is_duplicate", "selected", "in_newsletter",
    ).rows()  # fmt: skip
    assert flags == [
        (False, "too_short", False, False, False, False, False, False),  # entry 0
        (False, "duplicate_url", False, False, False, True, False, False),  # entry 1
        (True, None, True, False, False, False, False, False),  # entry 2: ad
        (True, None, True, True, True, False, True, True),  # entry 3: pick
        (True, None, True, True, True, False, True, True),  # entry 4: pick
        (True, None, True, True, False, False, False, False),  # entry 5: relevance 2.0 < 4.0
    ]
    assert t["stg_articles"]["partition_date"].unique().to_list() == [DAY1]


def test_picked_story_representative_counts_as_passing_quality():
    """Selection judges relevance per story: a picked article below the threshold on its own still
    passed quality scoring, so the per-feed funnel never increases (the dbt funnel test)."""
    frames = day_frames(DAY1)
    scored = frames["scored_articles"]
    low = scored.filter(pl.col("selected"))["entry_key"][0]
    frames["scored_articles"] = scored.with_columns(
        pl.when(pl.col("entry_key") == low)
        .then(1.5)
        .otherwise(pl.col("tech_relevance_score"))
        .alias("tech_relevance_score")
    )
    a = build_day_tables(frames, DAY1, run=RUN1, thresholds=Thresholds(3.0, 4.0))["stg_articles"]
    row = a.filter(pl.col("entry_key") == low).row(0, named=True)
    assert row["selected"] and row["passed_quality_scoring"]
    per_feed = a.group_by("feed_name").agg(pl.col("passed_quality_scoring").sum(), pl.col("selected").sum())
    assert (per_feed["passed_quality_scoring"] >= per_feed["selected"]).all()


def test_seed_rows_use_deterministic_uuids():
    frames = day_frames(DAY1)
    t = build_day_tables(frames, DAY1, run=RUN1)
    keys = frames["enhanced_articles"]["entry_key"].to_list()
    assert t["articles"]["id"].to_list() == [str(uuid.UUID(hex=k)) for k in keys]
    assert t["newsletters"]["article_ids"].to_list() == [[entry_uuid(k) for k in keys]]
    assert t["newsletters"]["id"].to_list() == frames["newsletters"]["newsletter_id"].to_list()
    assert t["articles"]["pipeline_run_id"].unique().to_list() == [RUN1.dagster_run_id]
    assert run_uuid("not-a-uuid") == run_uuid("not-a-uuid") != run_uuid("other")


def test_missing_upstream_tables_give_empty_days():
    t = build_day_tables({"raw_feeds": pl.DataFrame()}, DAY1)
    assert {k: v.height for k, v in t.items()} == {k: 1 if k == "stg_loads" else 0 for k in t}


def test_two_newsletters_for_one_day_are_refused():
    frames = day_frames(DAY1)
    frames["newsletters"] = pl.concat([frames["newsletters"], frames["newsletters"]])
    with pytest.raises(WarehouseLoadError, match="newsletters"):
        build_day_tables(frames, DAY1)


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def migrated(pg_database):
    import psycopg2

    conn = psycopg2.connect(pg_database)
    migrate(conn)
    conn.close()
    return pg_database


def _all_counts(w, day):
    return table_counts(w, day)


def test_load_two_days_then_reload_one(migrated, pg: PostgresWarehouse):
    frames = concat_days(day_frames(DAY1), day_frames(DAY2))
    out = load_days(pg, frames, [DAY1, DAY2], run=RUN1)
    assert out == {DAY1: EXPECTED, DAY2: EXPECTED}
    assert _all_counts(pg, DAY1) == EXPECTED and _all_counts(pg, DAY2) == EXPECTED
    day1_ids = {r["id"] for r in pg.query("SELECT id::text FROM articles WHERE partition_date = %s", [DAY1])}

    # re-load day 1 (same content, another run) and again with fewer entries: exactly one copy
    load_days(pg, frames, [DAY1], run=RUN2)
    assert _all_counts(pg, DAY1) == EXPECTED
    assert {
        r["id"] for r in pg.query("SELECT id::text FROM articles WHERE partition_date = %s", [DAY1])
    } == day1_ids
    smaller = day_frames(DAY1, n_per_feed=4, variant="b")
    load_days(pg, smaller, [DAY1], run=RUN2)
    assert _all_counts(pg, DAY1) == {**EXPECTED, "stg_articles": 8, "articles": 2}  # one pick per feed
    assert _all_counts(pg, DAY2) == EXPECTED  # the other day is untouched

    # totals across both days: nothing duplicated
    assert pg.scalar("SELECT count(*) FROM stg_articles") == 20
    assert pg.scalar("SELECT count(*) FROM articles") == 6
    assert pg.scalar("SELECT count(*) FROM newsletters") == 2
    assert pg.scalar("SELECT count(*) FROM pipeline_runs") == 2
    assert pg.scalar("SELECT count(DISTINCT pipeline_run_id) FROM articles") == 2
    # newsletter article_ids point at the day's articles, in order
    nl = pg.query("SELECT article_ids::text[] AS ids FROM newsletters WHERE partition_date = %s", [DAY1])[0]
    ranked = pg.query(
        "SELECT id::text FROM articles WHERE partition_date = %s ORDER BY newsletter_rank", [DAY1]
    )
    assert nl["ids"] == [r["id"] for r in ranked]
    assert article_counts(pg, DAY1, DAY2) == {"total_articles_input": 20, "articles_output": 6}


def test_translation_provenance_round_trips_through_postgres(migrated, pg: PostgresWarehouse):
    frames, translated = with_translated_pick(day_frames(DAY1))
    assert load_days(pg, frames, [DAY1], run=RUN1)[DAY1]["articles"] == 4
    rows = pg.query(
        "SELECT entry_key, title, original_title, original_language, translated_by FROM articles "
        "WHERE partition_date = %s ORDER BY newsletter_rank",
        [DAY1],
    )
    by_key = {r["entry_key"]: r for r in rows}
    assert len(by_key) == 4
    got = by_key.pop(translated)
    assert got["title"] == "LLM agents are everywhere"
    assert {c: got[c] for c in TRANSLATION} == TRANSLATION
    for r in by_key.values():  # untranslated picks: NULL provenance
        assert (r["original_title"], r["original_language"], r["translated_by"]) == (None, None, None)


def test_failure_mid_load_keeps_previous_copy(migrated, pg: PostgresWarehouse):
    load_days(pg, day_frames(DAY1), [DAY1], run=RUN1)
    before = _all_counts(pg, DAY1)
    titles = {r["title"] for r in pg.query("SELECT title FROM articles WHERE partition_date = %s", [DAY1])}

    # the staging tables load first, then a NOT NULL violation in articles
    bad = build_day_tables(day_frames(DAY1, variant="c"), DAY1, run=RUN2)
    bad["articles"] = bad["articles"].with_columns(pl.lit(None, dtype=pl.String).alias("title"))
    with pytest.raises(WarehouseLoadError, match="previous copy kept.*title"):
        load_day(pg, DAY1, bad, run=RUN2)
    assert _all_counts(pg, DAY1) == before
    assert {
        r["title"] for r in pg.query("SELECT title FROM articles WHERE partition_date = %s", [DAY1])
    } == titles
    keys = {
        r["entry_key"]
        for r in pg.query("SELECT entry_key FROM stg_articles WHERE partition_date = %s", [DAY1])
    }
    assert keys == set(day_frames(DAY1)["filtered_articles"]["entry_key"])

    # an injected crash between two tables: same outcome
    good = build_day_tables(day_frames(DAY1, variant="c"), DAY1, run=RUN2)
    calls = {"n": 0}
    real = PostgresWarehouse.insert_frame

    def crash_on_third(self, table, df):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("server closed the connection unexpectedly")
        return real(self, table, df)

    PostgresWarehouse.insert_frame = crash_on_third
    try:
        with pytest.raises(WarehouseLoadError, match="server closed"):
            load_day(pg, DAY1, good, run=RUN2)
    finally:
        PostgresWarehouse.insert_frame = real
    assert calls["n"] == 3
    assert _all_counts(pg, DAY1) == before
    assert {
        r["title"] for r in pg.query("SELECT title FROM articles WHERE partition_date = %s", [DAY1])
    } == titles

    # after recovery the re-run completes with nothing duplicated or lost
    load_day(pg, DAY1, good, run=RUN2)
    assert _all_counts(pg, DAY1) == EXPECTED
    assert {
        r["title"] for r in pg.query("SELECT title FROM articles WHERE partition_date = %s", [DAY1])
    } == set(good["articles"]["title"])


def test_rows_of_another_day_are_refused(migrated, pg: PostgresWarehouse):
    t = build_day_tables(day_frames(DAY2), DAY2)
    with pytest.raises(WarehouseLoadError, match="not for 2026-07-18"):
        load_day(pg, DAY1, t)


def test_record_pipeline_run_upserts_by_dagster_run_id(migrated, pg: PostgresWarehouse):
    run_id = "5e3f0c9a-1111-4222-8333-444455556666"
    started = datetime(2026, 7, 21, 6, 30, tzinfo=UTC)
    pid = record_pipeline_run(
        pg, {"run_id": run_id, "status": "STARTED", "started_at": started, "job_name": "daily"}
    )
    assert pid == run_id
    record_pipeline_run(
        pg,
        {
            "run_id": run_id,
            "status": "SUCCESS",
            "completed_at": datetime(2026, 7, 21, 6, 42, 5, tzinfo=UTC),
            "total_articles_input": 546,
            "articles_output": 20,
            "output_path": "s3://bucket/lakehouse",
        },
    )
    record_pipeline_run(pg, {"run_id": run_id, "status": "running"})  # late start event: no downgrade
    rows = pg.query("SELECT * FROM pipeline_runs WHERE dagster_run_id = %s", [run_id])
    assert len(rows) == 1
    r = rows[0]
    assert (r["status"], r["started_at"], r["total_articles_input"], r["articles_output"]) == (
        "completed", started, 546, 20,
    )  # fmt: skip
    assert r["processing_time_seconds"] == 725 and r["s3_output_path"] == "s3://bucket/lakehouse"
    assert r["job_name"] == "daily" and str(r["id"]) == run_id

    failed_id = "77777777-1111-4222-8333-444455556666"
    record_pipeline_run(
        pg, {"run_id": failed_id, "status": "FAILURE", "started_at": 1.79e9, "completed_at": 1.79e9 + 60,
             "error_message": "warehouse_load: PostgreSQL unreachable"},
    )  # fmt: skip
    r = pg.query("SELECT * FROM pipeline_runs WHERE dagster_run_id = %s", [failed_id])[0]
    assert (r["status"], r["processing_time_seconds"], r["error_message"]) == (
        "failed", 60, "warehouse_load: PostgreSQL unreachable",
    )  # fmt: skip
    with pytest.raises(ValueError, match="status"):
        record_pipeline_run(pg, {"run_id": failed_id, "status": "exploded"})


# ---------------------------------------------------------------- DuckDB (local warehouse)


def test_duckdb_loads_staging_only_and_rolls_back(tmp_path):
    w: DuckDBWarehouse = connect_duckdb(str(tmp_path / "wh.duckdb"))
    try:
        migrate(w)
        frames = concat_days(day_frames(DAY1), day_frames(DAY2))
        out = load_days(w, frames, [DAY1, DAY2], run=RUN1)
        staging = {k: v for k, v in EXPECTED.items() if k in STAGING_TABLES}
        assert out == {DAY1: staging, DAY2: staging}
        load_days(w, frames, [DAY1], run=RUN2)
        assert table_counts(w, DAY1) == staging and table_counts(w, DAY2) == staging
        assert w.scalar("SELECT count(*) FROM stg_articles") == 24
        assert w.query("SELECT tags FROM stg_articles WHERE selected ORDER BY entry_key LIMIT 1")[0]["tags"] == [
            "ai", "ml", "tools",
        ]  # fmt: skip

        bad = build_day_tables(day_frames(DAY1, n_per_feed=2, variant="d"), DAY1, run=RUN2)
        bad["stg_newsletters"] = bad["stg_newsletters"].with_columns(
            pl.lit(None, dtype=pl.String).alias("newsletter_id")
        )  # NOT NULL violation after stg_articles was replaced
        with pytest.raises(WarehouseLoadError):
            load_day(w, DAY1, bad, run=RUN2)
        assert table_counts(w, DAY1) == staging
    finally:
        w.close()
