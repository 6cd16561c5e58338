"""Deliver asset: ``newsletter_deliveries`` — the day's issue sent to every active subscriber, once.

Thin wiring over :mod:`bitbybit_assets.deliver.service`. The send ledger in the delivery database
is the source of truth (exactly once across re-materialisations, retries and concurrent runs); the
Delta table is the day's ledger snapshot after the run (no addresses: subscriber ids only), for
lineage, the warehouse and the desk.
"""


from datetime import UTC, datetime

import dagster as dg
import polars as pl

from bitbybit_assets.checks import blocking_failures
from bitbybit_assets.deliver.database import open_store
from bitbybit_assets.deliver.records import DeliveryStateError
from bitbybit_assets.deliver.service import (
    NotApproved,
    content_from_frame,
    release_in_doubt,
    send_day,
    send_options,
)
from bitbybit_assets.deliver.store import DeliveryStore
from bitbybit_assets.partitions import DAILY, days_in_context
from bitbybit_assets.settings_overrides import settings_with_overrides
from bitbybit_base.settings import public_url, secret_key
from resources.email import EmailSender
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource
from resources.settings import RunSettings

GROUP = "deliver"
ASSET_NAME = "newsletter_deliveries"

DELIVERY_COLUMNS = {
    "partition_date": pl.Date,
    "edition": pl.Int32,
    "subscriber_id": pl.String,
    "status": pl.String,
    "attempts": pl.Int32,
    "message_id": pl.String,
    "provider_message_id": pl.String,
    "error": pl.String,
    "sent_at": pl.Datetime("us", "UTC"),
}


class DeliveryConfig(dg.Config):
    """Run options an operator sets (``bitbybit send`` or the launchpad); the defaults send normally."""

    resend: bool = False  # send a changed newsletter again to everyone as a new, recorded edition
    reason: str | None = None  # why (required with resend)
    release_in_doubt: bool = False  # retry recipients a dead run left "sending" (they may get it twice)
    requested_by: str | None = None


# Readers' status changes (PostgreSQL, or the local DuckDB warehouse): real data written by the CLI,
# the desk's unsubscribe/confirm endpoints, sends and the SES feedback sensor, declared so the
# lineage shows it feeding the dbt model delivery_statistics (the send ledger itself is
# newsletter_deliveries).
delivery_tables = [
    dg.AssetSpec(
        key=dg.AssetKey(["delivery", "subscriber_events"]), group_name=GROUP, kinds={"postgres", "duckdb"},
        description="Every subscriber status change (added, confirmed, unsubscribed, bounced, complained).",
    ),
]


def ledger_frame(store: DeliveryStore, days: list) -> pl.DataFrame:
    """The ledger rows of ``days`` in the Delta contract (no email addresses)."""
    rows = [
        {"partition_date": r.partition_date, "edition": r.edition, "subscriber_id": r.subscriber_id,
         "status": r.status, "attempts": r.attempts, "message_id": r.message_id,
         "provider_message_id": r.provider_message_id, "error": r.error, "sent_at": r.sent_at}
        for d in days for r in store.ledger(d)
    ]
    return pl.DataFrame(rows, schema=DELIVERY_COLUMNS)


@dg.asset(
    name=ASSET_NAME,
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),  # a range of days goes out day by day in one run
    kinds={"delta", "email", "postgres"},
    ins={"newsletters": dg.AssetIn()},
    description=(
        "The day's newsletter sent to every active subscriber exactly once (send ledger in the delivery "
        "database; this table is its snapshot without addresses). Needs the day approved (delivery.approval: "
        "manual) or, in auto mode, every blocking check passing and the send time reached."
    ),
)
def newsletter_deliveries(
    context: dg.AssetExecutionContext,
    config: DeliveryConfig,
    newsletters: pl.DataFrame,
    lakehouse: Lakehouse,
    postgres: PostgresResource,
    email_sender: EmailSender,
    settings: RunSettings,
) -> pl.DataFrame:
    days = days_in_context(context)
    delivery = settings.delivery
    options = send_options(delivery, mail_from=email_sender.sender_address(),
                           public_url=public_url(delivery.public_url), server_key=secret_key())
    by_day: dict[str, dict] = {}
    problems: list[str] = []
    with open_store(postgres) as store:
        delivery = settings_with_overrides(store.w, base=settings).delivery  # approval / send time as set in the desk
        for day in days:
            actor = config.requested_by or f"run:{context.run_id}"
            try:
                content = content_from_frame(newsletters, day)
                last_send = store.last_send_before(day)
                if config.release_in_doubt:
                    released = release_in_doubt(store, day, options, actor=actor)
                    context.log.warning(f"{day}: released {released} in-doubt recipient(s) for retry")
                report = send_day(
                    store, content, email_sender.session(), delivery, options, run_id=context.run_id,
                    actor=actor, now=datetime.now(UTC),
                    blocking_failures=lambda d: blocking_failures(lakehouse, d),
                    resend=config.resend, resend_reason=config.reason,
                )
            except (NotApproved, DeliveryStateError) as exc:
                problems.append(str(exc))
                continue
            unsubscribed = store.status_changes_between(last_send, store.now(), ["unsubscribed"])
            by_day[day.isoformat()] = {
                "edition": report.edition, "sent": report.sent, "failed": report.failed,
                "suppressed": report.ledger.get("suppressed", 0), "deferred": report.ledger.get("deferred", 0),
                "in_doubt": len(report.in_doubt), "unsubscribed_since_last": unsubscribed,
                "complete": report.complete, "ledger": report.ledger,
            }
            context.log.info(f"{day}: {by_day[day.isoformat()]}")
            if report.stopped:
                problems.append(f"{day}: {report.stopped}")
            if report.in_doubt:
                context.log.warning(
                    f"{day}: {len(report.in_doubt)} recipient(s) in doubt (a run died while sending to "
                    "them); they are not re-sent automatically: bitbybit send --day D --release-in-doubt"
                )
        frame = ledger_frame(store, days)
        subscribers = store.counts_by_status()
    if problems:
        raise dg.Failure(description="; ".join(problems),
                         metadata={"by_day": by_day, "subscribers": subscribers})
    totals = {k: sum(int(v[k]) for v in by_day.values())
              for k in ("sent", "failed", "suppressed", "deferred", "in_doubt", "unsubscribed_since_last")}
    context.add_output_metadata({**totals, "by_day": by_day, "subscribers": subscribers,
                                 "transport": email_sender.describe().get("transport", "?")})
    return frame
