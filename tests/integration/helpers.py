"""Helpers to materialise the graph in tests."""

from __future__ import annotations

import dagster as dg

from bitbybit_assets.definitions import build_resources


def materialize_days(assets, first: str, last: str | None = None, *, selection=None, resources=None, instance=None):
    """Materialise ``assets`` for one day or, in a single run, a range of days."""
    resources = resources or build_resources("local")
    kwargs = {"resources": resources, "selection": selection, "instance": instance, "raise_on_error": True}
    if last is None or last == first:
        return dg.materialize(assets, partition_key=first, **kwargs)
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize(assets, tags=tags, **kwargs)
