"""SES feedback sensor: permanent bounces and complaints from an SQS queue suppress the address.

Set ``BITBYBIT_SES_FEEDBACK_QUEUE_URL`` to the queue subscribed to the SES identity's (or
configuration set's) SNS topic; without it the sensor skips. ``AWS_ENDPOINT_URL_SQS`` points at a
non-AWS endpoint (tests). Each evaluation reads up to ``max_batches`` × 10 messages, applies them to
the subscribers table (with an audit event) and deletes only messages that were applied or are
unreadable (these are logged, never silently retried forever).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import dagster as dg

from bitbybit_assets.deliver.database import open_store
from bitbybit_assets.deliver.feedback import BadNotification, parse_notification
from bitbybit_assets.deliver.store import DeliveryStore
from resources.postgres import PostgresResource

log = logging.getLogger(__name__)
QUEUE_ENV = "BITBYBIT_SES_FEEDBACK_QUEUE_URL"


def sqs_client() -> Any:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = os.environ.get("AWS_ENDPOINT_URL_SQS") or None
    import boto3  # here, not at import: the definitions load without boto3 (start-up time)

    return boto3.session.Session().client("sqs", region_name=region, endpoint_url=endpoint)


def drain_feedback(client: Any, queue_url: str, store: DeliveryStore, *, max_batches: int = 10) -> dict[str, int]:
    """Apply the queue's bounce/complaint notifications; counts of what happened."""
    counts = {"messages": 0, "bounced": 0, "complained": 0, "unknown_address": 0, "unreadable": 0}
    for _ in range(max_batches):
        resp = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = resp.get("Messages") or []
        if not messages:
            break
        for m in messages:
            counts["messages"] += 1
            try:
                feedback = parse_notification(m.get("Body", ""))
            except BadNotification as exc:
                log.warning("SES feedback message %s unreadable, dropped: %s", m.get("MessageId"), exc)
                counts["unreadable"] += 1
                feedback = []
            for fb in feedback:
                if store.subscriber_by_email(fb.email) is None:
                    counts["unknown_address"] += 1
                    continue
                if store.suppress_email(fb.email, fb.status, actor="ses-feedback", detail=fb.detail):
                    counts[fb.status] += 1
            client.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return counts


def build_feedback_sensor(default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @dg.sensor(name="ses_feedback_sensor", minimum_interval_seconds=60, default_status=default_status,
               description="Suppresses addresses that bounced permanently or complained (SES via SNS → SQS).")
    def ses_feedback_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
        queue_url = os.environ.get(QUEUE_ENV, "").strip()
        if not queue_url:
            return dg.SkipReason(f"{QUEUE_ENV} is not set")
        with open_store(postgres) as store:
            counts = drain_feedback(sqs_client(), queue_url, store)
        return dg.SkipReason(f"SES feedback: {counts}")

    return ses_feedback_sensor
