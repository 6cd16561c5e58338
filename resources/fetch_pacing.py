"""Politeness and deadlines for feed fetches: per-host slots, one feed's bookkeeping, host round-robin.

Plain Python (no Dagster). :class:`HostGate` keeps one request in flight per host and a pause
between requests to the same host; :class:`Progress` follows one feed across hops and retries and
enforces ``ingest.fetch.feed_deadline_seconds``; :func:`interleave_by_host` orders a batch so one busy
host does not hold every worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from resources.fetch_transport import FetchFailed
from resources.fetch_types import FetchRequest


def host_key(host: str) -> str:
    return host.lower().rstrip(".")


class HostGate:
    """One request in flight per host, and a minimum pause between requests to the same host."""

    def __init__(self, delay: float) -> None:
        self._delay = max(0.0, delay)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._not_before: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str, progress: Progress | None = None) -> Iterator[None]:
        """Hold ``host``'s slot; with ``progress``, give up (raise) rather than wait past its deadline."""
        key = host_key(host)
        with self._lock:
            host_lock = self._locks.setdefault(key, threading.Lock())
        left = progress.check(f"waiting for {host}") if progress is not None else -1
        if not host_lock.acquire(timeout=left):
            raise progress.expired(f"waiting for {host}")  # type: ignore[union-attr]
        try:
            while True:
                with self._lock:
                    wait = self._not_before.get(key, 0.0) - time.monotonic()
                if wait <= 0:
                    break
                if progress is not None:
                    progress.check(f"waiting {wait:.1f}s for {host}", needed=wait)
                time.sleep(wait)
            try:
                yield
            finally:
                self.defer(host, self._delay)
        finally:
            host_lock.release()

    def defer(self, host: str, seconds: float) -> None:
        """No request to ``host`` starts earlier than ``seconds`` from now."""
        key = host_key(host)
        with self._lock:
            self._not_before[key] = max(self._not_before.get(key, 0.0), time.monotonic() + seconds)


@dataclass
class Progress:
    """Bookkeeping for one feed across hops and retries."""

    url: str
    retries: int = 0
    requests: int = 0
    waits: list[float] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    ip: str | None = None
    deadline: float = float("inf")  # time.monotonic() by which the whole feed must be done
    deadline_seconds: float = float("inf")

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self, what: str) -> FetchFailed:
        return FetchFailed(
            f"{what}: feed deadline of {self.deadline_seconds:g}s passed "
            "(ingest.fetch.feed_deadline_seconds)"
        )

    def check(self, what: str, needed: float = 0.0) -> float:
        """Seconds left; raises when ``needed`` more seconds would pass the deadline."""
        left = self.remaining()
        if left <= 0 or needed > left:
            raise self.expired(what)
        return left


def interleave_by_host(reqs: list[FetchRequest]) -> list[int]:
    """Request indices ordered round-robin across hosts, so one busy host does not hold every worker."""
    by_host: dict[str, list[int]] = {}
    for i, req in enumerate(reqs):
        try:
            host = host_key(urlsplit(req.url).hostname or "")
        except ValueError:
            host = ""
        by_host.setdefault(host, []).append(i)
    queues = list(by_host.values())
    order: list[int] = []
    while queues:
        order.extend(q.pop(0) for q in queues)
        queues = [q for q in queues if q]
    return order
