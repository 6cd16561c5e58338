"""The delivery commands of the ``bitbybit`` CLI: subscribers, approve, send, mailsink.

Each handler returns a process exit code and writes to the ``bitbybit`` logger (the CLI prints it).
Resources are the same classes the Dagster definitions use, reading the same settings.
"""

from __future__ import annotations

import argparse
import getpass
import logging
from datetime import UTC, date, datetime
from pathlib import Path

from bitbybit_assets.checks import blocking_failures
from bitbybit_assets.deliver import addresses
from bitbybit_assets.deliver.database import delivery_target, open_store
from bitbybit_assets.deliver.mailsink import serve as serve_mailsink
from bitbybit_assets.deliver.records import SUBSCRIBER_STATUSES, DeliveryStateError
from bitbybit_assets.deliver.service import (
    approve,
    confirmation_message,
    load_content,
    send_options,
    send_test,
    subscribe,
)
from bitbybit_assets.runs import run_delivery
from bitbybit_base.settings import output_dir, public_url, runtime_settings, secret_key
from resources.email import EmailSender
from resources.lakehouse import Lakehouse
from resources.mail_base import DeliveryError
from resources.postgres import PostgresResource

log = logging.getLogger("bitbybit")


def _actor(args: argparse.Namespace) -> str:
    return getattr(args, "by", None) or f"cli:{getpass.getuser()}"


