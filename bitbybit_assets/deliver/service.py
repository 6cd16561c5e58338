"""Delivery operations shared by the asset, the CLI and the desk: load a day's issue, approve it,
send it (to everyone, or a test to one address), subscribe with optional double opt-in.

No Dagster import: callers hand in the store, the lakehouse, the mail transport and the settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import polars as pl

from bitbybit_assets.deliver import approval as approval_rules
from bitbybit_assets.deliver.message import NewsletterContent, build_message, new_message_id
from bitbybit_assets.deliver.records import DeliveryStateError, Subscriber
from bitbybit_assets.deliver.send import SendOptions, SendReport, confirm_url, deliver
from bitbybit_assets.deliver.store import DeliveryStore
from bitbybit_base.settings import DeliverySettings

NEWSLETTER_COLUMNS = ["partition_date", "newsletter_id", "subject_line", "preheader", "html", "text"]


class NotApproved(DeliveryStateError):
    """The day's newsletter may not be sent (draft, stale approval, checks failing, too early)."""


def content_from_frame(df: pl.DataFrame, day: date) -> NewsletterContent:
    """The day's newsletter from a ``newsletters`` frame; :class:`DeliveryStateError` if absent."""
    rows = df.filter(pl.col("partition_date") == day).to_dicts() if df.height else []
    if not rows:
        raise DeliveryStateError(f"{day}: there is no newsletter for this day (materialise newsletters first)")
    r = rows[0]
    return NewsletterContent(day=day, newsletter_id=r["newsletter_id"], subject=r["subject_line"] or "",
                             preheader=r.get("preheader") or "", html=r.get("html") or "", text=r.get("text") or "")


def load_content(lakehouse: Any, day: date) -> NewsletterContent:
    """The day's newsletter as stored in the lakehouse ``newsletters`` table."""
    return content_from_frame(lakehouse.read_days("newsletters", day, day, NEWSLETTER_COLUMNS), day)


def send_options(settings: DeliverySettings, *, mail_from: str, public_url: str, server_key: bytes) -> SendOptions:
    return SendOptions(
        mail_from=mail_from, public_url=public_url, list_id=settings.list_id, server_key=server_key,
        max_attempts=settings.max_attempts, retry_backoff_seconds=settings.retry_backoff_seconds,
        batch_size=settings.batch_size, claim_timeout=timedelta(minutes=settings.claim_timeout_minutes),
    )


def approve(store: DeliveryStore, content: NewsletterContent, *, actor: str, note: str | None = None):
    """An editor's approval of exactly this content."""
    return store.approve(content.day, newsletter_id=content.newsletter_id,
                         content_sha256=content.content_sha256, actor=actor, mode="manual", note=note)


def send_decision(store: DeliveryStore, content: NewsletterContent, settings: DeliverySettings, *,
                  now: datetime, blocking_failures: Callable[[date], list[str]]):
    current = store.approval(content.day)
    approved = current is not None and current.status == "approved"
    failures = blocking_failures(content.day) if settings.approval == "auto" and not (
        approved and current.content_sha256 == content.content_sha256) else []
    return approval_rules.decide(
        day=content.day, mode=settings.approval, content_sha256=content.content_sha256,
        approved_sha256=current.content_sha256 if current else None, approved=approved,
        blocking_failures=failures, now=now, send_time=settings.send_time, timezone=settings.send_timezone,
    )


def send_day(store: DeliveryStore, content: NewsletterContent, session: Any, settings: DeliverySettings,
             options: SendOptions, *, run_id: str, actor: str, now: datetime,
             blocking_failures: Callable[[date], list[str]], resend: bool = False,
             resend_reason: str | None = None, sleep: Callable[[float], None] | None = None) -> SendReport:
    """Send the day's issue if it may go out; :class:`NotApproved` says why not."""
    decision = send_decision(store, content, settings, now=now, blocking_failures=blocking_failures)
    if not decision.allowed:
        raise NotApproved(decision.reason)
    if decision.approve_as:
        store.approve(content.day, newsletter_id=content.newsletter_id, content_sha256=content.content_sha256,
                      actor=decision.approve_as, mode="auto", note=decision.reason)

    def still_approved() -> bool:
        a = store.approval(content.day)
        return a is not None and a.status == "approved" and a.content_sha256 == content.content_sha256

    kwargs: dict[str, Any] = {"sleep": sleep} if sleep else {}
    return deliver(store, content, session, options, run_id=run_id, actor=actor, resend=resend,
                   resend_reason=resend_reason, still_approved=still_approved, **kwargs)


def send_test(content: NewsletterContent, mail: Any, options: SendOptions, *, to: str, now: datetime) -> str:
    """The real email of the day to one address, marked ``[TEST]``; the ledger is not touched.
    Returns the provider's message id."""
    msg = build_message(content, recipient=to, recipient_name=None, mail_from=options.mail_from,
                        unsubscribe_url=f"{options.public_url}/unsubscribe/test", list_id=options.list_id,
                        message_id=new_message_id(options.mail_from), sent_at=now, subject_prefix="[TEST] ")
    return mail.send(msg, to).provider_message_id


def confirmation_message(sub: Subscriber, options: SendOptions, *, now: datetime,
                         title: str = "bitbybit") -> EmailMessage:
    """The double opt-in email: one signed link that activates the subscription."""
    link = confirm_url(options, sub.id, sub.secret)
    msg = EmailMessage()
    msg["From"] = options.mail_from
    msg["To"] = sub.email
    msg["Subject"] = f"Confirm your subscription to {title}"
    msg["Message-ID"] = new_message_id(options.mail_from)
    msg["Auto-Submitted"] = "auto-generated"
    msg["Date"] = format_datetime(now)
    msg.set_content(
        f"Someone (hopefully you) asked to receive {title} at this address.\n\n"
        f"Confirm here: {link}\n\nIf it was not you, ignore this message: nothing will be sent.\n"
    )
    return msg


def subscribe(store: DeliveryStore, email: str, name: str | None, *, source: str, actor: str,
              double_opt_in: bool, mail: Any | None = None, options: SendOptions | None = None,
              now: datetime | None = None) -> tuple[Subscriber, bool]:
    """Add a subscriber; with double opt-in they stay ``pending`` and get a confirmation email."""
    sub, created = store.add_subscriber(email, name, source=source, actor=actor, pending=double_opt_in)
    if created and double_opt_in:
        if mail is None or options is None:
            raise ValueError("double opt-in needs a mail session and send options")
        mail.send(confirmation_message(sub, options, now=now or store.now()), sub.email)
    return sub, created


def release_in_doubt(store: DeliveryStore, day: date, options: SendOptions, *, actor: str) -> int:
    """Put recipients a dead run left ``sending`` back in the queue (the operator accepts that they
    may receive the issue twice); the count released."""
    editions = store.editions(day)
    if not editions:
        return 0
    return store.release_in_doubt(day, int(editions[-1]["edition"]), older_than=options.claim_timeout, actor=actor)


def run_id_for_cli() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"
