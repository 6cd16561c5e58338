"""The Notifier delivers to real local receivers (webhook, SMTP, moto SNS), retries transient
errors and fails at once on permanent ones."""

import logging

import pytest

from resources.notify import NotificationError, Notifier
from tests.ops.receivers import free_port, smtp_server, sns_topic, webhook_server
from tests.support.http_server import self_signed_tls

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_alert_env(monkeypatch):
    for var in ("BITBYBIT_ALERT_CHANNEL", "BITBYBIT_ALERT_WEBHOOK_URL", "BITBYBIT_ALERT_SNS_TOPIC_ARN",
                "BITBYBIT_ALERT_SMTP_HOST", "BITBYBIT_ALERT_SMTP_PORT", "BITBYBIT_ALERT_SMTP_FROM",
                "BITBYBIT_ALERT_SMTP_TO", "BITBYBIT_ALERT_SMTP_USER", "BITBYBIT_ALERT_SMTP_PASSWORD",
                "BITBYBIT_ALERT_SMTP_STARTTLS", "BITBYBIT_ALERT_SMTP_SSL", "BITBYBIT_ALERT_SMTP_CA_FILE",
                "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS"):
        monkeypatch.delenv(var, raising=False)


def test_channel_resolution(monkeypatch, tmp_path):
    assert Notifier().resolved_channel() == "log"  # config default
    monkeypatch.setenv("BITBYBIT_ALERT_CHANNEL", "webhook")
    assert Notifier().resolved_channel() == "webhook"
    assert Notifier(channel="smtp").resolved_channel() == "smtp"  # explicit wins
    monkeypatch.setenv("BITBYBIT_ALERT_CHANNEL", "pager")
    with pytest.raises(NotificationError, match="not one of"):
        Notifier().send("s", "b")
    monkeypatch.delenv("BITBYBIT_ALERT_CHANNEL")
    cfg = tmp_path / "production.yaml"
    cfg.write_text("operations:\n  alerts:\n    channel: sns\n")
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(cfg))
    assert Notifier().resolved_channel() == "sns"


def test_log_channel(caplog):
    with caplog.at_level(logging.WARNING, logger="resources.notify"):
        delivery = Notifier().send("run failed: x", "details")
    assert delivery.channel == "log" and "[bitbybit] run failed: x" in caplog.text and "details" in caplog.text


def test_webhook_posts_json_text(monkeypatch):
    with webhook_server() as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        delivery = Notifier(channel="webhook").send("run failed: ingest 2026-08-04", "step raw_feeds: boom")
    assert delivery.detail == "HTTP 200" and delivery.attempts == 1
    assert hook.content_types == ["application/json"]
    assert hook.received == [{"text": "*[bitbybit] run failed: ingest 2026-08-04*\nstep raw_feeds: boom"}]


def test_webhook_retries_server_errors_then_succeeds(monkeypatch):
    with webhook_server([503, 500, 200]) as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        delivery = Notifier(channel="webhook", backoff_seconds=0, max_attempts=3).send("s", "b")
    assert delivery.attempts == 3 and len(hook.received) == 3


def test_webhook_gives_up_after_max_attempts(monkeypatch):
    with webhook_server([500]) as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        with pytest.raises(NotificationError, match="not delivered after 2 attempts: HTTP 500"):
            Notifier(channel="webhook", backoff_seconds=0, max_attempts=2).send("s", "b")
    assert len(hook.received) == 2


def test_webhook_client_error_is_not_retried(monkeypatch):
    with webhook_server([404]) as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        with pytest.raises(NotificationError, match="HTTP 404"):
            Notifier(channel="webhook", backoff_seconds=0, max_attempts=3).send("s", "b")
    assert len(hook.received) == 1


def test_webhook_refused_connection_is_retried_then_fails(monkeypatch):
    monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/x")
    with pytest.raises(NotificationError, match="not delivered after 2 attempts"):
        Notifier(channel="webhook", backoff_seconds=0, max_attempts=2, timeout_seconds=2).send("s", "b")