def _options(sender: EmailSender):
    cfg = runtime_settings().delivery
    return send_options(cfg, mail_from=sender.sender_address(), public_url=public_url(cfg.public_url),
                        server_key=secret_key())


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``subscribers``, ``approve``, ``send`` and ``mailsink``."""
    subs = sub.add_parser("subscribers", help="manage subscribers").add_subparsers(dest="action", required=True)
    add = subs.add_parser("add", help="add one subscriber")
    add.add_argument("email")
    add.add_argument("--name")
    imp = subs.add_parser("import", help="import a CSV (header with email[, name]); all rows or none")
    imp.add_argument("file", type=Path)
    rm = subs.add_parser("remove", help="unsubscribe an address (kept as unsubscribed: never mailed again)")
    rm.add_argument("email")
    ls = subs.add_parser("list", help="list subscribers")
    ls.add_argument("--status", choices=SUBSCRIBER_STATUSES)
    for p in (add, imp, rm):
        p.add_argument("--by", help="who does this (default cli:$USER)")
    for p in (add, imp):
        p.add_argument("--double-opt-in", action=argparse.BooleanOptionalAction, default=None,
                       help="send a confirmation email and keep them pending (default: delivery.double_opt_in)")

    ap = sub.add_parser("approve", help="approve a day's newsletter for sending (manual mode)")
    ap.add_argument("--day", type=date.fromisoformat, required=True)
    ap.add_argument("--by", help="who approves (default cli:$USER)")
    ap.add_argument("--revoke", action="store_true", help="withdraw the approval (back to draft)")
    ap.add_argument("--force", action="store_true", help="approve although blocking checks fail (recorded)")

    send = sub.add_parser("send", help="send a day's approved newsletter (runs newsletter_deliveries)")
    send.add_argument("--day", type=date.fromisoformat, required=True)
    send.add_argument("--test", metavar="ADDRESS", help="send the real email to this address only; ledger untouched")
    send.add_argument("--resend", action="store_true", help="send a changed newsletter again as a new edition")
    send.add_argument("--reason", help="why (required with --resend; recorded)")
    send.add_argument("--release-in-doubt", action="store_true",
                      help="retry recipients a crashed run left in doubt (they may receive it twice)")
    send.add_argument("--by", help="who asks (default cli:$USER)")
    send.add_argument("--run-id", help="the Dagster run id to use (the desk follows the run it launched by it)")

    sink = sub.add_parser("mailsink", help="a local SMTP server that saves every message it receives")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=1025)
    sink.add_argument("--dir", type=Path, help="where .eml files go (default: <output dir>/mailbox)")


def handle(args: argparse.Namespace) -> int | None:
    """Run a delivery command; ``None`` when ``args`` is not one."""
    handlers = {"subscribers": _subscribers, "approve": _approve, "send": _send, "mailsink": _mailsink}
    handler = handlers.get(args.command)
    return handler(args) if handler else None


def _subscribers(args: argparse.Namespace) -> int:
    postgres = PostgresResource()
    cfg = runtime_settings().delivery
    double = cfg.double_opt_in if getattr(args, "double_opt_in", None) is None else args.double_opt_in
    with open_store(postgres) as store:
        if args.action == "list":
            subs = store.subscribers(args.status)
            for s in subs:
                log.info("%-40s %-12s %-8s %s", s.email, s.status, s.source, s.name or "")
            log.info("%d subscriber(s) in %s; by status: %s", len(subs), delivery_target(postgres),
                     store.counts_by_status())
            return 0
        if args.action == "remove":
            email = _valid(args.email)
            if email is None:
                return 2
            sub = store.subscriber_by_email(email)
            if sub is None:
                log.error("%s is not a subscriber", email)
                return 1
            changed = store.unsubscribe(sub.id, actor=_actor(args), detail="removed by operator")
            log.info("%s: %s", email, "unsubscribed" if changed else f"already {sub.status}")
            return 0
        sender = EmailSender()
        if args.action == "add":
            email = _valid(args.email)
            if email is None:
                return 2
            try:
                name = addresses.clean_name(args.name)
                if double:
                    with sender.session() as mail:
                        sub, created = subscribe(store, email, name, source="cli", actor=_actor(args),
                                                 double_opt_in=True, mail=mail, options=_options(sender))
                else:
                    sub, created = subscribe(store, email, name, source="cli", actor=_actor(args),
                                             double_opt_in=False)
            except (addresses.InvalidAddress, DeliveryError) as exc:
                log.error("%s: %s", email, exc)
                return 1
            log.info("%s: %s", email, f"added ({sub.status})" if created else f"already present ({sub.status})")
            return 0
        # import
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            log.error("%s: cannot read: %s", args.file, exc)
            return 2
        parsed = addresses.parse_csv(text)
        if not parsed.ok:
            for err in parsed.errors:
                log.error("%s: %s", args.file, err)
            log.error("%s: %d bad row(s); nothing imported", args.file, len(parsed.errors))
            return 1
        outcome = store.import_subscribers([(r.email, r.name) for r in parsed.rows], source="import",
                                           actor=_actor(args), pending=double)
        if double and outcome.added:
            options = _options(sender)
            with sender.session() as mail:
                for email in outcome.added:
                    sub = store.subscriber_by_email(email)
                    mail.send(confirmation_message(sub, options, now=store.now()), email)
        for email, status in outcome.already_present.items():
            log.info("%s: already present (%s), left unchanged", email, status)
        log.info("imported %d new subscriber(s)%s; %d already present", len(outcome.added),
                 " (pending confirmation)" if double else "", len(outcome.already_present))
        return 0


def _valid(value: str) -> str | None:
    try:
        return addresses.normalise_email(value)
    except addresses.InvalidAddress as exc:
        log.error("%r is not a valid address: %s", value, exc)
        return None


def _approve(args: argparse.Namespace) -> int:
    lakehouse, postgres = Lakehouse(), PostgresResource()
    with open_store(postgres) as store:
        if args.revoke:
            done = store.revoke_approval(args.day, actor=_actor(args), note="revoked from the CLI")
            log.info("%s: %s", args.day, "approval revoked (draft)" if done else "was not approved")
            return 0
        try:
            content = load_content(lakehouse, args.day)
        except DeliveryStateError as exc:
            log.error("%s", exc)
            return 1
        failures = blocking_failures(lakehouse, args.day)
        if failures and not args.force:
            for f in failures:
                log.error("%s: blocking check failed: %s", args.day, f)
            log.error("%s: not approved (fix the day, or --force to approve anyway; it is recorded)", args.day)
            return 1
        note = ("forced despite: " + "; ".join(failures)) if failures else None
        a = approve(store, content, actor=_actor(args), note=note)
        log.info("%s: approved by %s at %s (subject %r, content %s)", args.day, a.approved_by,
                 a.approved_at, content.subject, a.content_sha256[:12])
        if runtime_settings().delivery.approval == "auto":
            log.info("delivery.approval is auto: it is sent at the send time (or now with bitbybit send)")
        return 0


def _send(args: argparse.Namespace) -> int:
    if args.test:
        to = _valid(args.test)
        if to is None:
            return 2
        sender = EmailSender()
        try:
            content = load_content(Lakehouse(), args.day)
            with sender.session() as mail:
                pid = send_test(content, mail, _options(sender), to=to, now=datetime.now(UTC))
        except (DeliveryStateError, DeliveryError) as exc:
            log.error("%s", exc)
            return 1
        log.info("%s: test email sent to %s (%s); ledger untouched", args.day, to, pid)
        return 0
    if args.resend and not (args.reason or "").strip():
        log.error("--resend needs --reason (it is recorded with the new edition)")
        return 2
    result = run_delivery(args.day, resend=args.resend, reason=args.reason,
                          release_in_doubt=args.release_in_doubt, requested_by=_actor(args),
                          run_id=args.run_id, trigger="desk" if _actor(args).startswith("desk:") else "cli")
    for event in result.get_asset_materialization_events():
        meta = event.event_specific_data.materialization.metadata
        figures = {k: meta[k].value for k in ("sent", "failed", "suppressed", "deferred", "in_doubt",
                                              "unsubscribed_since_last") if k in meta}
        log.info("%s: %s", args.day, figures)
    if not result.success:
        seen: set[str] = set()
        for event in result.all_events:
            if event.is_step_failure and event.event_specific_data is not None:
                err = getattr(event.event_specific_data, "error", None)
                text = (getattr(err, "message", None) or event.message or "").strip()
                if text and text not in seen:
                    seen.add(text)
                    log.error("%s", text.removeprefix("dagster._core.definitions.events.Failure: "))
        return 1
    return 0


def _mailsink(args: argparse.Namespace) -> int:
    serve_mailsink(args.host, args.port, args.dir or output_dir() / "mailbox")
    return 0
