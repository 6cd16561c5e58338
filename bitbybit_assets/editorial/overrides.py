"""A day's editorial overrides as data: the :class:`Override` row and what still holds after reverts.

Pure (no Dagster, no polars). :func:`effective_overrides` keeps the latest pin/drop per article,
the latest value per (article, field) and per issue field, the latest order, and lists the rows it
could not understand; :mod:`bitbybit_assets.editorial.apply` applies the result to a day.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bitbybit_assets.rows import dataclass_from_row

ACTIONS = ("pin", "drop", "swap", "reorder", "edit", "revert")
ARTICLE_FIELDS = ("title", "summary", "tags")
ISSUE_FIELDS = ("subject", "preheader", "intro")
FIELDS = ARTICLE_FIELDS + ISSUE_FIELDS


def _load(value: Any) -> Any:
    """A stored JSON text as its value (a string that is not valid JSON stays as it is)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def short(key: str | None) -> str:
    """An entry_key shortened for messages."""
    return (key or "?")[:10]


@dataclass(frozen=True)
class Override:
    """One editorial action (a row of ``editorial_overrides``); ``value``/``before`` are parsed JSON."""

    id: str
    partition_date: date
    revision: int
    action: str
    entry_key: str | None = None
    field: str | None = None
    value: Any = None
    before: Any = None
    actor: str = ""
    created_at: datetime | None = None
    reverted_by: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Override:
        """From a database or lakehouse row (``value``/``before`` as JSON text)."""
        return dataclass_from_row(
            cls,
            row,
            id=str,
            revision=int,
            action=str,
            value=_load,
            before=_load,
            actor=lambda v: str(v or ""),
            reverted_by=lambda v: None if v is None else str(v),
        )

    def to_row(self) -> dict[str, Any]:
        """As a row with ``value``/``before`` as JSON text."""
        row = dataclasses.asdict(self)
        for name in ("value", "before"):
            row[name] = None if row[name] is None else json.dumps(row[name], ensure_ascii=False)
        return row

    def describe(self) -> str:
        """``swap 1a2b3c4d5e → 9f8e7d6c5b by ann (revision 3)``."""
        what = {
            "swap": f"swap {short(self.entry_key)} → {short(str(self.value))}",
            "reorder": "reorder",
            "edit": f"edit {self.field}" + (f" of {short(self.entry_key)}" if self.entry_key else ""),
            "revert": f"revert of {short(str(self.value))}",
        }.get(self.action, f"{self.action} {short(self.entry_key)}")
        return f"{what} by {self.actor or '?'} (revision {self.revision})"


def as_overrides(rows: Iterable[Override | Mapping[str, Any]]) -> list[Override]:
    return [r if isinstance(r, Override) else Override.from_row(r) for r in rows]


@dataclass(frozen=True)
class SelectionState:
    """An article's latest pin or drop; ``replaces`` is the pick a swap took it in for."""

    kind: str  # pin | drop
    row: Override
    replaces: str | None = None


@dataclass
class Effective:
    """The overrides of one day that still hold."""

    selection: dict[str, SelectionState] = field(default_factory=dict)
    order: list[str] | None = None
    order_row: Override | None = None
    article_edits: dict[str, dict[str, Override]] = field(default_factory=dict)
    issue_edits: dict[str, Override] = field(default_factory=dict)
    active: list[Override] = field(default_factory=list)  # every action that still holds
    invalid: list[str] = field(default_factory=list)  # rows that could not be understood

    def __bool__(self) -> bool:
        return bool(self.active)

    def named_keys(self) -> list[tuple[str, Override]]:
        """Every (entry_key, action) the active overrides name (swaps and reorders name several)."""
        out: list[tuple[str, Override]] = []
        for o in self.active:
            if o.entry_key:
                out.append((o.entry_key, o))
            if o.action == "swap" and isinstance(o.value, str):
                out.append((o.value, o))
            if o.action == "reorder" and o is self.order_row:
                out.extend((k, o) for k in self.order or [])
        return out


def effective_overrides(rows: Iterable[Override | Mapping[str, Any]]) -> Effective:
    """The overrides of one day that hold: reverted rows (``reverted_by`` set, or named by a
    ``revert`` row) are ignored; later revisions win per article (pin/drop/swap), per (article,
    field) and per issue field; the latest reorder sets the order."""
    overrides = sorted(as_overrides(rows), key=lambda o: (o.revision, o.created_at or datetime.min))
    reverted = {str(o.value) for o in overrides if o.action == "revert"}
    eff = Effective()
    for o in overrides:
        if o.action == "revert" or o.reverted_by or o.id in reverted:
            continue
        if o.action not in ACTIONS:
            eff.invalid.append(f"unknown action {o.action!r}: {o.describe()}")
            continue
        if o.action in ("pin", "drop", "swap") and not o.entry_key:
            eff.invalid.append(f"{o.describe()}: names no article")
            continue
        if o.action == "pin":
            eff.selection[o.entry_key] = SelectionState("pin", o)
        elif o.action == "drop":
            eff.selection[o.entry_key] = SelectionState("drop", o)
        elif o.action == "swap":
            if not isinstance(o.value, str) or not o.value or o.value == o.entry_key:
                eff.invalid.append(f"{o.describe()}: no article to swap in")
                continue
            eff.selection[o.entry_key] = SelectionState("drop", o)
            eff.selection[o.value] = SelectionState("pin", o, replaces=o.entry_key)
        elif o.action == "reorder":
            if not isinstance(o.value, list) or not all(isinstance(k, str) for k in o.value):
                eff.invalid.append(f"{o.describe()}: the order is not a list of articles")
                continue
            eff.order, eff.order_row = list(dict.fromkeys(o.value)), o
        elif o.action == "edit":
            if o.field not in FIELDS or (o.field in ISSUE_FIELDS) == bool(o.entry_key):
                eff.invalid.append(f"{o.describe()}: not an editable field here")
                continue
            if o.field in ISSUE_FIELDS:
                eff.issue_edits[o.field] = o
            else:
                eff.article_edits.setdefault(o.entry_key, {})[o.field] = o
        eff.active.append(o)
    return eff


def as_effective(overrides: Effective | Iterable[Override | Mapping[str, Any]]) -> Effective:
    return overrides if isinstance(overrides, Effective) else effective_overrides(overrides)


def by_day(rows: Iterable[Override | Mapping[str, Any]]) -> dict[date, list[Override]]:
    """Overrides grouped by ``partition_date``."""
    out: dict[date, list[Override]] = {}
    for o in as_overrides(rows):
        out.setdefault(o.partition_date, []).append(o)
    return out
