"""The daily partitions every asset shares (UTC days from ``pipeline.start_date``).

Nothing here reads settings. Asset modules declare :data:`DAILY` (and ``feed_entries`` its history
input :data:`HISTORY`), stand-ins built from the models' defaults; ``build_definitions()`` calls
:func:`bind_partitions` with the settings it loaded, which puts :func:`daily_partitions` of the
configured ``pipeline.start_date`` and :func:`history_mapping` of ``ingest.history_days`` in their
place. Jobs, checks and schedules are then built over those same bound definitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import dagster as dg

from bitbybit_base.days import days_between
from bitbybit_base.settings_models import IngestSettings, PipelineSettings, Settings


def daily_partitions(start_date: date) -> dg.DailyPartitionsDefinition:
    """UTC days from ``start_date``."""
    return dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def history_mapping(history_days: int) -> dg.TimeWindowPartitionMapping:
    """A day and the ``history_days`` days before it (``feed_entries`` reading ``raw_feeds``)."""
    return dg.TimeWindowPartitionMapping(start_offset=-history_days, allow_nonexistent_upstream_partitions=True)


# Stand-ins that asset decorators name; replaced by bind_partitions (defaults, not the settings file).
DAILY = daily_partitions(PipelineSettings.model_fields["start_date"].default)
HISTORY = history_mapping(IngestSettings.model_fields["history_days"].default)


def _bound_spec(spec: dg.AssetSpec, parts: dg.PartitionsDefinition, history: dg.PartitionMapping) -> dg.AssetSpec:
    if spec.partitions_def != DAILY:
        return spec
    deps = [dg.AssetDep(d.asset_key, partition_mapping=history) if d.partition_mapping == HISTORY else d
            for d in spec.deps]
    return spec.replace_attributes(partitions_def=parts, deps=deps)


def bind_partitions(assets: Iterable[Any], settings: Settings) -> list[Any]:
    """``assets`` (definitions and specs) with :data:`DAILY` replaced by the configured days and
    :data:`HISTORY` by the configured history window; everything else unchanged."""
    parts = daily_partitions(settings.pipeline.start_date)
    history = history_mapping(settings.ingest.history_days)
    return list(dg.map_asset_specs(lambda s: _bound_spec(s, parts, history), list(assets)))


def last_complete_day(partitions_def: dg.PartitionsDefinition | None) -> date | None:
    """The newest partition of ``partitions_def`` (the day that last ended), None before the first."""
    last = partitions_def.get_last_partition_key() if partitions_def is not None else None
    return date.fromisoformat(last) if last else None


def days_in_context(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> list[date]:
    """Every day of the run's partition window: one day, or a range in a single-run backfill."""
    window = context.partition_time_window
    return days_between(window.start.date(), (window.end - timedelta(days=1)).date())
