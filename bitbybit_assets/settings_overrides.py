"""Settings edited in the desk: a few thresholds of ``config/production.yaml`` overridden by an admin.

The overrides live in the operational database (``settings_overrides``, one row per dotted key such as
``curation.top_n``, value as JSON; every change also adds a ``settings_events`` row: migration 0008),
so the desk, the sensors and every run task (ECS in production) see the same values.

Only the keys in :data:`EDITABLE` can be overridden. A candidate value is applied onto the loaded
settings and the whole result is validated by :func:`bitbybit_base.settings.validate_settings`, the
function ``load_settings()`` uses (every section, by its model): an invalid value is refused with the
model's message naming the key, and what is stored is the value as the model parsed it.

Applying: :func:`bitbybit_base.settings.runtime_settings` stays the YAML alone (cheap, no database: it
also runs at definition load). The run-time code paths that read an editable key call :func:`settings_with_overrides` instead,
when they run: the curation assets (``scored_articles``, the editorial top N, the warehouse
thresholds), ``filtered_articles`` (language allow-list), the ``delivery`` asset and the delivery
sensor (approval mode and send time). So a change in the desk applies from the next run (or sensor
tick); a run already going keeps the values it read.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bitbybit_assets.warehouse.config import dbt_target, duckdb_path
from bitbybit_base.settings import (
    Settings,
    SettingsError,
    WarehouseSettings,
    runtime_settings,
    settings_file,
    validate_settings,
)
from resources.postgres import PostgresResource
from resources.warehouse_db import Warehouse, connect_duckdb, is_duckdb_lock_error

log = logging.getLogger(__name__)

TABLE = "settings_overrides"
EVENTS = "settings_events"
_LOCK_KEY = 0x7365_7474  # "sett": pg_advisory_xact_lock while a change is written
_BUSY_ATTEMPTS = 8  # local DuckDB held by another process: retries (0.25 s doubling, ~30 s in all)


@dataclass(frozen=True)
class Editable:
    key: str
    label: str
    kind: Literal["int", "float", "list", "text", "choice"]
    help: str
    choices: tuple[str, ...] = ()


# min_quality / min_relevance gate the picks of the hand-weighted formula only; the learned ranker
# (curation.ranker, the default) ignores them and uses the pick floor stored in its artefact.
_FORMULA_FLOOR = (
    "with curation.ranker: null (the hand-weighted formula) an article scoring less is not picked; "
    "the learned ranker (the default) ignores it and applies its own floor to model_score instead"
)

EDITABLE: dict[str, Editable] = {
    e.key: e
    for e in (
        Editable(
            "curation.top_n",
            "Top N",
            "int",
            "most articles picked per day (a quiet day gets fewer: the learned ranker's floor)",
        ),
        Editable("curation.min_quality", "Minimum quality", "float", _FORMULA_FLOOR),
        Editable("curation.min_relevance", "Minimum relevance", "float", _FORMULA_FLOOR),
        Editable(
            "curation.per_feed_cap", "Per-feed cap", "int", "most picks from one feed (or linked domain)"
        ),
        Editable(
            "content_filter.allowed_languages",
            "Allowed languages",
            "list",
            "language codes, comma-separated (e.g. en, de)",
        ),
        Editable(
            "delivery.send_time",
            "Daily send time",
            "text",
            "HH:MM in delivery.send_timezone (auto approval sends from then)",
        ),
        Editable(
            "delivery.approval",
            "Approval",
            "choice",
            "manual: an editor approves each day",
            ("manual", "auto"),
        ),
    )
}


class UnknownSetting(KeyError):
    """The key is not one the desk may change."""

    def __str__(self) -> str:
        return f"{self.args[0]!r} cannot be changed here (editable: {', '.join(EDITABLE)})"


def _require(key: str) -> Editable:
    if key not in EDITABLE:
        raise UnknownSetting(key)
    return EDITABLE[key]


# ---------------------------------------------------------------- values and validation


def parse_form_value(key: str, text: str) -> Any:
    """A form's text as the candidate value of ``key`` (the model does the checking and coercion)."""
    e = _require(key)
    text = text.strip()
    if e.kind == "list":
        return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if e.kind in ("int", "float"):
        try:
            number = int(text) if e.kind == "int" else float(text)
        except ValueError:
            return text  # the model's message says what was expected
        if isinstance(number, float) and not math.isfinite(number):
            raise SettingsError(f"{key}: must be a finite number (got {text!r})")
        return number
    return text


