"""``Retry-After`` parsing shared by the feed fetcher and the LLM client (no Dagster).

A server controls this header, so nothing it sends may raise: absurd dates (year 99999999999),
``inf``/``nan``/``1e999``, negative numbers, huge integers and garbage all give a finite number of
seconds or ``None``. Callers still cap the wait (``max_retry_after_seconds``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

# ~100 years: far beyond any cap a caller uses, small enough for time.sleep and timedelta
MAX_SECONDS = 100 * 365 * 24 * 3600.0


def _finite(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return min(MAX_SECONDS, max(0.0, seconds))


def parse_retry_after(value: object, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date), clamped to
    ``0..MAX_SECONDS``; ``None`` when absent or unparsable."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > 200:
        return None
    try:
        return _finite(float(text))
    except (ValueError, OverflowError):
        pass
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return _finite((when - (now or datetime.now(UTC))).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
        return None


def retry_after_from_headers(headers: Mapping[str, Any] | Any, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI-style) or ``Retry-After`` in ``headers``."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        value = headers.get("retry-after")
    except Exception:  # noqa: BLE001 - an odd headers object must not break a retry loop
        return None
    if ms:
        try:
            seconds = _finite(float(str(ms).strip()) / 1000.0)
        except (ValueError, OverflowError):
            seconds = None
        if seconds is not None:
            return seconds
    return parse_retry_after(value, now)
