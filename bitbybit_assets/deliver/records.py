"""The delivery tables' rows as values: subscribers, approvals, ledger rows, their statuses and errors.

Read and written by :class:`~bitbybit_assets.deliver.store.DeliveryStore`; shared with the desk and
the send loop, which only read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bitbybit_assets.rows import dataclass_from_row

SUBSCRIBER_STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
SUPPRESSED_STATUSES = ("unsubscribed", "bounced", "complained")
LEDGER_STATUSES = ("pending", "sending", "sent", "deferred", "failed", "suppressed")
OPEN_STATUSES = ("pending", "deferred")  # rows a run may still claim


class DeliveryStateError(RuntimeError):
    """The operation contradicts the stored state (not approved, changed after sending, unknown day)."""


class SubscriberNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Subscriber:
    id: str
    email: str
    name: str | None
    status: str
    source: str
    secret: str
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    status_reason: str | None = None


@dataclass(frozen=True)
class Approval:
    partition_date: date
    status: str  # draft | approved
    newsletter_id: str | None
    content_sha256: str | None
    approved_by: str | None
    approved_at: datetime | None
    mode: str | None


@dataclass(frozen=True)
class LedgerRow:
    partition_date: date
    edition: int
    subscriber_id: str
    email: str
    status: str
    attempts: int
    message_id: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class ImportOutcome:
    added: list[str]
    already_present: dict[str, str]  # email -> its current status (never changed by an import)


def subscriber_from_row(row: dict[str, Any]) -> Subscriber:
    return dataclass_from_row(Subscriber, row, id=str)


def ledger_from_row(row: dict[str, Any]) -> LedgerRow:
    return dataclass_from_row(LedgerRow, row, subscriber_id=str)
