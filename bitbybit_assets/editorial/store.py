"""The ``editorial_overrides`` table read and written in one place (PostgreSQL or the local DuckDB).

A save names the day's revision the editor saw (``base_revision``). Inside one transaction the
store checks that it is still the day's latest and writes the new rows as the following revisions;
otherwise :class:`EditConflict` names who saved in between. On PostgreSQL a per-day advisory lock
serialises savers, and ``UNIQUE (partition_date, revision)`` backs the check on both databases: of
two saves racing on the same base, one wins and the other gets a conflict, never an overwrite.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bitbybit_assets.deliver.database import open_store
from bitbybit_assets.editorial.overrides import ACTIONS, ARTICLE_FIELDS, FIELDS, ISSUE_FIELDS, Override
from resources.postgres import PostgresResource
from resources.warehouse_db import Warehouse

_LOCK_KEY = 0x6564_6974  # "edit": pg_advisory_xact_lock(key, day ordinal)
COLUMNS = (
    "id",
    "partition_date",
    "revision",
    "action",
    "entry_key",
    "field",
    "value",
    "before",
    "actor",
    "created_at",
    "reverted_by",
)


class EditConflict(RuntimeError):
    """The day changed since the editor loaded it (``base_revision`` is stale)."""

    def __init__(self, day: date, base_revision: int, current: int, by: Sequence[Override]) -> None:
        self.day, self.base_revision, self.current, self.by = day, base_revision, current, list(by)
        who = sorted({o.actor for o in by}) or ["another editor"]
        what = "; ".join(f"{o.describe()} at {o.created_at:%H:%M:%S}" for o in by[-5:] if o.created_at)
        super().__init__(
            f"{day} was changed by {', '.join(who)} since you loaded it (revision {base_revision}, now "
            f"{current}){': ' + what if what else ''}. Nothing was saved: reload the day and apply your "
            "change again."
        )


class InvalidAction(ValueError):
    """The action is malformed (unknown action or field, missing article, reverting a revert)."""


@dataclass(frozen=True)
class Action:
    """One action to save; ``value``/``before`` are plain values (stored as JSON text)."""

    action: str
    entry_key: str | None = None
    field: str | None = None
    value: Any = None
    before: Any = None

    def validate(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidAction(f"unknown action {self.action!r}")
        if self.action in ("pin", "drop", "swap") and not self.entry_key:
            raise InvalidAction(f"{self.action} needs an article")
        if self.action == "swap" and (not isinstance(self.value, str) or self.value == self.entry_key):
            raise InvalidAction("swap needs a different article to bring in")
        if self.action == "reorder" and not (
            isinstance(self.value, list) and all(isinstance(k, str) for k in self.value)
        ):
            raise InvalidAction("reorder needs the list of picks in their new order")
        if self.action == "edit":
            if self.field not in FIELDS:
                raise InvalidAction(f"unknown field {self.field!r}")
            if self.field in ARTICLE_FIELDS and not self.entry_key:
                raise InvalidAction(f"{self.field} is edited on an article")
            if self.field in ISSUE_FIELDS and self.entry_key:
                raise InvalidAction(f"{self.field} is edited on the issue, not an article")
        elif self.field is not None:
            raise InvalidAction(f"{self.action} takes no field")
        if self.action == "revert" and not isinstance(self.value, str):
            raise InvalidAction("revert needs the id of the action it undoes")


def _is_unique_violation(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc).lower()
    return name in ("UniqueViolation", "ConstraintException", "TransactionException") or (
        "duplicate key" in text or "conflict" in text
    )


class EditorialStore:
    """Editorial overrides over one warehouse connection."""

    def __init__(self, warehouse: Warehouse, *, now: Callable[[], datetime] | None = None) -> None:
        self.w = warehouse
        self._now = now or (lambda: datetime.now(UTC))

    def _select(self, where: str, params: Sequence[Any]) -> list[Override]:
        cols = ", ".join(
            "CAST(id AS TEXT) AS id"
            if c == "id"
            else "CAST(reverted_by AS TEXT) AS reverted_by"
            if c == "reverted_by"
            else c
            for c in COLUMNS
        )
        rows = self.w.query(
            f"SELECT {cols} FROM editorial_overrides WHERE {where} ORDER BY partition_date, revision", params
        )
        return [Override.from_row(r) for r in rows]

    def overrides(self, day: date) -> list[Override]:
        """Every action of ``day`` (reverted ones included), by revision."""
        return self._select("partition_date = %s", [day])

    def overrides_between(self, start: date, end: date) -> list[Override]:
        return self._select("partition_date BETWEEN %s AND %s", [start, end])

    def revision(self, day: date) -> int:
        """The day's latest revision (0 before the first action)."""
        return int(
            self.w.scalar(
                "SELECT COALESCE(MAX(revision), 0) FROM editorial_overrides WHERE partition_date = %s", [day]
            )
            or 0
        )

    def save(self, day: date, actions: Sequence[Action], *, actor: str, base_revision: int) -> list[Override]:
        """Record ``actions`` as revisions ``base_revision + 1 ...`` of ``day``, all or nothing.

        Raises :class:`EditConflict` when ``base_revision`` is not the day's latest revision (someone
        saved in between), :class:`InvalidAction` for a malformed action or a revert of an unknown,
        already reverted or revert action."""
        if not actor:
            raise InvalidAction("an action needs an actor")
        for a in actions:
            a.validate()
        if not actions:
            return []
        try:
            with self.w.transaction():
                if self.w.dialect == "postgres":
                    self.w.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_KEY, day.toordinal()])
                current = self.revision(day)
                if current != base_revision:
                    raise EditConflict(
                        day,
                        base_revision,
                        current,
                        self._select("partition_date = %s AND revision > %s", [day, base_revision]),
                    )
                saved = [self._insert(day, base_revision + i + 1, a, actor) for i, a in enumerate(actions)]
        except (EditConflict, InvalidAction):
            raise
        except Exception as exc:
            if _is_unique_violation(exc):  # a concurrent save took the same revision first
                current = self.revision(day)
                raise EditConflict(
                    day,
                    base_revision,
                    current,
                    self._select("partition_date = %s AND revision > %s", [day, base_revision]),
                ) from exc
            raise
        return saved

    def _insert(self, day: date, revision: int, a: Action, actor: str) -> Override:
        o = Override(
            id=str(uuid.uuid4()),
            partition_date=day,
            revision=revision,
            action=a.action,
            entry_key=a.entry_key,
            field=a.field,
            value=a.value,
            before=a.before,
            actor=actor,
            created_at=self._now(),
        )
        if a.action == "revert":
            target = (
                self._select("id = CAST(%s AS UUID) AND partition_date = %s", [a.value, day])
                if _is_uuid(a.value)
                else []
            )
            if not target:
                raise InvalidAction(f"no action {a.value} on {day}")
            if target[0].action == "revert":
                raise InvalidAction("a revert cannot be reverted")
            if target[0].reverted_by:
                raise InvalidAction(f"{target[0].describe()} is already reverted")
        self.w.execute(
            "INSERT INTO editorial_overrides (id, partition_date, revision, action, entry_key, field, value, "
            "before, actor, created_at) VALUES (CAST(%s AS UUID), %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                o.id,
                day,
                revision,
                o.action,
                o.entry_key,
                o.field,
                _json(o.value),
                _json(o.before),
                actor,
                o.created_at,
            ],
        )
        if a.action == "revert":
            self.w.execute(
                "UPDATE editorial_overrides SET reverted_by = CAST(%s AS UUID) WHERE id = CAST(%s AS UUID)",
                [o.id, a.value],
            )
        return o


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@contextmanager
def open_editorial_store(postgres: PostgresResource) -> Iterator[EditorialStore]:
    """The store on the delivery database (PostgreSQL when configured, else the local DuckDB
    warehouse), migrated, closed afterwards."""
    with open_store(postgres) as delivery:
        yield EditorialStore(delivery.w)
