"""The LLM ledger (``llm_calls``) and answer cache (``llm_cache``) tables, and a run's session over them.

Both tables are append-only histories, written by ``filtered_articles`` (translation),
``enhanced_articles`` and ``newsletters`` through the LLM session (declared in the lineage as assets of their own, see
:mod:`bitbybit_assets.enhance.llm_tables`). Writes are blind Delta appends
(``Lakehouse.append_rows``): they never read-modify-rewrite a day, so two runs saving at the same
time both keep every row (a read-then-overwrite would make one of them lose or fail). A key may
therefore appear twice after a race (two runs caching the same answer); readers de-duplicate: the
cache keeps the first answer written for a key, the ledger counts each ``call_id`` once. The
cache's ``partition_date`` is the day an entry was first written; lookups read every day.

:func:`open_session` / :func:`close_session` are what both LLM-using stages do around their work:
load the cache and the run's spend so far, then store the new ledger rows and cache entries.
No Dagster here: the caller hands in the run id and a logger.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Protocol

import polars as pl

from bitbybit_assets.enhance.prompts import PROMPT_VERSION
from bitbybit_assets.schemas import LLM_CACHE, LLM_CALLS

LEDGER_TABLE = "llm_calls"
CACHE_TABLE = "llm_cache"
ALL_DAYS = (date(1970, 1, 1), date(2999, 12, 31))


class DayStore(Protocol):
    def read_days(
        self, table: str, start: date, end: date, columns: list[str] | None = None
    ) -> pl.DataFrame: ...
    def append_rows(self, table: str, df: pl.DataFrame) -> Any: ...


def append_rows(store: DayStore, table: str, rows: list[dict], schema: dict, *, key: str) -> int:
    """Append ``rows`` to ``table``, leaving out rows whose ``key`` is already stored; returns rows
    added. Safe under concurrent writers (a blind append; duplicates are resolved on read)."""
    if not rows:
        return 0
    new = pl.DataFrame(rows, schema=schema).unique(subset=[key], keep="first", maintain_order=True)
    start, end = new["partition_date"].min(), new["partition_date"].max()
    existing = store.read_days(table, start, end, columns=[key])
    if not existing.is_empty() and key in existing.columns:
        new = new.filter(~pl.col(key).is_in(existing[key].implode()))
    if new.is_empty():
        return 0
    store.append_rows(table, new)
    return new.height


def save_ledger(store: DayStore, rows: list[dict]) -> int:
    return append_rows(store, LEDGER_TABLE, rows, LLM_CALLS, key="call_id")


def save_cache(store: DayStore, rows: list[dict]) -> int:
    return append_rows(store, CACHE_TABLE, rows, LLM_CACHE, key="cache_key")


def load_cache(store: DayStore, *, model: str, prompt_version: str) -> dict[str, str]:
    """cache_key -> response_json for one model and prompt version (all days; the first answer
    written for a key wins when a race stored it twice)."""
    df = store.read_days(
        CACHE_TABLE,
        *ALL_DAYS,
        columns=["cache_key", "model", "prompt_version", "response_json", "created_at", "partition_date"],
    )
    if df.is_empty():
        return {}
    df = df.filter((pl.col("model") == model) & (pl.col("prompt_version") == prompt_version))
    order = [c for c in ("created_at", "partition_date") if c in df.columns]
    if order:
        df = df.sort(order, nulls_last=True)
    df = df.unique(subset=["cache_key"], keep="first", maintain_order=True)
    return dict(zip(df["cache_key"].to_list(), df["response_json"].to_list(), strict=True))


def _calls(store: DayStore, start: date, end: date) -> pl.DataFrame:
    df = store.read_days(LEDGER_TABLE, start, end, columns=["call_id", "run_id", "cost_usd"])
    if df.is_empty():
        return df
    return df.unique(subset=["call_id"], keep="first") if "call_id" in df.columns else df


def day_cost(store: DayStore, day: date) -> float:
    """LLM spend recorded for ``day`` across all runs."""
    df = _calls(store, day, day)
    return float(df["cost_usd"].sum()) if not df.is_empty() else 0.0


def run_cost(store: DayStore, run_id: str) -> float:
    """LLM spend already recorded by run ``run_id`` (every stage and day of it)."""
    df = _calls(store, *ALL_DAYS)
    if df.is_empty() or "run_id" not in df.columns:
        return 0.0
    return float(df.filter(pl.col("run_id") == run_id)["cost_usd"].sum())


class SessionFactory(Protocol):
    """What :func:`open_session` needs of ``resources.llm.LLMResource``."""

    def endpoint(self, config: Any = None) -> Any: ...
    def session(self, **kwargs: Any) -> Any: ...


def open_session(
    llm: SessionFactory,
    store: DayStore,
    *,
    run_id: str,
    config: Any,
    log: logging.Logger | logging.LoggerAdapter | Any,
    prompt_version: str = PROMPT_VERSION,
) -> Any:
    """This run's LLM session with the stored cache and the run's spend so far, or ``None``
    (the offline path) when no endpoint is configured."""
    endpoint = llm.endpoint(config)
    if endpoint is None:
        log.info("no LLM endpoint configured (BITBYBIT_LLM_BASE_URL / API key): offline path")
        return None
    cache = load_cache(store, model=endpoint.model, prompt_version=prompt_version)
    # the budget is per run: what earlier stages of this run spent (from the ledger) counts too
    spent = run_cost(store, run_id)
    log.info(
        f"LLM {endpoint.model} at {endpoint.describe()}; {len(cache)} cached answers; "
        f"${spent:.4f} of the ${config.budget_usd_per_run:.2f} run budget already spent"
    )
    return llm.session(
        run_id=run_id,
        prompt_version=prompt_version,
        cache=cache,
        config=config,
        spent_before_usd=spent,
    )


def close_session(session: Any, store: DayStore) -> dict:
    """Store the session's ledger rows and new cache entries; the ledger totals (asset metadata)."""
    if session is None:
        return {"llm_calls": 0, "llm_cost_usd": 0.0}
    save_ledger(store, session.ledger)
    save_cache(store, session.new_cache_rows)
    return session.summary()