def merged(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (the YAML mapping) with each ``section.field`` of ``overrides`` set (a deep copy)."""
    out = copy.deepcopy(dict(data))
    for key, value in overrides.items():
        section, field = key.split(".", 1)
        current = out.get(section)
        out[section] = dict(current) if isinstance(current, dict) else {} if current is None else current
        if isinstance(out[section], dict):
            out[section][field] = value
    return out


def apply_overrides(overrides: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """``base`` (default: the settings of ``production.yaml``, :func:`runtime_settings`) with ``overrides``
    applied, validated as ``load_settings()`` validates the file (:class:`SettingsError` names the key
    on a bad value)."""
    base = base or runtime_settings()
    if not overrides:
        return base
    data = base.model_dump(mode="python")
    return validate_settings(merged(data, overrides), f"{settings_file().name} with the desk's settings")


def effective_value(settings: Settings, key: str) -> Any:
    """The value of ``key`` in ``settings`` as its model parsed it (JSON-friendly)."""
    section, field = key.split(".", 1)
    value = getattr(getattr(settings, section), field)
    return list(value) if isinstance(value, (list, tuple)) else value


def display(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


# ---------------------------------------------------------------- the store


@dataclass(frozen=True)
class StoredOverride:
    key: str
    value: Any
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class SettingsEvent:
    id: str
    key: str
    before: Any
    after: Any  # None: the override was removed (the YAML value applies again)
    actor: str
    created_at: datetime


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def read_overrides(w: Warehouse) -> dict[str, Any]:
    """The stored overrides (key -> value) over an open connection; none before migration 0008.
    Keys no longer editable are ignored (with a warning)."""
    if not w.table_exists(TABLE):
        return {}
    out: dict[str, Any] = {}
    for row in w.query(f"SELECT key, value FROM {TABLE} ORDER BY key"):
        if row["key"] not in EDITABLE:
            log.warning("settings override %r ignored: the key is not editable", row["key"])
            continue
        out[row["key"]] = json.loads(row["value"])
    return out


class SettingsStore:
    """Overrides and their history over one warehouse connection (PostgreSQL or DuckDB)."""

    def __init__(self, warehouse: Warehouse, *, now: Callable[[], datetime] | None = None) -> None:
        self.w = warehouse
        self._now = now or (lambda: datetime.now(UTC))

    def overrides(self) -> dict[str, StoredOverride]:
        rows = self.w.query(f"SELECT key, value, updated_by, updated_at FROM {TABLE} ORDER BY key")
        return {
            r["key"]: StoredOverride(r["key"], json.loads(r["value"]), r["updated_by"], r["updated_at"])
            for r in rows
            if r["key"] in EDITABLE
        }

    def values(self) -> dict[str, Any]:
        return {k: o.value for k, o in self.overrides().items()}

    def history(self, limit: int = 100) -> list[SettingsEvent]:
        rows = self.w.query(
            f"SELECT id, key, before, after, actor, created_at FROM {EVENTS} "
            "ORDER BY created_at DESC, id LIMIT %s",
            [int(limit)],
        )
        return [
            SettingsEvent(
                str(r["id"]), r["key"], _loads(r["before"]), _loads(r["after"]), r["actor"], r["created_at"]
            )
            for r in rows
        ]

    def check(self, key: str, candidate: Any) -> Any:
        """``candidate`` for ``key`` validated with every other stored override applied; the value as
        the model parsed it. :class:`SettingsError` (the key and why) when it is refused."""
        _require(key)
        settings = apply_overrides({**self.values(), key: candidate})
        return effective_value(settings, key)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self.w.transaction():
            if self.w.dialect == "postgres":
                self.w.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            yield

    def save(self, key: str, candidate: Any, *, actor: str) -> SettingsEvent | None:
        """Store ``candidate`` (validated, see :meth:`check`) as the override of ``key`` with an audit
        row; ``None`` when it equals the stored override already."""
        with self._locked():
            value = self.check(key, candidate)
            current = self.overrides().get(key)
            if current is not None and current.value == value:
                return None
            now = self._now()
            self.w.execute(f"DELETE FROM {TABLE} WHERE key = %s", [key])
            self.w.execute(
                f"INSERT INTO {TABLE} (key, value, updated_by, updated_at) VALUES (%s, %s, %s, %s)",
                [key, json.dumps(value), actor, now],
            )
            return self._event(key, current.value if current else None, value, actor, now)

    def reset(self, key: str, *, actor: str) -> SettingsEvent | None:
        """Remove the override of ``key`` (the YAML value applies again); ``None`` when there was none."""
        _require(key)
        with self._locked():
            current = self.overrides().get(key)
            if current is None:
                return None
            now = self._now()
            self.w.execute(f"DELETE FROM {TABLE} WHERE key = %s", [key])
            return self._event(key, current.value, None, actor, now)

    def _event(self, key: str, before: Any, after: Any, actor: str, now: datetime) -> SettingsEvent:
        event = SettingsEvent(str(uuid.uuid4()), key, before, after, actor, now)
        self.w.execute(
            f"INSERT INTO {EVENTS} (id, key, before, after, actor, created_at) "
            "VALUES (CAST(%s AS UUID), %s, %s, %s, %s, %s)",
            [
                event.id,
                key,
                None if before is None else json.dumps(before),
                None if after is None else json.dumps(after),
                actor,
                now,
            ],
        )
        return event


# ---------------------------------------------------------------- run time


def stored_overrides(
    postgres: PostgresResource | None = None, *, sleep: Callable[[float], None] = time.sleep,
    cfg: WarehouseSettings | None = None,
) -> dict[str, Any]:
    """The overrides in the operational database (PostgreSQL when the dbt target is prod, else the
    local DuckDB warehouse), read without side effects: no migration, no file created. Empty when no
    operational database is configured or it was never migrated. A configured PostgreSQL that cannot
    be reached raises (a run does not silently fall back to the YAML); the local DuckDB file held by
    another process is retried for ~30 s, then :class:`SettingsError`. ``cfg``: the ``warehouse``
    settings that locate it (default: the settings file's)."""
    postgres = postgres or PostgresResource()
    if dbt_target(cfg) == "prod":
        if not postgres.is_configured():
            return {}
        with postgres.warehouse() as w:
            return read_overrides(w)
    path = duckdb_path(cfg)
    if not path.exists():
        return {}
    delay = 0.25
    for attempt in range(_BUSY_ATTEMPTS):
        try:
            w = connect_duckdb(str(path))
        except Exception as exc:
            if not is_duckdb_lock_error(exc):
                raise
            if attempt == _BUSY_ATTEMPTS - 1:
                raise SettingsError(
                    f"cannot read the desk's settings: {path} is held by another process "
                    f"({str(exc).splitlines()[0]})"
                ) from exc
            sleep(delay)
            delay *= 2
            continue
        try:
            return read_overrides(w)
        finally:
            w.close()
    return {}  # pragma: no cover


def settings_with_overrides(
    warehouse: Warehouse | None = None, *, postgres: PostgresResource | None = None, base: Settings | None = None
) -> Settings:
    """What a run uses: ``base`` (an asset's ``settings`` resource; default ``production.yaml``) with the
    desk's overrides (from ``warehouse`` when the caller has the operational database open, else read
    by :func:`stored_overrides`). Call it when the run runs, never at definition load."""
    if warehouse is not None:
        overrides = read_overrides(warehouse)
    else:
        overrides = stored_overrides(postgres, cfg=base.warehouse if base is not None else None)
    return apply_overrides(overrides, base)
