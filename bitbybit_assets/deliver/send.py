"""Send one day's newsletter to every active subscriber exactly once (no Dagster).

The loop over the ledger (:class:`~bitbybit_assets.deliver.store.DeliveryStore`):

1. the edition for this content (a changed newsletter after sending needs a recorded ``--resend``);
2. one ``pending`` row per active subscriber (``INSERT … ON CONFLICT DO NOTHING``);
3. rows of readers who left since are ``suppressed``;
4. each open row is *claimed* by one conditional UPDATE, its message built and handed to the
   transport, then marked ``sent`` (with the provider's id), ``deferred`` (temporary failure: 4xx,
   a dropped connection, throttling; retried with backoff up to ``max_attempts`` in this run and
   by any later run), or ``failed`` (permanent: 5xx on RCPT, which also marks the address
   ``bounced``). A transport-wide failure puts the row back to ``pending`` and stops the run;
5. rows a dead run left ``sending`` are reported *in doubt* and never re-sent automatically
   (``release_in_doubt`` is the operator's explicit choice).

The approval is re-read before every batch, so revoking it stops a send in progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from bitbybit_assets.deliver import tokens
from bitbybit_assets.deliver.message import NewsletterContent, build_message, new_message_id
from bitbybit_assets.deliver.records import LedgerRow
from bitbybit_assets.deliver.store import DeliveryStore
from resources.mail_base import PermanentDeliveryError, TemporaryDeliveryError, TransportError

log = logging.getLogger(__name__)


class SendResultLike(Protocol):
    provider_message_id: str


class MailSessionLike(Protocol):
    def send(self, message, recipient: str) -> SendResultLike: ...  # noqa: ANN001


@dataclass(frozen=True)
class SendOptions:
    mail_from: str
    public_url: str
    list_id: str
    server_key: bytes
    max_attempts: int = 3
    retry_backoff_seconds: float = 2.0
    batch_size: int = 50
    claim_timeout: timedelta = timedelta(minutes=30)


@dataclass
class SendReport:
    day: str
    edition: int
    enqueued: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0
    bounced: list[str] = field(default_factory=list)
    skipped_claimed: int = 0  # claimed by another run (or left meanwhile)
    in_doubt: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (transport failure, approval revoked)
    ledger: dict[str, int] = field(default_factory=dict)  # counts by status after the run

    @property
    def complete(self) -> bool:
        """Nothing left to send in this edition (every row is sent, failed or suppressed)."""
        return not self.stopped and self.ledger.get("pending", 0) == 0 and self.ledger.get("deferred", 0) == 0 \
            and self.ledger.get("sending", 0) == 0


def unsubscribe_url(options: SendOptions, subscriber_id: str, subscriber_secret: str) -> str:
    token = tokens.sign(options.server_key, "unsubscribe", subscriber_id, subscriber_secret)
    return f"{options.public_url}/unsubscribe/{token}"


def confirm_url(options: SendOptions, subscriber_id: str, subscriber_secret: str) -> str:
    token = tokens.sign(options.server_key, "confirm", subscriber_id, subscriber_secret)
    return f"{options.public_url}/confirm/{token}"


def deliver(store: DeliveryStore, content: NewsletterContent, session: AbstractContextManager[MailSessionLike],
            options: SendOptions, *, run_id: str, actor: str, resend: bool = False,
            resend_reason: str | None = None, still_approved: Callable[[], bool] = lambda: True,
            sleep: Callable[[float], None] = time.sleep) -> SendReport:
    """Send ``content`` to every active subscriber who has not received this edition yet."""
    day = content.day
    edition = store.edition_for(day, content_sha256=content.content_sha256, newsletter_id=content.newsletter_id,
                                actor=actor, resend=resend, reason=resend_reason)
    report = SendReport(day=day.isoformat(), edition=edition)
    report.enqueued = store.enqueue(day, edition)
    report.suppressed = store.suppress_inactive(day, edition)
    with session as mail:
        # max_attempts is per run: a row deferred by this run's last round waits for a later run
        for round_no in range(1, options.max_attempts + 1):
            rows = store.open_rows(day, edition)
            if not rows:
                break
            if round_no > 1:
                sleep(options.retry_backoff_seconds * 2 ** (round_no - 2))
            for batch in _batches(rows, options.batch_size):
                if not still_approved():
                    report.stopped = f"{day}: approval revoked while sending; stopped"
                    break
                for row in batch:
                    outcome = _send_one(store, mail, content, row, options, run_id, report)
                    if outcome == "stop":
                        break
                if report.stopped:
                    break
            if report.stopped:
                break
    report.suppressed += store.suppress_inactive(day, edition)
    report.in_doubt = [r.email for r in store.in_doubt(day, edition, older_than=options.claim_timeout)]
    report.ledger = store.ledger_counts(day, edition)
    return report


def _batches(rows: list[LedgerRow], size: int) -> Iterator[list[LedgerRow]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _send_one(store: DeliveryStore, mail: MailSessionLike, content: NewsletterContent, row: LedgerRow,
              options: SendOptions, run_id: str, report: SendReport) -> str:
    message_id = new_message_id(options.mail_from)
    claimed = store.claim(row.partition_date, row.edition, row.subscriber_id, claimed_by=run_id,
                          message_id=message_id)
    if claimed is None:
        report.skipped_claimed += 1
        return "skipped"
    try:
        sub = store.subscriber(claimed.subscriber_id)
        msg = build_message(
            content, recipient=claimed.email, recipient_name=sub.name, mail_from=options.mail_from,
            unsubscribe_url=unsubscribe_url(options, sub.id, sub.secret), list_id=options.list_id,
            message_id=message_id, sent_at=store.now(),
        )
    except Exception as exc:  # could not even build it: nothing went out
        store.release(claimed, f"message not built: {exc}")
        raise
    try:
        result = mail.send(msg, claimed.email)
    except PermanentDeliveryError as exc:
        store.mark_failed(claimed, str(exc))
        store.suppress_email(claimed.email, "bounced", actor=f"run:{run_id}", detail=str(exc)[:500])
        report.failed += 1
        report.bounced.append(claimed.email)
        return "failed"
    except TemporaryDeliveryError as exc:
        store.mark_deferred(claimed, str(exc))
        report.deferred += 1
        return "deferred"
    except TransportError as exc:
        store.release(claimed, str(exc))
        report.stopped = f"transport failed: {exc}"
        return "stop"
    # any other exception (a bug, the process being interrupted) leaves the row "sending": whether
    # the message went out is unknown, and it is reported in doubt rather than risk a duplicate
    store.mark_sent(claimed, result.provider_message_id)
    report.sent += 1
    return "sent"
