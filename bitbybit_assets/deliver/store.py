"""The delivery tables (subscribers, approvals, editions, send ledger) read and written in one place.

Works on either warehouse adapter (:mod:`resources.warehouse_db`): PostgreSQL in production and
in tests of concurrency, the local DuckDB warehouse for the demo. Exactly-once sending rests on the
database, not on process memory: a ledger row is *claimed* by one conditional ``UPDATE`` (``pending``
→ ``sending``, and only while the subscriber is still active) before its message goes out, so a
second run, a retry or a re-materialisation never sends to the same row again.second run, a retry or a re-materialisation never sends to the same row again. The rows themselves
(and the statuses) are in :mod:`bitbybit_assets.deliver.records`.

Over 400 lines because every query on the delivery tables lives in this one class, so the claim and
status rules can be read (and changed) in one place.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bitbybit_assets.deliver.records import (
    LEDGER_STATUSES,
    SUBSCRIBER_STATUSES,
    Approval,
    DeliveryStateError,
    ImportOutcome,
    LedgerRow,
    Subscriber,
    SubscriberNotFound,
    ledger_from_row,
    subscriber_from_row,
)
from resources.warehouse_db import Warehouse


class DeliveryStore:
    """Subscribers, approvals and the send ledger over one warehouse connection."""

    def __init__(self, warehouse: Warehouse, *, now: Callable[[], datetime] | None = None) -> None:
        self.w = warehouse
        self._now = now or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._now()

    # ------------------------------------------------------------------ subscribers

    def subscriber(self, subscriber_id: str | uuid.UUID) -> Subscriber:
        rows = self.w.query("SELECT * FROM subscribers WHERE id = CAST(%s AS UUID)", [str(subscriber_id)])
        if not rows:
            raise SubscriberNotFound(f"no subscriber {subscriber_id}")
        return subscriber_from_row(rows[0])

    def subscriber_by_email(self, email: str) -> Subscriber | None:
        rows = self.w.query("SELECT * FROM subscribers WHERE email = %s", [email])
        return subscriber_from_row(rows[0]) if rows else None

    def subscribers(self, status: str | None = None) -> list[Subscriber]:
        if status is not None and status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(SUBSCRIBER_STATUSES)}")
        if status:
            rows = self.w.query("SELECT * FROM subscribers WHERE status = %s ORDER BY email", [status])
        else:
            rows = self.w.query("SELECT * FROM subscribers ORDER BY email")
        return [subscriber_from_row(r) for r in rows]

    def counts_by_status(self) -> dict[str, int]:
        rows = self.w.query("SELECT status, COUNT(*) AS n FROM subscribers GROUP BY status")
        return {s: 0 for s in SUBSCRIBER_STATUSES} | {r["status"]: int(r["n"]) for r in rows}

    def _event(self, subscriber_id: str, event: str, old: str | None, new: str | None, actor: str,
               detail: str | None = None) -> None:
        self.w.execute(
            "INSERT INTO subscriber_events (id, subscriber_id, event, old_status, new_status, actor, detail, "
            "created_at) VALUES (CAST(%s AS UUID), CAST(%s AS UUID), %s, %s, %s, %s, %s, %s)",
            [str(uuid.uuid4()), subscriber_id, event, old, new, actor, detail, self.now()],
        )

    def _insert_subscriber(self, email: str, name: str | None, status: str, source: str, actor: str) -> str:
        sid, now = str(uuid.uuid4()), self.now()
        self.w.execute(
            "INSERT INTO subscribers (id, email, name, status, source, secret, created_at, updated_at, "
            "confirmed_at) VALUES (CAST(%s AS UUID), %s, %s, %s, %s, %s, %s, %s, %s)",
            [sid, email, name, status, source, secrets.token_urlsafe(24), now, now,
             now if status == "active" else None],
        )
        self._event(sid, "added", None, status, actor, f"source={source}")
        return sid

    def add_subscriber(self, email: str, name: str | None, *, source: str, actor: str,
                       pending: bool = False) -> tuple[Subscriber, bool]:
        """Add one (already normalised) address; ``(subscriber, created)``. An existing address is
        returned unchanged: an unsubscribed, bounced or complained reader is never re-subscribed
        behind their back (see :meth:`reactivate`)."""
        with self.w.transaction():
            existing = self.subscriber_by_email(email)
            if existing:
                return existing, False
            sid = self._insert_subscriber(email, name, "pending" if pending else "active", source, actor)
        return self.subscriber(sid), True

    def import_subscribers(self, rows: Iterable[tuple[str, str | None]], *, source: str, actor: str,
                           pending: bool = False) -> ImportOutcome:
        """Add every new address in one transaction (all or nothing); known ones are reported."""
        added: list[str] = []
        present: dict[str, str] = {}
        status = "pending" if pending else "active"
        with self.w.transaction():
            known = {r["email"]: r["status"] for r in self.w.query("SELECT email, status FROM subscribers")}
            for email, name in rows:
                if email in known:
                    present[email] = known[email]
                    continue
                self._insert_subscriber(email, name, status, source, actor)
                known[email] = status
                added.append(email)
        return ImportOutcome(added, present)

    def set_status(self, subscriber_id: str, new_status: str, *, event: str, actor: str,
                   detail: str | None = None, only_from: Sequence[str] | None = None) -> bool:
        """Change a subscriber's status with an audit event; ``False`` when nothing changed (already
        in that status, or not in ``only_from``)."""
        if new_status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"status {new_status!r} is not one of {', '.join(SUBSCRIBER_STATUSES)}")
        with self.w.transaction():
            sub = self.subscriber(subscriber_id)
            if sub.status == new_status or (only_from is not None and sub.status not in only_from):
                return False
            now = self.now()
            self.w.execute(
                "UPDATE subscribers SET status = %s, status_reason = %s, updated_at = %s, "
                "confirmed_at = CASE WHEN %s = 'active' AND confirmed_at IS NULL THEN %s ELSE confirmed_at END, "
                "unsubscribed_at = CASE WHEN %s IN ('unsubscribed', 'bounced', 'complained') THEN %s "
                "ELSE unsubscribed_at END WHERE id = CAST(%s AS UUID)",
                [new_status, detail, now, new_status, now, new_status, now, sub.id],
            )
            self._event(sub.id, event, sub.status, new_status, actor, detail)
        return True

    def unsubscribe(self, subscriber_id: str, *, actor: str, detail: str | None = None) -> bool:
        return self.set_status(subscriber_id, "unsubscribed", event="unsubscribed", actor=actor, detail=detail)

    def confirm(self, subscriber_id: str, *, actor: str) -> bool:
        """Double opt-in: ``pending`` → ``active`` (a confirmation never revives a suppressed reader)."""
        return self.set_status(subscriber_id, "active", event="confirmed", actor=actor, only_from=("pending",))

    def reactivate(self, subscriber_id: str, *, actor: str, detail: str) -> bool:
        """An operator's explicit, recorded decision to send to a suppressed address again."""
        return self.set_status(subscriber_id, "active", event="reactivated", actor=actor, detail=detail)

    def suppress_email(self, email: str, status: str, *, actor: str, detail: str) -> bool:
        """Mark an address ``bounced`` or ``complained`` (bounce/complaint feedback, SMTP 5xx)."""
        if status not in ("bounced", "complained"):
            raise ValueError(f"cannot suppress with status {status!r}")
        sub = self.subscriber_by_email(email)
        if sub is None:
            return False
        if sub.status == "complained" and status == "bounced":
            return False  # a complaint is the stronger signal: keep it
        return self.set_status(sub.id, status, event=status, actor=actor, detail=detail)

    def rotate_secret(self, subscriber_id: str, *, actor: str) -> None:
        """Revoke every signed link issued to the subscriber so far."""
        with self.w.transaction():
            sub = self.subscriber(subscriber_id)
            self.w.execute(
                "UPDATE subscribers SET secret = %s, updated_at = %s WHERE id = CAST(%s AS UUID)",
                [secrets.token_urlsafe(24), self.now(), sub.id],
            )
            self._event(sub.id, "secret_rotated", sub.status, sub.status, actor)

    def status_changes_between(self, start: datetime | None, end: datetime, statuses: Sequence[str]) -> int:
        """How many subscribers moved into one of ``statuses`` in ``(start, end]``."""
        marks = ", ".join(["%s"] * len(statuses))
        sql = f"SELECT COUNT(DISTINCT subscriber_id) FROM subscriber_events WHERE new_status IN ({marks}) " \
              "AND created_at <= %s"
        params: list[Any] = [*statuses, end]
        if start is not None:
            sql += " AND created_at > %s"
            params.append(start)
        return int(self.w.scalar(sql, params) or 0)

    # ------------------------------------------------------------------ approvals

    def approval(self, day: date) -> Approval | None:
        rows = self.w.query("SELECT * FROM newsletter_approvals WHERE partition_date = %s", [day])
        if not rows:
            return None
        fields = Approval.__dataclass_fields__
        return Approval(**{k: v for k, v in rows[0].items() if k in fields})

    def approve(self, day: date, *, newsletter_id: str, content_sha256: str, actor: str, mode: str,
                note: str | None = None) -> Approval:
        """Approve exactly this content of the day's newsletter (a later change needs a new approval)."""
        now = self.now()
        with self.w.transaction():
            self.w.execute("DELETE FROM newsletter_approvals WHERE partition_date = %s", [day])
            self.w.execute(
                "INSERT INTO newsletter_approvals (partition_date, status, newsletter_id, content_sha256, "
                "approved_by, approved_at, mode, updated_at) VALUES (%s, 'approved', %s, %s, %s, %s, %s, %s)",
                [day, newsletter_id, content_sha256, actor, now, mode, now],
            )
            self.w.execute(
                "INSERT INTO approval_events (id, partition_date, action, actor, content_sha256, note, created_at) "
                "VALUES (CAST(%s AS UUID), %s, 'approved', %s, %s, %s, %s)",
                [str(uuid.uuid4()), day, actor, content_sha256, note, now],
            )
        approval = self.approval(day)
        assert approval is not None
        return approval

    def revoke_approval(self, day: date, *, actor: str, note: str | None = None) -> bool:
        """Back to ``draft`` (sending stops before the next recipient is claimed)."""
        now = self.now()
        with self.w.transaction():
            current = self.approval(day)
            if current is None or current.status != "approved":
                return False
            self.w.execute(
                "UPDATE newsletter_approvals SET status = 'draft', updated_at = %s WHERE partition_date = %s",
                [now, day],
            )
            self.w.execute(
                "INSERT INTO approval_events (id, partition_date, action, actor, content_sha256, note, created_at) "
                "VALUES (CAST(%s AS UUID), %s, 'revoked', %s, %s, %s, %s)",
                [str(uuid.uuid4()), day, actor, current.content_sha256, note, now],
            )
        return True

    def approval_history(self, day: date) -> list[dict[str, Any]]:
        return self.w.query(
            "SELECT action, actor, content_sha256, note, created_at FROM approval_events "
            "WHERE partition_date = %s ORDER BY created_at", [day])  # fmt: skip

    # ------------------------------------------------------------------ editions

    def editions(self, day: date) -> list[dict[str, Any]]:
        return self.w.query("SELECT * FROM send_editions WHERE partition_date = %s ORDER BY edition", [day])

    def sent_count(self, day: date, edition: int | None = None) -> int:
        if edition is None:
            return int(self.w.scalar(
                "SELECT COUNT(*) FROM send_ledger WHERE partition_date = %s AND status = 'sent'", [day]) or 0)
        return int(self.w.scalar(
            "SELECT COUNT(*) FROM send_ledger WHERE partition_date = %s AND edition = %s AND status = 'sent'",
            [day, edition]) or 0)  # fmt: skip

    def edition_for(self, day: date, *, content_sha256: str, newsletter_id: str, actor: str,
                    resend: bool = False, reason: str | None = None) -> int:
        """The edition a send of this content belongs to.

        The first send creates edition 1. The same content continues the latest edition (a retry or
        a re-run completes it). Different content after anything went out is refused unless
        ``resend`` is asked for: that records a new edition (who, why) which goes to every active
        subscriber again. Before anything went out, new content simply replaces the edition's.
        """
        now = self.now()
        with self.w.transaction():
            rows = self.editions(day)
            latest = rows[-1] if rows else None
            if resend and (latest is None or not self.sent_count(day, int(latest["edition"]))):
                raise DeliveryStateError(f"{day}: nothing was sent yet; send it normally (no --resend)")
            if latest is None or resend:
                number = 1 if latest is None else int(latest["edition"]) + 1
                if resend and not (reason or "").strip():
                    raise DeliveryStateError("--resend needs a reason (it is recorded)")
                self.w.execute(
                    "INSERT INTO send_editions (partition_date, edition, content_sha256, newsletter_id, "
                    "requested_by, reason, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [day, number, content_sha256, newsletter_id, actor, reason, now],
                )
                return number
            number = int(latest["edition"])
            if latest["content_sha256"] == content_sha256:
                return number
            if self.sent_count(day, number):
                raise DeliveryStateError(
                    f"{day}: the newsletter changed after edition {number} went out to "
                    f"{self.sent_count(day, number)} reader(s); it is not sent again unless you ask for "
                    "a recorded resend (bitbybit send --day DAY --resend --reason '...')"
                )
            self.w.execute(
                "UPDATE send_editions SET content_sha256 = %s, newsletter_id = %s WHERE partition_date = %s "
                "AND edition = %s", [content_sha256, newsletter_id, day, number])  # fmt: skip
            return number

    # ------------------------------------------------------------------ ledger

    def enqueue(self, day: date, edition: int) -> int:
        """One ``pending`` row per active subscriber not yet in this edition's ledger; the count added."""
        now = self.now()
        before = int(self.w.scalar(
            "SELECT COUNT(*) FROM send_ledger WHERE partition_date = %s AND edition = %s", [day, edition]) or 0)
        self.w.execute(
            "INSERT INTO send_ledger (partition_date, edition, subscriber_id, email, status, attempts, "
            "created_at, updated_at) SELECT %s, %s, s.id, s.email, 'pending', 0, %s, %s FROM subscribers s "
            "WHERE s.status = 'active' ON CONFLICT DO NOTHING",
            [day, edition, now, now],
        )
        after = int(self.w.scalar(
            "SELECT COUNT(*) FROM send_ledger WHERE partition_date = %s AND edition = %s", [day, edition]) or 0)
        return after - before

    def suppress_inactive(self, day: date, edition: int) -> int:
        """Open rows of subscribers who are no longer active become ``suppressed``; the count."""
        rows = self.w.query(
            "UPDATE send_ledger SET status = 'suppressed', updated_at = %s, error = 'subscriber ' || "
            "(SELECT s.status FROM subscribers s WHERE s.id = send_ledger.subscriber_id) "
            "WHERE partition_date = %s AND edition = %s AND status IN ('pending', 'deferred') AND "
            "subscriber_id NOT IN (SELECT id FROM subscribers WHERE status = 'active') RETURNING subscriber_id",
            [self.now(), day, edition],
        )
        return len(rows)

    def open_rows(self, day: date, edition: int, limit: int | None = None) -> list[LedgerRow]:
        sql = ("SELECT * FROM send_ledger WHERE partition_date = %s AND edition = %s AND status IN "
               "('pending', 'deferred') ORDER BY email")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [ledger_from_row(r) for r in self.w.query(sql, [day, edition])]

    def claim(self, day: date, edition: int, subscriber_id: str, *, claimed_by: str,
              message_id: str) -> LedgerRow | None:
        """Take one open row for sending (``sending``, attempts + 1); ``None`` when another run has it,
        it was already sent, or the subscriber is no longer active. One statement: atomic."""
        rows = self.w.query(
            "UPDATE send_ledger SET status = 'sending', claimed_by = %s, claimed_at = %s, updated_at = %s, "
            "attempts = attempts + 1, message_id = %s WHERE partition_date = %s AND edition = %s AND "
            "subscriber_id = CAST(%s AS UUID) AND status IN ('pending', 'deferred') AND subscriber_id IN "
            "(SELECT id FROM subscribers WHERE status = 'active') RETURNING *",
            [claimed_by, self.now(), self.now(), message_id, day, edition, subscriber_id],
        )
        return ledger_from_row(rows[0]) if rows else None

    def _finish(self, row: LedgerRow, status: str, *, error: str | None = None,
                provider_message_id: str | None = None) -> None:
        now = self.now()
        self.w.execute(
            "UPDATE send_ledger SET status = %s, error = %s, provider_message_id = COALESCE(%s, "
            "provider_message_id), sent_at = CASE WHEN %s = 'sent' THEN %s ELSE sent_at END, updated_at = %s, "
            "claimed_by = CASE WHEN %s = 'sending' THEN claimed_by ELSE NULL END "
            "WHERE partition_date = %s AND edition = %s AND subscriber_id = CAST(%s AS UUID) AND status = 'sending'",
            [status, error, provider_message_id, status, now, now, status, row.partition_date, row.edition,
             row.subscriber_id],
        )

    def mark_sent(self, row: LedgerRow, provider_message_id: str) -> None:
        self._finish(row, "sent", provider_message_id=provider_message_id)

    def mark_deferred(self, row: LedgerRow, error: str) -> None:
        """A temporary failure: the row goes back to the queue for this or a later run."""
        self._finish(row, "deferred", error=error[:2000])

    def mark_failed(self, row: LedgerRow, error: str) -> None:
        """A permanent failure for this recipient (never retried)."""
        self._finish(row, "failed", error=error[:2000])

    def release(self, row: LedgerRow, error: str) -> None:
        """The transport failed before this message could go out: back to ``pending``, attempt not counted."""
        now = self.now()
        self.w.execute(
            "UPDATE send_ledger SET status = 'pending', attempts = attempts - 1, error = %s, claimed_by = NULL, "
            "updated_at = %s WHERE partition_date = %s AND edition = %s AND subscriber_id = CAST(%s AS UUID) "
            "AND status = 'sending'",
            [error[:2000], now, row.partition_date, row.edition, row.subscriber_id],
        )

    def in_doubt(self, day: date, edition: int, *, older_than: timedelta) -> list[LedgerRow]:
        """Rows still ``sending`` whose claim is older than ``older_than``: the run that claimed them
        died between handing the message over and recording it, so whether it went out is unknown."""
        cutoff = self.now() - older_than
        return [ledger_from_row(r) for r in self.w.query(
            "SELECT * FROM send_ledger WHERE partition_date = %s AND edition = %s AND status = 'sending' "
            "AND claimed_at < %s ORDER BY email", [day, edition, cutoff])]  # fmt: skip

    def release_in_doubt(self, day: date, edition: int, *, older_than: timedelta, actor: str) -> int:
        """An operator's explicit decision to retry in-doubt rows (they may receive the issue twice)."""
        cutoff = self.now() - older_than
        rows = self.w.query(
            "UPDATE send_ledger SET status = 'pending', claimed_by = NULL, updated_at = %s, error = %s "
            "WHERE partition_date = %s AND edition = %s AND status = 'sending' AND claimed_at < %s "
            "RETURNING subscriber_id",
            [self.now(), f"in doubt; released for retry by {actor}", day, edition, cutoff],
        )
        return len(rows)

    def ledger(self, day: date, edition: int | None = None) -> list[LedgerRow]:
        if edition is None:
            rows = self.w.query(
                "SELECT * FROM send_ledger WHERE partition_date = %s ORDER BY edition, email", [day])
        else:
            rows = self.w.query(
                "SELECT * FROM send_ledger WHERE partition_date = %s AND edition = %s ORDER BY email",
                [day, edition])
        return [ledger_from_row(r) for r in rows]

    def ledger_counts(self, day: date, edition: int | None = None) -> dict[str, int]:
        sql = "SELECT status, COUNT(*) AS n FROM send_ledger WHERE partition_date = %s"
        params: list[Any] = [day]
        if edition is not None:
            sql += " AND edition = %s"
            params.append(edition)
        rows = self.w.query(sql + " GROUP BY status", params)
        return {s: 0 for s in LEDGER_STATUSES} | {r["status"]: int(r["n"]) for r in rows}

    def last_send_before(self, day: date) -> datetime | None:
        """When the latest message of an earlier day went out (for "unsubscribed since last")."""
        return self.w.scalar(
            "SELECT MAX(sent_at) FROM send_ledger WHERE partition_date < %s AND status = 'sent'", [day])
