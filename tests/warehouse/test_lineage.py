"""The warehouse reads, lineage and seed columns come from one declaration (warehouse/tables.py)."""

from datetime import date

import dagster as dg

from bitbybit_assets import llm_store
from bitbybit_assets.enhance.assets import llm_tables
from bitbybit_assets.warehouse.assets import warehouse_key, warehouse_load
from bitbybit_assets.warehouse.loads import build_day_tables
from bitbybit_assets.warehouse.pipeline_runs import RunInfo
from bitbybit_assets.warehouse.tables import (
    SEED_COLUMN_TYPES,
    SEED_DAY_TABLES,
    STAGING_TABLES,
    TABLE_SOURCES,
    UPSTREAM_COLUMNS,
)
from tests.warehouse.sample import day_frames


def test_every_warehouse_table_has_sources_and_every_read_table_is_one():
    assert set(TABLE_SOURCES) == {*STAGING_TABLES, *SEED_DAY_TABLES}
    assert {t for sources in TABLE_SOURCES.values() for t in sources} == set(UPSTREAM_COLUMNS)


def test_warehouse_load_deps_are_the_declared_sources():
    for table, sources in TABLE_SOURCES.items():
        assert warehouse_load.asset_deps[warehouse_key(table)] == {dg.AssetKey(s) for s in sources}


def test_llm_tables_are_declared_assets_downstream_of_their_writers():
    by_key = {spec.key: spec for spec in llm_tables}
    ledger = by_key[dg.AssetKey(llm_store.LEDGER_TABLE)]
    writers = {"filtered_articles", "enhanced_articles", "newsletters"}  # translation, summaries, subject lines
    assert {d.asset_key for d in ledger.deps} == {dg.AssetKey(w) for w in writers}
    assert dg.AssetKey(llm_store.CACHE_TABLE) in by_key


def test_seed_rows_have_exactly_the_declared_seed_columns():
    day = date(2026, 8, 5)
    tables = build_day_tables(day_frames(day), day, run=RunInfo(dagster_run_id="r1"))
    for table in SEED_DAY_TABLES:
        assert tables[table].columns == list(SEED_COLUMN_TYPES[table]), table
        assert tables[table].height > 0