def test_webhook_needs_http_url(monkeypatch):
    with pytest.raises(NotificationError, match="BITBYBIT_ALERT_WEBHOOK_URL is not set"):
        Notifier(channel="webhook").send("s", "b")
    monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", "file:///etc/passwd")
    with pytest.raises(NotificationError, match="must be an http"):
        Notifier(channel="webhook").send("s", "b")


def _smtp_env(monkeypatch, box, **extra):
    monkeypatch.setenv("BITBYBIT_ALERT_SMTP_HOST", box.host)
    monkeypatch.setenv("BITBYBIT_ALERT_SMTP_PORT", str(box.port))
    monkeypatch.setenv("BITBYBIT_ALERT_SMTP_FROM", "bitbybit@example.org")
    monkeypatch.setenv("BITBYBIT_ALERT_SMTP_TO", "ops@example.org, oncall@example.org")
    monkeypatch.setenv("BITBYBIT_ALERT_SMTP_STARTTLS", "false")
    for k, v in extra.items():
        monkeypatch.setenv(k, v)


def test_smtp_sends_an_email(monkeypatch):
    with smtp_server() as box:
        _smtp_env(monkeypatch, box)
        delivery = Notifier(channel="smtp").send("run failed: publish 2026-08-04", "Failed steps:\n- newsletters")
    assert delivery.detail == "sent to ops@example.org, oncall@example.org"
    (msg,) = box.messages
    assert msg["Subject"] == "[bitbybit] run failed: publish 2026-08-04"
    assert msg["From"] == "bitbybit@example.org"
    assert "- newsletters" in msg.get_content()
    assert box.envelopes == [("bitbybit@example.org", ["ops@example.org", "oncall@example.org"])]


def test_smtp_logs_in_when_a_user_is_set(monkeypatch, tmp_path):
    # a password is only ever sent after STARTTLS with a verified certificate (tests/hardening)
    server_tls, ca = self_signed_tls(["127.0.0.1"], tmp_path / "tls")
    with smtp_server(user="alerts", password="s3cret", tls=server_tls) as box:
        _smtp_env(monkeypatch, box, BITBYBIT_ALERT_SMTP_USER="alerts", BITBYBIT_ALERT_SMTP_PASSWORD="s3cret",
                  BITBYBIT_ALERT_SMTP_STARTTLS="true", BITBYBIT_ALERT_SMTP_CA_FILE=str(ca))
        Notifier(channel="smtp").send("s", "b")
        assert box.logins == ["alerts"] and len(box.messages) == 1
        monkeypatch.setenv("BITBYBIT_ALERT_SMTP_PASSWORD", "wrong")
        with pytest.raises(NotificationError, match="authentication failed"):
            Notifier(channel="smtp", backoff_seconds=0).send("s", "b")
    assert len(box.messages) == 1


def test_smtp_starttls_unsupported_fails_clearly(monkeypatch):
    with smtp_server() as box:
        _smtp_env(monkeypatch, box, BITBYBIT_ALERT_SMTP_STARTTLS="true")
        with pytest.raises(NotificationError, match="does not support"):
            Notifier(channel="smtp", backoff_seconds=0).send("s", "b")
    assert box.messages == []


def test_sns_publishes_to_the_topic(monkeypatch):
    with sns_topic(monkeypatch) as topic:
        monkeypatch.setenv("BITBYBIT_ALERT_SNS_TOPIC_ARN", topic.topic_arn)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", topic.endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # S3-compatible storage: not used for SNS
        delivery = Notifier(channel="sns").send("run failed: scoring 2026-08-04 " + "x" * 200, "GPU task died")
        (note,) = topic.messages()
    assert delivery.detail.startswith("MessageId ")
    assert note["TopicArn"] == topic.topic_arn and note["Message"] == "GPU task died"
    assert note["Subject"].startswith("[bitbybit] run failed: scoring 2026-08-04") and len(note["Subject"]) == 100


def test_sns_unknown_topic_is_permanent(monkeypatch):
    with sns_topic(monkeypatch) as topic:
        monkeypatch.setenv("BITBYBIT_ALERT_SNS_TOPIC_ARN", topic.topic_arn.replace("bitbybit-alerts", "nope"))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", topic.endpoint)
        with pytest.raises(NotificationError, match="NotFound"):
            Notifier(channel="sns", backoff_seconds=0).send("s", "b")
