"""Item 6: SMTP alerts verify the server's certificate and never send the password without TLS."""

from __future__ import annotations

import ssl

import pytest

from resources.notify import NotificationError, Notifier, tls_context
from tests.ops.receivers import smtp_server
from tests.support.http_server import self_signed_tls

pytestmark = pytest.mark.integration

ENV = ("BITBYBIT_ALERT_CHANNEL", "BITBYBIT_ALERT_SMTP_HOST", "BITBYBIT_ALERT_SMTP_PORT", "BITBYBIT_ALERT_SMTP_FROM",
       "BITBYBIT_ALERT_SMTP_TO", "BITBYBIT_ALERT_SMTP_USER", "BITBYBIT_ALERT_SMTP_PASSWORD",
       "BITBYBIT_ALERT_SMTP_STARTTLS", "BITBYBIT_ALERT_SMTP_SSL", "BITBYBIT_ALERT_SMTP_CA_FILE")  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)


def _env(monkeypatch, box, **extra: str) -> None:
    base = {"BITBYBIT_ALERT_SMTP_HOST": box.host, "BITBYBIT_ALERT_SMTP_PORT": str(box.port),
            "BITBYBIT_ALERT_SMTP_FROM": "bitbybit@example.org", "BITBYBIT_ALERT_SMTP_TO": "ops@example.org",
            "BITBYBIT_ALERT_SMTP_USER": "alerts", "BITBYBIT_ALERT_SMTP_PASSWORD": "s3cret"}  # fmt: skip
    for k, v in {**base, **extra}.items():
        monkeypatch.setenv(k, v)


def test_starttls_without_a_context_did_not_verify():
    # the attack: smtplib's starttls() without a context uses an unverified one, so anyone in the
    # middle could present any certificate and receive the login
    assert ssl._create_stdlib_context().verify_mode == ssl.CERT_NONE
    ctx = tls_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_untrusted_certificate_gets_no_password(monkeypatch, tmp_path):
    server_tls, _ca = self_signed_tls(["127.0.0.1"], tmp_path / "tls")  # a CA the client does not trust
    with smtp_server(user="alerts", password="s3cret", tls=server_tls) as box:
        _env(monkeypatch, box, BITBYBIT_ALERT_SMTP_STARTTLS="true")
        with pytest.raises(NotificationError, match="not trusted"):
            Notifier(channel="smtp", backoff_seconds=0).send("s", "b")
    assert box.logins == [] and box.messages == []


def test_no_login_without_tls(monkeypatch):
    with smtp_server(user="alerts", password="s3cret") as box:
        _env(monkeypatch, box, BITBYBIT_ALERT_SMTP_STARTTLS="false")
        with pytest.raises(NotificationError, match="without TLS"):
            Notifier(channel="smtp", backoff_seconds=0, max_attempts=3).send("s", "b")
    assert box.logins == [] and box.messages == []


def test_a_host_name_mismatch_is_refused(monkeypatch, tmp_path):
    server_tls, ca = self_signed_tls(["mail.example.org"], tmp_path / "tls")  # not 127.0.0.1
    with smtp_server(user="alerts", password="s3cret", tls=server_tls) as box:
        _env(monkeypatch, box, BITBYBIT_ALERT_SMTP_STARTTLS="true", BITBYBIT_ALERT_SMTP_CA_FILE=str(ca))
        with pytest.raises(NotificationError, match="not trusted"):
            Notifier(channel="smtp", backoff_seconds=0).send("s", "b")
    assert box.logins == []


def test_verified_starttls_and_implicit_tls_deliver(monkeypatch, tmp_path):
    server_tls, ca = self_signed_tls(["127.0.0.1"], tmp_path / "tls")
    with smtp_server(user="alerts", password="s3cret", tls=server_tls) as box:
        _env(monkeypatch, box, BITBYBIT_ALERT_SMTP_STARTTLS="true", BITBYBIT_ALERT_SMTP_CA_FILE=str(ca))
        Notifier(channel="smtp").send("starttls", "b")
    assert box.logins == ["alerts"] and len(box.messages) == 1
    with smtp_server(user="alerts", password="s3cret", tls=server_tls, implicit_tls=True) as box:
        _env(monkeypatch, box, BITBYBIT_ALERT_SMTP_SSL="true", BITBYBIT_ALERT_SMTP_CA_FILE=str(ca))
        Notifier(channel="smtp").send("smtps", "b")
    assert box.logins == ["alerts"] and len(box.messages) == 1
