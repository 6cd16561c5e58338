"""The daily partitions every asset shares (UTC days from ``pipeline.start_date``)."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from bitbybit_base.days import days_between
from bitbybit_base.settings import runtime_settings


def _start_date() -> str:
    return runtime_settings().pipeline.start_date.isoformat()


daily_partitions = dg.DailyPartitionsDefinition(start_date=_start_date(), timezone="UTC")


def days_in_context(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> list[date]:
    """Every day of the run's partition window: one day, or a range in a single-run backfill."""
    window = context.partition_time_window
    return days_between(window.start.date(), (window.end - timedelta(days=1)).date())
