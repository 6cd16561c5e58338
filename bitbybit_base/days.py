"""The one helper that turns a window of days into the list of its days (no Dagster)."""

from __future__ import annotations

from datetime import date, timedelta


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included (empty when ``last`` is before ``first``)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
