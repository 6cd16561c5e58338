"""Plain data types shared by the feed sources (archive and live HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FetchRequest:
    """One feed to fetch, with the validators remembered from its last successful fetch."""

    feed_name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class FetchResult:
    """What one fetch produced. ``fetch_status`` is ``ok``, ``not_modified``, ``missing`` or ``error``."""

    feed_name: str
    url: str
    source: str  # "archive" | "http"
    fetch_status: str
    fetched_at: datetime
    http_status: int | None = None
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    elapsed_ms: int = 0
    final_url: str | None = None
    attempts: int = 1
    extra: dict = field(default_factory=dict)
