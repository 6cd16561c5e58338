"""Amazon SES bounce and complaint notifications (no Dagster, no AWS calls).

SES publishes them to SNS (identity notifications: ``notificationType``; configuration-set event
publishing: ``eventType``), SNS delivers them to an SQS queue, either wrapped in the SNS envelope
(``{"Type": "Notification", "Message": "<json>"}``) or raw. Permanent bounces and complaints
suppress the address; transient bounces (mailbox full, out of office) do not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Feedback:
    email: str
    status: str  # bounced | complained
    detail: str


class BadNotification(ValueError):
    """Not an SES bounce/complaint notification we understand."""


def _ses_payload(body: str) -> dict:
    try:
        outer = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise BadNotification(f"not JSON: {exc}") from None
    if not isinstance(outer, dict):
        raise BadNotification("not a JSON object")
    if outer.get("Type") == "Notification" and isinstance(outer.get("Message"), str):
        try:
            inner = json.loads(outer["Message"])
        except ValueError as exc:
            raise BadNotification(f"SNS message is not JSON: {exc}") from None
        if not isinstance(inner, dict):
            raise BadNotification("SNS message is not a JSON object")
        return inner
    return outer


def parse_notification(body: str) -> list[Feedback]:
    """The suppressions one SQS message asks for (empty for deliveries and transient bounces)."""
    payload = _ses_payload(body)
    kind = payload.get("notificationType") or payload.get("eventType")
    if kind == "Bounce":
        bounce = payload.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        sub = bounce.get("bounceSubType") or "General"
        return [
            Feedback(str(r.get("emailAddress", "")).strip().lower(), "bounced",
                     f"SES permanent bounce ({sub}): {r.get('diagnosticCode') or r.get('status') or ''}".strip())
            for r in bounce.get("bouncedRecipients") or [] if r.get("emailAddress")
        ]
    if kind == "Complaint":
        complaint = payload.get("complaint") or {}
        feedback_type = complaint.get("complaintFeedbackType") or "unspecified"
        return [
            Feedback(str(r.get("emailAddress", "")).strip().lower(), "complained",
                     f"SES complaint ({feedback_type})")
            for r in complaint.get("complainedRecipients") or [] if r.get("emailAddress")
        ]
    if kind in ("Delivery", "Send", "Open", "Click", "Reject", "DeliveryDelay", "Rendering Failure",
                "Subscription", "AmazonSnsSubscriptionSucceeded"):
        return []
    raise BadNotification(f"unknown notification type {kind!r}")
