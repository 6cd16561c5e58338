"""The weekly maintenance on a real lakehouse: the pipeline runs two sample days into a temp
lakehouse, maintenance compacts and vacuums every table, and each table reads back with the same
rows; with a zero retention the replaced files are freed; raw bytes age out by config; warehouse
retention and ANALYZE run on a real PostgreSQL database."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import psycopg2
import pytest
from deltalake import DeltaTable

from bitbybit_assets.curate import assets as curate_assets
from bitbybit_assets.enhance import assets as enhance_assets
from bitbybit_assets.ingest import assets as ingest_assets
from bitbybit_assets.maintenance.delta import list_tables, maintain_lakehouse
from bitbybit_assets.maintenance.job import maintenance_job
from bitbybit_assets.maintenance.warehouse import maintain_warehouse
from bitbybit_assets.publish import assets as publish_assets
from bitbybit_assets.schemas import LLM_CALLS, conform
from bitbybit_base.settings import MaintenanceSettings, runtime_settings
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource
from resources.warehouse_db import PostgresWarehouse
from tests.integration.helpers import materialize_days
from tests.support.postgres import create_database, drop_database

PIPELINE = [*dg.load_assets_from_modules([ingest_assets, curate_assets, enhance_assets, publish_assets]),
            *enhance_assets.llm_tables]
DAYS = ("2026-08-03", "2026-08-04")  # the first sample days (no earlier history needed)
TODAY = date(2026, 8, 20)


def _snapshot(lh: Lakehouse, drop: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every table's rows (as sorted reprs), optionally without some columns."""
    out = {}
    for table in list_tables(lh.root_uri(), lh.storage_options()):
        df = pl.read_delta(lh.table_uri(table))
        df = df.drop([c for c in (drop or {}).get(table, []) if c in df.columns])
        out[table] = sorted(repr(row) for row in df.select(sorted(df.columns)).rows())
    return out


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory):
    """The pipeline on two sample days, one run each (the state maintenance finds after a week)."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("maintenance")
    from tests.conftest import SAMPLE_ARCHIVE

    for k, v in {"BITBYBIT_ENV": "local", "BITBYBIT_DATA_DIR": base / "data", "BITBYBIT_OUTPUT_DIR": base / "out",
                 "BITBYBIT_LAKEHOUSE_ROOT": base / "lakehouse", "BITBYBIT_FEED_ARCHIVE": SAMPLE_ARCHIVE,
                 "BITBYBIT_FEED_SOURCE": "archive"}.items():
        mp.setenv(k, str(v))
    for name in ("BITBYBIT_POSTGRES_DSN", "POSTGRES_HOST"):
        mp.delenv(name, raising=False)
    for day in DAYS:
        materialize_days(PIPELINE, day)
    # a re-fetch of the second day leaves the replaced files behind (what vacuum frees), and the
    # LLM ledger gets one small file per run and day (what compaction merges)
    materialize_days(PIPELINE, DAYS[1], selection=[dg.AssetKey("raw_feeds")])
    lh = Lakehouse()
    for run in ("run-a", "run-b"):
        lh.append_rows("llm_calls", conform(pl.DataFrame({
            "partition_date": [date.fromisoformat(DAYS[1])], "run_id": [run], "call_id": [f"{run}-1"],
            "cost_usd": [0.01], "status": ["ok"]}), LLM_CALLS))
    yield lh
    mp.undo()


def test_maintenance_keeps_every_table_and_frees_replaced_files(lakehouse):
    before = _snapshot(lakehouse)
    assert {"raw_feeds", "feed_entries", "scored_articles", "enhanced_articles", "newsletters"} <= set(before)

    # the job as scheduled (default settings: 168 h retention): compacts, deletes nothing still young
    result = maintenance_job.execute_in_process(
        resources={"lakehouse": lakehouse, "postgres": PostgresResource(), "settings": runtime_settings()})
    assert result.success
    report = result.output_for_node("maintain_delta_tables")
    assert {r["table"] for r in report["tables"]} == set(before)
    assert report["files_compacted"] > 0 and report["files_vacuumed"] == 0
    assert result.output_for_node("maintain_postgres") == {"skipped": True}
    assert _snapshot(lakehouse) == before

    # a zero retention frees what compaction replaced; every table still reads the same rows
    reports = maintain_lakehouse(lakehouse.root_uri(), lakehouse.storage_options(),
                                 MaintenanceSettings(vacuum_retention_hours=0), TODAY)
    assert sum(r.files_vacuumed for r in reports) > 0
    assert sum(r.bytes_freed for r in reports) > 0
    assert all(r.files_after <= r.files_before for r in reports)
    assert _snapshot(lakehouse) == before
    for table in before:  # time travel is kept within the retention only: the log itself is intact
        assert DeltaTable(lakehouse.table_uri(table)).version() >= 1


def test_raw_bytes_age_out_and_nothing_else_changes(lakehouse):
    before = _snapshot(lakehouse, drop={"raw_feeds": ["content"]})
    stored = pl.read_delta(lakehouse.table_uri("raw_feeds"))["content"].is_not_null().sum()
    cfg = MaintenanceSettings(raw_content_days=14, vacuum_retention_hours=168)
    reports = {r.table: r for r in maintain_lakehouse(lakehouse.root_uri(), lakehouse.storage_options(), cfg, TODAY)}
    raw = pl.read_delta(lakehouse.table_uri("raw_feeds"))
    assert reports["raw_feeds"].rows_pruned == stored > 0  # every row that still held its bytes
    assert raw["content"].null_count() == raw.height
    assert _snapshot(lakehouse, drop={"raw_feeds": ["content"]}) == before


@pytest.mark.integration
def test_warehouse_retention_and_analyze_on_postgres():
    name, dsn = create_database()
    try:
        conn = psycopg2.connect(dsn)
        wh = PostgresWarehouse(conn)
        wh.execute("CREATE TABLE stg_articles (partition_date date, article_id text)")
        wh.execute("CREATE TABLE pipeline_notes (note text)")
        wh.execute("INSERT INTO stg_articles VALUES ('2026-01-01', 'a'), ('2026-08-10', 'b'), ('2026-08-19', 'c')")
        result = maintain_warehouse(wh, {"stg_articles": 30, "not_there_yet": 5}, True, TODAY)
        assert result["rows_deleted"] == {"stg_articles": 1, "not_there_yet": 0}
        assert result["tables_analyzed"] == 2
        assert [r["article_id"] for r in wh.query("SELECT article_id FROM stg_articles ORDER BY 1")] == ["b", "c"]
        assert wh.scalar("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'stg_articles'")
        with pytest.raises(ValueError, match="no partition_date"):
            maintain_warehouse(wh, {"pipeline_notes": 5}, False, TODAY)
        conn.close()
    finally:
        drop_database(name)
