"""Export files: the API JSON against its JSON Schema, replayable SQL inserts, analytics JSON."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg2
import pytest

from bitbybit_assets.output_files import write_text_atomic
from bitbybit_assets.warehouse.export import (
    API_SCHEMA_PATH,
    ExportValidationError,
    build_analytics_payload,
    build_api_payload,
    dumps,
    export_paths,
    render_sql_inserts,
    sql_literal,
    validate_api_payload,
)
from bitbybit_assets.warehouse.loads import RunInfo, build_day_tables, entry_uuid, table_counts
from bitbybit_assets.warehouse.migrate import migrate
from resources.warehouse_db import PostgresWarehouse
from tests.warehouse.sample import DAY1, TRANSLATION, day_frames, with_translated_pick

RUN = RunInfo("0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b", started_at=datetime(2026, 7, 19, 6, 30, tzinfo=UTC))


@pytest.fixture
def day_tables():
    return build_day_tables(day_frames(DAY1), DAY1, run=RUN)


@pytest.fixture
def payload(day_tables):
    return build_api_payload(DAY1, day_tables["articles"], day_tables["newsletters"])


def test_api_payload_matches_schema_and_content(payload):
    validate_api_payload(payload)
    assert json.loads(API_SCHEMA_PATH.read_text())["$schema"].endswith("2020-12/schema")
    keys = day_frames(DAY1)["enhanced_articles"]["entry_key"].to_list()
    assert [a["id"] for a in payload["articles"]] == [entry_uuid(k) for k in keys]
    assert [a["rank"] for a in payload["articles"]] == [1, 2, 3, 4]
    nl = payload["newsletter"]
    assert nl["article_ids"] == [a["id"] for a in payload["articles"]]
    assert nl["sections"] == [{"key": "top", "title": "Top", "article_ids": nl["article_ids"]}]
    assert payload["date"] == "2026-07-18"
    assert payload["articles"][0]["published_at"].endswith("Z")
    assert payload["articles"][0]["also_covered_by"][0]["feed_name"] == "other"
    json.loads(dumps(payload))  # serialisable as written


def test_day_without_newsletter_is_valid(day_tables):
    p = build_api_payload(DAY1, day_tables["articles"].head(0), day_tables["newsletters"].head(0))
    validate_api_payload(p)
    assert p["newsletter"] is None and p["articles"] == []


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda p: p["articles"][0].pop("title"), "articles/0"),
        (lambda p: p["articles"][1].__setitem__("id", "not-a-uuid"), "articles/1/id"),
        (lambda p: p["articles"][0].__setitem__("quality_score", 11.5), "articles/0/quality_score"),
        (lambda p: p["newsletter"].__setitem__("generated_at", "yesterday"), "newsletter"),
        (lambda p: p.__setitem__("extra", 1), "<root>"),
        (lambda p: p["articles"][0].__setitem__("url", "ftp://x"), "articles/0/url"),
    ],
)
def test_schema_rejects_bad_payloads(payload, mutate, where):
    bad = copy.deepcopy(payload)
    mutate(bad)
    with pytest.raises(ExportValidationError) as exc:
        validate_api_payload(bad)
    assert where in str(exc.value)


def test_sql_literals():
    assert sql_literal(None, "text") == "NULL"
    assert sql_literal("O'Reilly", "text") == "'O''Reilly'"
    assert sql_literal(["a", "b'c"], "text[]") == "ARRAY['a', 'b''c']::text[]"
    assert sql_literal([], "uuid[]") == "ARRAY[]::uuid[]"
    assert sql_literal(Decimal("7.25"), "numeric(4,2)") == "7.25"
    assert sql_literal(float("nan"), "numeric(4,2)") == "NULL"
    assert sql_literal(uuid.UUID(int=1), "uuid") == "'00000000-0000-0000-0000-000000000001'::uuid"
    assert sql_literal(date(2026, 7, 18), "date") == "'2026-07-18'::date"
    assert sql_literal([{"a": 1}], "jsonb") == "'[{\"a\": 1}]'::jsonb"
    assert sql_literal(True, "boolean") == "TRUE"


@pytest.mark.integration
def test_sql_insert_file_replays_into_postgres(day_tables, fresh_pg, tmp_path):
    feed_stats = [
        {"id": uuid.UUID(int=7), "pipeline_run_id": uuid.UUID(RUN.dagster_run_id), "feed_name": "alpha-ai",
         "feed_url": "https://alpha.example/feed.xml", "total_articles": 6, "passed_content_filter": 4,
         "passed_ad_detection": 3, "passed_quality_scoring": 2, "final_articles": 2,
         "processing_time_seconds": Decimal("1.50"), "created_at": datetime(2026, 7, 19, 7, tzinfo=UTC),
         "partition_date": DAY1, "fetch_status": "ok", "fetch_errors": 0, "duplicates": 1,
         "duplicate_rate": Decimal("0.1667"), "advertisements": 1, "ad_rate": Decimal("0.1667")},
    ]  # fmt: skip
    runs = [{"id": RUN.pipeline_run_id, "dagster_run_id": RUN.dagster_run_id, "started_at": RUN.started_at,
             "status": "running"}]  # fmt: skip
    sql = render_sql_inserts(
        DAY1,
        {
            "articles": day_tables["articles"],
            "newsletters": day_tables["newsletters"],
            "feed_statistics": feed_stats,
        },
        pipeline_runs=runs,
    )
    path = write_text_atomic(export_paths(tmp_path, DAY1)["sql"], sql)
    assert path == tmp_path / "database" / "2026-07-18.sql"

    conn = psycopg2.connect(fresh_pg)
    w = PostgresWarehouse(conn)
    try:
        migrate(w)
        for _ in range(2):  # replaying the file leaves one copy
            w.execute(path.read_text())
            counts = table_counts(w, DAY1, ("articles", "newsletters", "feed_statistics"))
            assert counts == {"articles": 4, "newsletters": 1, "feed_statistics": 1}
        assert w.scalar("SELECT count(*) FROM pipeline_runs") == 1
        ids = w.query("SELECT article_ids::text[] AS ids FROM newsletters")[0]["ids"]
        assert ids == day_tables["newsletters"]["article_ids"].to_list()[0]
        row = w.query(
            "SELECT title, quality_score, tags, also_covered_by FROM articles ORDER BY newsletter_rank"
        )[0]
        first = day_tables["articles"].row(0, named=True)
        assert row["title"] == first["title"] and row["tags"] == ["ai", "ml", "tools"]
        assert float(row["quality_score"]) == first["quality_score"]
        assert row["also_covered_by"][0]["url"] == "https://other.example/x"
    finally:
        conn.close()


@pytest.mark.integration
def test_translation_provenance_in_api_json_and_sql_export(fresh_pg, tmp_path):
    frames, translated = with_translated_pick(day_frames(DAY1))
    tables = build_day_tables(frames, DAY1, run=RUN)
    payload = build_api_payload(DAY1, tables["articles"], tables["newsletters"])
    validate_api_payload(payload)
    by_id = {a["id"]: a for a in payload["articles"]}
    got = by_id.pop(entry_uuid(translated))
    assert {c: got[c] for c in TRANSLATION} == TRANSLATION
    assert all(a[c] is None for a in by_id.values() for c in TRANSLATION)

    runs = [{"id": RUN.pipeline_run_id, "dagster_run_id": RUN.dagster_run_id, "started_at": RUN.started_at,
             "status": "running"}]  # fmt: skip
    sql = render_sql_inserts(DAY1, {"articles": tables["articles"]}, pipeline_runs=runs)
    conn = psycopg2.connect(fresh_pg)
    w = PostgresWarehouse(conn)
    try:
        migrate(w)
        w.execute(sql)
        rows = w.query("SELECT entry_key, original_title, original_language, translated_by FROM articles")
    finally:
        conn.close()
    by_key = {r.pop("entry_key"): r for r in rows}
    assert by_key.pop(translated) == TRANSLATION
    assert len(by_key) == 3
    assert all(v is None for r in by_key.values() for v in r.values())


def test_analytics_payload_is_plain_json():
    models = {
        "daily_pipeline_metrics": [{"partition_date": DAY1, "pipeline_run_id": uuid.UUID(int=3),
                                    "llm_cost_usd": 0.0123, "processing_time_seconds": Decimal("12.50")}],
        "feed_statistics": [{"id": uuid.UUID(int=4), "created_at": datetime.now(UTC), "feed_name": "a",
                             "duplicate_rate": Decimal("0.1667")}],
        "content_type_mix": [{"content_type": "news", "share_of_scored": 0.25}],
        "topic_trends": [{"kind": "topic", "label": "llm"}, {"kind": "tag", "label": "ai"}],
        "feed_yield_30d": [],
    }  # fmt: skip
    p = build_analytics_payload(DAY1, models)
    assert json.loads(json.dumps(p)) == p
    assert p["pipeline"]["pipeline_run_id"] == str(uuid.UUID(int=3))
    assert p["pipeline"]["processing_time_seconds"] == 12.5
    assert p["feeds"] == [{"feed_name": "a", "duplicate_rate": 0.1667}]
    assert [t["label"] for t in p["topics"]] == ["llm"] and [t["label"] for t in p["tags"]] == ["ai"]
    assert build_analytics_payload(DAY1, {})["pipeline"] is None
