"""Where the feed list lives: ``config/feeds.yaml`` or the ``feeds`` table (migration 0007).

``BITBYBIT_FEEDS_SOURCE`` picks one, and that one is the only source of truth:

* ``yaml`` (default locally): ``config/feeds.yaml`` (or ``BITBYBIT_FEEDS_FILE``); the desk shows the
  list read-only.
* ``database`` (default with ``BITBYBIT_ENV=prod``, where the YAML baked into the image cannot be
  edited): the ``feeds`` table of the operational database (PostgreSQL in production, the local
  DuckDB warehouse otherwise: the same database as the desk, see
  :func:`bitbybit_assets.deliver.database.open_store`). The desk adds, edits, disables and enables
  feeds there, every change recorded in ``feed_events``. When the table is empty it is seeded once
  from the YAML file (events by ``seed:feeds.yaml``); after that the YAML file is not read.

Everything that needs the list calls :func:`load_feeds` (``raw_feeds``,
``feed_entries``, the desk, the config-change sensor), which reads :func:`database_feeds` in
``database`` mode.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bitbybit_assets.deliver.database import open_store
from bitbybit_base import settings
from bitbybit_base.settings import FeedConfig, SettingsError
from resources.postgres import PostgresResource
from resources.warehouse_db import Warehouse

SOURCE_VAR = "BITBYBIT_FEEDS_SOURCE"
SEED_ACTOR = "seed:feeds.yaml"
FIELDS = ("name", "url", "enabled", "category", "trust")


class FeedsUnavailable(SettingsError):
    """The feed list database cannot be read (unreachable, locked by a run...)."""


class FeedExists(ValueError):
    pass


class FeedNotFound(LookupError):
    pass


def feeds_source() -> Literal["yaml", "database"]:
    """``BITBYBIT_FEEDS_SOURCE`` (``yaml`` | ``database``); default ``database`` in prod, else ``yaml``."""
    value = os.environ.get(SOURCE_VAR, "").strip().lower()
    if not value:
        return "database" if settings.environment() == "prod" else "yaml"
    if value not in ("yaml", "database"):
        raise SettingsError(f"{SOURCE_VAR}={value!r} is not one of yaml, database")
    return value  # type: ignore[return-value]


def yaml_feeds() -> list[FeedConfig]:
    """Every feed of the YAML file (the seed in ``database`` mode)."""
    return settings.read_feeds_file(enabled_only=False)


def load_feeds(path: Path | None = None, *, enabled_only: bool = True) -> list[FeedConfig]:
    """The feed list: ``path`` or ``config/feeds.yaml`` (``BITBYBIT_FEEDS_FILE``), or, without ``path``
    and with ``BITBYBIT_FEEDS_SOURCE=database`` (prod default), the ``feeds`` table."""
    if path is None and feeds_source() == "database":
        return database_feeds(enabled_only=enabled_only)
    return settings.read_feeds_file(path, enabled_only=enabled_only)


def _json(feed: FeedConfig | None) -> str | None:
    return None if feed is None else json.dumps(feed.model_dump(), sort_keys=True)


def _feed(row: dict[str, Any]) -> FeedConfig:
    return FeedConfig.model_validate({k: row[k] for k in FIELDS} | {"trust": float(row["trust"])})


def check_unique(feed: FeedConfig, existing: Iterable[FeedConfig], *, editing: str | None = None) -> None:
    """:class:`FeedExists` when another feed (not ``editing``) has the same name or url."""
    for other in existing:
        if other.name == editing:
            continue
        if other.name == feed.name:
            raise FeedExists(f"a feed named {feed.name!r} already exists")
        if other.url == feed.url:
            raise FeedExists(f"feed {other.name!r} already has the url {feed.url}")


class FeedStore:
    """The ``feeds`` and ``feed_events`` tables over one warehouse connection."""

    def __init__(self, warehouse: Warehouse, *, now: Callable[[], datetime] | None = None) -> None:
        self.w = warehouse
        self._now = now or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ reading

    def rows(self) -> list[dict[str, Any]]:
        return self.w.query("SELECT * FROM feeds ORDER BY name")

    def feeds(self, *, enabled_only: bool = False) -> list[FeedConfig]:
        feeds = [_feed(r) for r in self.rows()]
        return [f for f in feeds if f.enabled] if enabled_only else feeds

    def get(self, name: str) -> FeedConfig | None:
        rows = self.w.query("SELECT * FROM feeds WHERE name = %s", [name])
        return _feed(rows[0]) if rows else None

    def count(self) -> int:
        return int(self.w.scalar("SELECT COUNT(*) FROM feeds") or 0)

    def events(self, name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        where, params = ("WHERE name = %s", [name]) if name else ("", [])
        return self.w.query(f"SELECT * FROM feed_events {where} ORDER BY created_at DESC LIMIT {int(limit)}", params)

    # ------------------------------------------------------------------ writing

    def _event(self, name: str, action: str, before: FeedConfig | None, after: FeedConfig | None, actor: str) -> None:
        self.w.execute(
            "INSERT INTO feed_events (id, name, action, before, after, actor, created_at) "
            "VALUES (CAST(%s AS UUID), %s, %s, %s, %s, %s, %s)",
            [str(uuid.uuid4()), name, action, _json(before), _json(after), actor, self._now()],
        )

    def _insert(self, feed: FeedConfig, actor: str) -> None:
        now = self._now()
        self.w.execute(
            "INSERT INTO feeds (name, url, enabled, category, trust, created_at, updated_at, updated_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [feed.name, feed.url, feed.enabled, feed.category, feed.trust, now, now, actor],
        )

    def _check_unique(self, feed: FeedConfig, editing: str | None = None) -> None:
        check_unique(feed, self.feeds(), editing=editing)

    def seed(self, feeds: list[FeedConfig], actor: str = SEED_ACTOR) -> int:
        """Insert ``feeds`` when the table is empty (else nothing); how many were inserted."""
        with self.w.transaction():
            if self.count():
                return 0
            for feed in feeds:
                self._insert(feed, actor)
                self._event(feed.name, "seed", None, feed, actor)
        return len(feeds)

    def ensure_seeded(self, load: Callable[[], list[FeedConfig]] = yaml_feeds) -> int:
        """Seed from the YAML file once (a concurrent seeder losing the race is not an error)."""
        if self.count():
            return 0
        feeds = load()
        try:
            return self.seed(feeds)
        except Exception:
            if self.count():  # someone else seeded first
                return 0
            raise

    def add(self, feed: FeedConfig, *, actor: str) -> FeedConfig:
        with self.w.transaction():
            self._check_unique(feed)
            self._insert(feed, actor)
            self._event(feed.name, "add", None, feed, actor)
        return feed

    def update(self, feed: FeedConfig, *, actor: str) -> FeedConfig:
        """New url, category and trust for ``feed.name`` (``enabled`` is kept: see :meth:`set_enabled`)."""
        with self.w.transaction():
            before = self.get(feed.name)
            if before is None:
                raise FeedNotFound(f"no feed {feed.name!r}")
            after = feed.model_copy(update={"enabled": before.enabled})
            if after == before:
                return before
            self._check_unique(after, editing=feed.name)
            self.w.execute(
                "UPDATE feeds SET url = %s, category = %s, trust = %s, updated_at = %s, updated_by = %s WHERE name = %s",
                [after.url, after.category, after.trust, self._now(), actor, feed.name],
            )
            self._event(feed.name, "edit", before, after, actor)
        return after

    def set_enabled(self, name: str, enabled: bool, *, actor: str) -> bool:
        """Enable or disable a feed; ``False`` when it already was."""
        with self.w.transaction():
            before = self.get(name)
            if before is None:
                raise FeedNotFound(f"no feed {name!r}")
            if before.enabled == enabled:
                return False
            self.w.execute("UPDATE feeds SET enabled = %s, updated_at = %s, updated_by = %s WHERE name = %s",
                           [enabled, self._now(), actor, name])
            after = before.model_copy(update={"enabled": enabled})
            self._event(name, "enable" if enabled else "disable", before, after, actor)
        return True


@contextmanager
def open_feed_store() -> Iterator[FeedStore]:
    """A seeded :class:`FeedStore` on the operational database (migrated), closed afterwards."""
    with open_store(PostgresResource()) as store:
        feeds = FeedStore(store.w)
        feeds.ensure_seeded()
        yield feeds


def database_feeds(*, enabled_only: bool = True) -> list[FeedConfig]:
    """The feed list from the ``feeds`` table (seeded from the YAML file when empty)."""
    try:
        with open_feed_store() as store:
            return store.feeds(enabled_only=enabled_only)
    except SettingsError:
        raise
    except Exception as exc:
        raise FeedsUnavailable(f"feed list database ({SOURCE_VAR}=database) cannot be read: {exc}") from exc
