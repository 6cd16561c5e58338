"""Amazon SES through moto: the whole send, bounce and complaint feedback via SNS → SQS."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from bitbybit_assets.deliver.send import deliver
from resources.email import EmailSender
from sensors.feedback import drain_feedback
from tests.deliver.conftest import DAY, newsletter
from tests.deliver.test_send import OPTIONS, add

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL_SQS",
                "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress="news@bitbybit.test")
        yield


def test_send_through_ses_reaches_every_reader_once(store, aws):
    subs = add(store, 5)
    sender = EmailSender(transport="ses", mail_from=OPTIONS.mail_from, ses_region=REGION, rate_per_second=1000)
    report = deliver(store, newsletter(), sender.session(), OPTIONS, run_id="r1", actor="t", sleep=lambda s: None)
    assert report.sent == 5 and report.complete
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert sorted(m.destinations[0] for m in sent) == sorted(s.email for s in subs)
    ids = {r.provider_message_id for r in store.ledger(DAY)}
    assert len(ids) == 5 and None not in ids
    again = deliver(store, newsletter(), sender.session(), OPTIONS, run_id="r2", actor="t", sleep=lambda s: None)
    assert again.sent == 0 and len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages) == 5


def test_bounces_and_complaints_from_sqs_suppress_future_sends(store, aws):
    subs = add(store, 3)
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="ses-feedback")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="ses-feedback")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    bounce = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
              "bouncedRecipients": [{"emailAddress": subs[0].email, "diagnosticCode": "smtp; 550 5.1.1"}]}}
    complaint = {"notificationType": "Complaint", "complaint": {"complaintFeedbackType": "abuse",
                 "complainedRecipients": [{"emailAddress": subs[1].email}]}}
    transient = {"notificationType": "Bounce", "bounce": {"bounceType": "Transient",
                 "bouncedRecipients": [{"emailAddress": subs[2].email}]}}
    for payload in (bounce, complaint, transient):
        sns.publish(TopicArn=topic, Message=json.dumps(payload))
    sqs.send_message(QueueUrl=queue_url, MessageBody="garbage")
    counts = drain_feedback(sqs, queue_url, store)
    assert counts == {"messages": 4, "bounced": 1, "complained": 1, "unknown_address": 0, "unreadable": 1}
    assert [store.subscriber(s.id).status for s in subs] == ["bounced", "complained", "active"]
    assert sqs.receive_message(QueueUrl=queue_url).get("Messages") is None  # every message consumed
    sender = EmailSender(transport="ses", mail_from=OPTIONS.mail_from, ses_region=REGION, rate_per_second=1000)
    report = deliver(store, newsletter(), sender.session(), OPTIONS, run_id="r1", actor="t", sleep=lambda s: None)
    assert report.sent == 1
