"""Stored rows as dataclass values: the shared converter and the rows it builds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from bitbybit_assets.deliver.records import ledger_from_row, subscriber_from_row
from bitbybit_assets.editorial.overrides import Override
from bitbybit_assets.rows import dataclass_from_row

DAY = date(2026, 8, 5)
NOW = datetime(2026, 8, 5, 9, 30)


@dataclass(frozen=True)
class _Row:
    id: str
    count: int
    note: str | None = None


def test_fields_are_kept_converted_and_defaulted():
    row = {"id": 7, "count": "3", "extra": "ignored"}
    assert dataclass_from_row(_Row, row, id=str, count=int) == _Row("7", 3, None)
    assert dataclass_from_row(_Row, {"id": "a", "count": 1, "note": "n"}) == _Row("a", 1, "n")


def test_delivery_rows_take_their_ids_as_text():
    uid = uuid.uuid4()
    sub = subscriber_from_row(
        {
            "id": uid,
            "email": "a@example.com",
            "name": None,
            "status": "active",
            "source": "import",
            "secret": "s",
            "created_at": NOW,
            "updated_at": NOW,
            "not_a_field": 1,
        }
    )
    assert sub.id == str(uid) and sub.confirmed_at is None and sub.status_reason is None
    led = ledger_from_row(
        {
            "partition_date": DAY,
            "edition": 1,
            "subscriber_id": uid,
            "email": "a@example.com",
            "status": "sent",
            "attempts": 1,
            "sent_at": NOW,
        }
    )
    assert led.subscriber_id == str(uid) and led.sent_at == NOW and led.error is None


def test_override_from_a_sparse_row():
    """Optional columns may be missing or NULL: the defaults hold, JSON text is parsed."""
    o = Override.from_row(
        {
            "id": 12,
            "partition_date": DAY,
            "revision": "2",
            "action": "edit",
            "field": "subject",
            "value": '"New subject"',
            "actor": None,
            "reverted_by": None,
        }
    )
    assert o == Override("12", DAY, 2, "edit", field="subject", value="New subject", actor="")
    reverted = Override.from_row(
        {
            "id": "a",
            "partition_date": DAY,
            "revision": 1,
            "action": "pin",
            "entry_key": "k01",
            "before": "not json",
            "reverted_by": 9,
        }
    )
    assert reverted.reverted_by == "9" and reverted.before == "not json" and reverted.value is None
