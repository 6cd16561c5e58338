"""Persist the LLM ledger (``llm_calls``) and answer cache (``llm_cache``) as Delta tables.

Both are append-only histories stored through the lakehouse (``read_days`` / ``write_days``):
appending reads the touched days back, adds the new rows and rewrites those days in one commit.
The cache's ``partition_date`` is the day an entry was first written; lookups read every day.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

import polars as pl

from bitbybit_assets.schemas import LLM_CACHE, LLM_CALLS, conform

LEDGER_TABLE = "llm_calls"
CACHE_TABLE = "llm_cache"
ALL_DAYS = (date(1970, 1, 1), date(2999, 12, 31))


class DayStore(Protocol):
    def read_days(
        self, table: str, start: date, end: date, columns: list[str] | None = None
    ) -> pl.DataFrame: ...
    def write_days(self, table: str, df: pl.DataFrame, start: date, end: date) -> Any: ...


def append_rows(store: DayStore, table: str, rows: list[dict], schema: dict, *, key: str) -> int:
    """Add ``rows`` to ``table`` (rows whose ``key`` is already there are skipped); returns rows added."""
    if not rows:
        return 0
    new = pl.DataFrame(rows, schema=schema)
    start, end = new["partition_date"].min(), new["partition_date"].max()
    existing = store.read_days(table, start, end)
    if not existing.is_empty():
        existing = conform(existing, schema)
        new = new.filter(~pl.col(key).is_in(existing[key].implode()))
        if new.is_empty():
            return 0
        combined = pl.concat([existing, new], how="vertical")
    else:
        combined = new
    store.write_days(table, combined, start, end)
    return new.height


def save_ledger(store: DayStore, rows: list[dict]) -> int:
    return append_rows(store, LEDGER_TABLE, rows, LLM_CALLS, key="call_id")


def save_cache(store: DayStore, rows: list[dict]) -> int:
    return append_rows(store, CACHE_TABLE, rows, LLM_CACHE, key="cache_key")


def load_cache(store: DayStore, *, model: str, prompt_version: str) -> dict[str, str]:
    """cache_key -> response_json for one model and prompt version (all days)."""
    df = store.read_days(
        CACHE_TABLE, *ALL_DAYS, columns=["cache_key", "model", "prompt_version", "response_json"]
    )
    if df.is_empty():
        return {}
    df = df.filter((pl.col("model") == model) & (pl.col("prompt_version") == prompt_version))
    return dict(zip(df["cache_key"].to_list(), df["response_json"].to_list(), strict=True))


def day_cost(store: DayStore, day: date) -> float:
    """LLM spend recorded for ``day`` across all runs."""
    df = store.read_days(LEDGER_TABLE, day, day, columns=["cost_usd"])
    return float(df["cost_usd"].sum()) if not df.is_empty() else 0.0
