"""EmailSender against real local servers: aiosmtpd (plain, STARTTLS, implicit TLS, auth, rejections,
dropped connections) and moto's SES; plus configuration, error classification and the throttle."""

from __future__ import annotations

import datetime as dt
import ipaddress
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest

import resources.mail_ses as ses_mod
from resources.email import EmailSender
from resources.mail_base import (
    DeliveryError,
    PermanentDeliveryError,
    SendResult,
    TemporaryDeliveryError,
    TransportError,
)
from tests.ops.receivers import free_port

pytestmark = pytest.mark.integration

FROM = "bitbybit <newsletter@example.org>"
ENVELOPE_FROM = "newsletter@example.org"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("BITBYBIT_EMAIL_TRANSPORT", "BITBYBIT_SMTP_URL", "BITBYBIT_MAIL_FROM",
                "BITBYBIT_SMTP_CA_FILE", "BITBYBIT_SES_CONFIGURATION_SET", "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL_SESV2", "AWS_REGION", "AWS_DEFAULT_REGION",
                "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BITBYBIT_ENV", "local")


# ---------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certs:
    ca_file: str
    cert_file: str
    key_file: str

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    """A throwaway CA and a server certificate for localhost / 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder: Path = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bitbybit test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = Certs(str(folder / "ca.pem"), str(folder / "server.pem"), str(folder / "server.key"))
    Path(paths.ca_file).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(paths.cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(paths.key_file).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


# ---------------------------------------------------------------------- an SMTP server


@dataclass
class Box:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    peers: list[tuple] = field(default_factory=list)  # client address of each accepted message
    logins: list[str] = field(default_factory=list)

    @property
    def connections(self) -> int:
        return len(set(self.peers))


@contextmanager
def smtp_box(
    *, reject: dict[str, str] | None = None, drop_on: set[int] | None = None, data_reply: str | None = None,
    starttls: Certs | None = None, implicit_tls: Certs | None = None, auth: tuple[str, str] | None = None,
) -> Iterator[Box]:
    """aiosmtpd on 127.0.0.1. ``reject``: RCPT replies by address; ``drop_on``: DATA numbers (1-based,
    over the server's life) on which the server closes the connection instead of replying."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Box(port=free_port())
    reject, drop_on = reject or {}, drop_on or set()
    seen = {"data": 0}

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
            if address in reject:
                return reject[address]
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            seen["data"] += 1
            if seen["data"] in drop_on:
                server.transport.close()
                return "250 never seen"
            box.raw.append(envelope.original_content)
            box.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
            box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            box.peers.append(session.peer)
            return data_reply or "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login.decode(), auth_data.password.decode()) == auth
        if ok:
            box.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)

    kwargs: dict = {}
    if starttls:
        kwargs |= {"tls_context": starttls.server_context(), "require_starttls": True}
    if implicit_tls:
        kwargs["ssl_context"] = implicit_tls.server_context()
    if auth:
        kwargs |= {"authenticator": authenticator, "auth_required": True, "auth_require_tls": True}
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port, **kwargs)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def _sender(url: str, **kwargs) -> EmailSender:
    kwargs = {"mail_from": FROM, "rate_per_second": 1000.0, "batch_size": 50, "timeout_seconds": 5.0} | kwargs
    return EmailSender(transport="smtp", smtp_url=url, **kwargs)


def _message(i: int, to: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"bitbybit #{i}: Grüße from the lakehouse"
    msg["From"] = FROM
    msg["To"] = to
    msg["Message-ID"] = f"<issue-{i}@example.org>"
    msg["List-Unsubscribe"] = f"<https://news.example.org/u/{i}>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(f"Issue {i}\n.a line starting with a dot\nnaïve café – {i}\n")
    msg.add_alternative(f"<html><body><p>Issue {i} – naïve</p></body></html>\n", subtype="html")
    return msg


def _same(received: EmailMessage, sent: EmailMessage) -> None:
    for name in ("Subject", "From", "To", "Message-ID", "List-Unsubscribe"):
        assert received[name] == sent[name], name
    for kind in ("plain", "html"):
        # the wire format has CRLF line ends, which an 8bit part keeps when parsed back
        got = received.get_body((kind,)).get_content().replace("\r\n", "\n")
        assert got == sent.get_body((kind,)).get_content()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ---------------------------------------------------------------------- plain SMTP on loopback


def test_messages_arrive_intact_one_recipient_each_over_reused_connections():
    with smtp_box() as box:
        sender = _sender(f"smtp://127.0.0.1:{box.port}", batch_size=3)
        sent = [_message(i, f"reader{i}@example.net") for i in range(7)]
        with sender.session() as mail:
            results = [mail.send(msg, f"reader{i}@example.net") for i, msg in enumerate(sent)]
    assert len(box.messages) == 7
    for i, (received, msg) in enumerate(zip(box.messages, sent, strict=True)):
        _same(received, msg)
        assert box.envelopes[i] == (ENVELOPE_FROM, [f"reader{i}@example.net"])
    assert b"\r\n..a line starting with a dot" not in box.raw[0]  # dot-stuffing undone by the server
    assert box.connections == 3  # batch_size 3: 3 + 3 + 1
    assert [len([p for p in box.peers if p == peer]) for peer in dict.fromkeys(box.peers)] == [3, 3, 1]
    # aiosmtpd's reply carries no queue id: the Message-ID stands in
    assert results[0] == SendResult("<issue-0@example.org>")


def test_queue_id_from_the_data_reply_and_message_id_added_when_missing():
    with smtp_box(data_reply="250 2.0.0 Ok: queued as 4Xyz9QwT1") as box, \
            _sender(f"smtp://localhost:{box.port}").session() as mail:
        assert mail.send(_message(1, "a@example.net"), "a@example.net").provider_message_id == "4Xyz9QwT1"
    with smtp_box() as box:
        msg = _message(2, "b@example.net")
        del msg["Message-ID"]
        msg["Bcc"] = "hidden@example.net"
        with _sender(f"smtp://127.0.0.1:{box.port}").session() as mail:
            result = mail.send(msg, "b@example.net")
    (received,) = box.messages
    assert result.provider_message_id == received["Message-ID"]
    assert result.provider_message_id.endswith("@example.org>")
    assert msg["Message-ID"] is None and msg["Bcc"] == "hidden@example.net"  # the caller's copy is untouched
    assert received["Bcc"] is None


def test_no_connection_until_the_first_send():
    sender = _sender(f"smtp://127.0.0.1:{free_port()}")
    with sender.session():
        pass  # nothing listens there, and nothing was tried


def test_rejected_recipient_is_permanent_and_the_session_goes_on():
    reject = {"gone@example.net": "550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown"}
    with smtp_box(reject=reject) as box, _sender(f"smtp://127.0.0.1:{box.port}").session() as mail:
        mail.send(_message(1, "a@example.net"), "a@example.net")
        with pytest.raises(PermanentDeliveryError, match="550.*User unknown") as err:
            mail.send(_message(2, "gone@example.net"), "gone@example.net")
        mail.send(_message(3, "b@example.net"), "b@example.net")
    assert err.value.recipient == "gone@example.net" and err.value.code == 550
    assert [rcpts for _, rcpts in box.envelopes] == [["a@example.net"], ["b@example.net"]]
    assert box.connections == 1


def test_greylisting_is_temporary():
    reject = {"grey@example.net": "451 4.7.1 Greylisted, please try again later"}
    with smtp_box(reject=reject) as box, _sender(f"smtp://127.0.0.1:{box.port}").session() as mail:
        with pytest.raises(TemporaryDeliveryError, match="451.*Greylisted"):
            mail.send(_message(1, "grey@example.net"), "grey@example.net")
        mail.send(_message(2, "ok@example.net"), "ok@example.net")
    assert len(box.messages) == 1


def test_dropped_connection_mid_batch_is_temporary_and_the_next_send_reconnects():
    with smtp_box(drop_on={3}) as box, _sender(f"smtp://127.0.0.1:{box.port}").session() as mail:
        mail.send(_message(1, "a@example.net"), "a@example.net")
        mail.send(_message(2, "b@example.net"), "b@example.net")
        with pytest.raises(TemporaryDeliveryError, match="connection .* lost"):
            mail.send(_message(3, "c@example.net"), "c@example.net")
        mail.send(_message(3, "c@example.net"), "c@example.net")  # the caller's retry
        mail.send(_message(4, "d@example.net"), "d@example.net")
    assert [rcpts[0] for _, rcpts in box.envelopes] == ["a@example.net", "b@example.net", "c@example.net",
                                                        "d@example.net"]
    assert box.connections == 2


def test_nothing_listening_is_a_transport_error_after_retries():
    clock = FakeClock()
    sender = _sender(f"smtp://127.0.0.1:{free_port()}")
    with sender.session(clock=clock, sleep=clock.sleep) as mail, \
            pytest.raises(TransportError, match="unreachable after 3 attempts"):
        mail.send(_message(1, "a@example.net"), "a@example.net")
    assert clock.sleeps == [1.0, 2.0]


def test_throttle_spaces_sends_on_the_injected_clock():
    clock = FakeClock()
    with smtp_box() as box:
        sender = _sender(f"smtp://127.0.0.1:{box.port}", rate_per_second=2.0)
        with sender.session(clock=clock, sleep=clock.sleep) as mail:
            for i in range(5):
                mail.send(_message(i, f"r{i}@example.net"), f"r{i}@example.net")
    assert len(box.messages) == 5
    assert sum(clock.sleeps) == pytest.approx(2.0) and clock.sleeps == pytest.approx([0.5] * 4)


def test_bad_recipient_address_is_permanent():
    with smtp_box() as box, _sender(f"smtp://127.0.0.1:{box.port}").session() as mail, \
            pytest.raises(PermanentDeliveryError, match="not an email address"):
        mail.send(_message(1, "x"), "not-an-address")


# ---------------------------------------------------------------------- TLS and authentication


def test_starttls_verified_with_the_ca_file_and_auth(certs):
    user, password = "news@example.org", "s3cr@t:p/w%"
    url = f"smtp+starttls://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{{port}}"
    with smtp_box(starttls=certs, auth=(user, password)) as box:
        sender = _sender(url.format(port=box.port), smtp_ca_file=certs.ca_file)
        assert sender.describe() == {"transport": "smtp", "host": "127.0.0.1", "port": str(box.port),
                                     "tls": "starttls", "user": user}
        with sender.session() as mail:
            mail.send(_message(1, "a@example.net"), "a@example.net")
            mail.send(_message(2, "b@example.net"), "b@example.net")
        assert box.logins == [user] and len(box.messages) == 2

        wrong = _sender(f"smtp+starttls://{quote(user, safe='')}:nope@127.0.0.1:{box.port}",
                        smtp_ca_file=certs.ca_file)
        with wrong.session() as mail, pytest.raises(TransportError, match="login .* failed: 535"):
            mail.send(_message(3, "c@example.net"), "c@example.net")


def test_starttls_without_the_ca_is_a_transport_error(certs, monkeypatch):
    with smtp_box(starttls=certs) as box:
        with _sender(f"smtp+starttls://127.0.0.1:{box.port}").session() as mail, \
                pytest.raises(TransportError, match="failed verification"):
            mail.send(_message(1, "a@example.net"), "a@example.net")
        monkeypatch.setenv("BITBYBIT_SMTP_CA_FILE", certs.ca_file)  # the env variable works too
        with _sender(f"smtp+starttls://localhost:{box.port}").session() as mail:
            mail.send(_message(2, "b@example.net"), "b@example.net")
    assert len(box.messages) == 1


def test_starttls_refused_when_the_server_does_not_offer_it():
    with smtp_box() as box, _sender(f"smtp+starttls://127.0.0.1:{box.port}").session() as mail, \
            pytest.raises(TransportError, match="does not offer STARTTLS"):
        mail.send(_message(1, "a@example.net"), "a@example.net")
    assert box.messages == []


def test_smtps_implicit_tls(certs):
    with smtp_box(implicit_tls=certs) as box:
        sender = _sender(f"smtps://127.0.0.1:{box.port}", smtp_ca_file=certs.ca_file)
        assert sender.describe()["tls"] == "implicit"
        with sender.session() as mail:
            mail.send(_message(1, "a@example.net"), "a@example.net")
        with _sender(f"smtps://127.0.0.1:{box.port}").session() as mail, \
                pytest.raises(TransportError, match="failed verification"):
            mail.send(_message(2, "b@example.net"), "b@example.net")
    (received,) = box.messages
    assert received["Message-ID"] == "<issue-1@example.org>"


def test_plain_smtp_to_a_remote_host_is_refused_without_connecting(monkeypatch):
    def no_connect(*args, **kwargs):
        raise AssertionError("must not connect")

    monkeypatch.setattr(smtplib, "SMTP", no_connect)
    for url in ("smtp://mail.example.org:25", "smtp://10.0.0.5", "smtp://user:pw@[2001:db8::1]:25"):
        with pytest.raises(TransportError, match=r"loopback.*smtp\+starttls") as err, _sender(url).session():
            pass
        assert "pw" not in str(err.value)
    with _sender("smtp://[::1]:2525").session():  # loopback is fine (and still lazy)
        pass


def test_url_errors_and_describe_never_shows_the_password(monkeypatch):
    for url, match in [("http://mail.example.org", "unknown scheme"), ("smtps://", "no host"),
                       ("smtp+starttls://u:secret@mail.example.org:notaport", "malformed"),
                       ("smtps://u:secret@mail.example.org/inbox", "unexpected path")]:
        with pytest.raises(TransportError, match=match) as err:
            _sender(url).describe()
        assert "secret" not in str(err.value)
    described = _sender("smtp+starttls://us%40er:p%3Ass@mail.example.org").describe()
    assert described == {"transport": "smtp", "host": "mail.example.org", "port": "587", "tls": "starttls",
                         "user": "us@er"}
    assert _sender("smtps://mail.example.org").describe()["port"] == "465"
    with pytest.raises(TransportError, match="CA file"):
        _sender("smtps://mail.example.org", smtp_ca_file="/nonexistent/ca.pem").describe()


# ---------------------------------------------------------------------- configuration


def test_defaults_from_env_settings_and_environment(monkeypatch, tmp_path):
    cfg = tmp_path / "production.yaml"
    cfg.write_text("delivery:\n  transport: ses\n  rate_per_second: 4\n  batch_size: 7\n")
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(cfg))
    assert EmailSender().resolved_transport() == "ses"
    monkeypatch.setenv("BITBYBIT_EMAIL_TRANSPORT", "smtp")
    assert EmailSender().resolved_transport() == "smtp"
    assert EmailSender(transport="ses").resolved_transport() == "ses"
    with pytest.raises(TransportError, match="not one of"):
        EmailSender(transport="pigeon").resolved_transport()

    local = EmailSender()
    assert local.sender_address() == "bitbybit <newsletter@localhost>"
    assert local.describe() == {
        "transport": "smtp", "host": "127.0.0.1", "port": "1025", "tls": "none", "user": ""}
    monkeypatch.setenv("BITBYBIT_MAIL_FROM", FROM)
    monkeypatch.setenv("BITBYBIT_SMTP_URL", "smtps://mail.example.org")
    assert local.sender_address() == FROM and local.describe()["host"] == "mail.example.org"
    with pytest.raises(TransportError, match="no valid email address"):
        EmailSender(mail_from="bitbybit").sender_address()

    monkeypatch.setenv("BITBYBIT_ENV", "prod")
    monkeypatch.delenv("BITBYBIT_MAIL_FROM")
    monkeypatch.delenv("BITBYBIT_SMTP_URL")
    with pytest.raises(TransportError, match="BITBYBIT_MAIL_FROM is not set"), EmailSender().session():
        pass
    with pytest.raises(TransportError, match="BITBYBIT_SMTP_URL is not set"), \
            EmailSender(mail_from=FROM).session():
        pass


def test_rate_and_batch_come_from_delivery_settings(monkeypatch, tmp_path):
    cfg = tmp_path / "production.yaml"
    cfg.write_text("delivery:\n  rate_per_second: 4\n  batch_size: 2\n")
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(cfg))
    clock = FakeClock()
    with smtp_box() as box:
        sender = EmailSender(smtp_url=f"smtp://127.0.0.1:{box.port}", mail_from=FROM)
        with sender.session(clock=clock, sleep=clock.sleep) as mail:
            for i in range(3):
                mail.send(_message(i, "a@example.net"), "a@example.net")
    assert clock.sleeps == pytest.approx([0.25, 0.25]) and box.connections == 2
    cfg.write_text("delivery:\n  transport: carrier-pigeon\n")
    with pytest.raises(TransportError, match="delivery settings unreadable"):
        EmailSender().resolved_transport()


def test_errors_share_a_base():
    for cls in (TemporaryDeliveryError, PermanentDeliveryError, TransportError):
        assert issubclass(cls, DeliveryError)


# ---------------------------------------------------------------------- SES


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    # the global endpoint points at S3 storage: it must not be used for SES
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")


def _ses_sender(**kwargs) -> EmailSender:
    kwargs = {"mail_from": FROM, "rate_per_second": 1000.0, "timeout_seconds": 5.0} | kwargs
    return EmailSender(transport="ses", **kwargs)


def test_ses_sends_the_raw_message_with_moto(aws):
    from botocore.config import Config
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    with mock_aws():
        ignore_global = Config(ignore_configured_endpoint_urls=True)
        setup = boto3.client("sesv2", region_name="eu-west-1", config=ignore_global)
        setup.create_email_identity(EmailIdentity="example.org")
        sender = _ses_sender(ses_configuration_set="newsletter-events")
        assert sender.describe()["host"] == "email.eu-west-1.amazonaws.com"
        msg = _message(1, "Reader <reader@example.net>")
        with sender.session() as mail:
            result = mail.send(msg, "reader@example.net")
        (stored,) = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
    assert result.provider_message_id == stored.id
    assert stored.source == ENVELOPE_FROM and stored.destinations[0] == "reader@example.net"
    received = message_from_bytes(stored.raw_data.encode(), policy=policy.default)
    _same(received, msg)


def test_ses_unverified_sender_stops_the_run(aws):
    from moto import mock_aws

    with mock_aws(), _ses_sender().session() as mail, \
            pytest.raises(TransportError, match="sender newsletter@example.org rejected"):
        mail.send(_message(1, "a@example.net"), "a@example.net")


@pytest.mark.parametrize(
    ("code", "status", "text", "expected"),
    [
        ("TooManyRequestsException", 429, "Too many requests", TemporaryDeliveryError),
        ("Throttling", 400, "Maximum sending rate exceeded.", TemporaryDeliveryError),
        ("LimitExceededException", 400, "Daily message quota exceeded.", TemporaryDeliveryError),
        ("MessageRejected", 400, "Address blacklisted.", PermanentDeliveryError),
        ("MessageRejected", 400, "Email address is not verified: a@example.net", PermanentDeliveryError),
        ("SendingPausedException", 400, "Sending is paused for this account.", TransportError),
        ("AccountSuspendedException", 400, "Account suspended.", TransportError),
        ("NotFoundException", 404, "Configuration set newsletter-events does not exist.", TransportError),
    ],
)
def test_ses_error_classification(aws, monkeypatch, code, status, text, expected):
    from botocore.stub import Stubber

    stubs = []

    def stubbed_client(region, endpoint, timeout):
        client = boto3.session.Session().client("sesv2", region_name=region, endpoint_url=endpoint)
        stubber = Stubber(client)
        stubber.add_client_error("send_email", service_error_code=code, service_message=text,
                                 http_status_code=status)
        stubber.add_response("send_email", {"MessageId": "0100-ok"})
        stubber.activate()
        stubs.append((region, endpoint))
        return client

    monkeypatch.setenv("AWS_ENDPOINT_URL_SES", "http://127.0.0.1:4579")
    monkeypatch.setattr(ses_mod, "_ses_client", stubbed_client)
    with _ses_sender().session() as mail:
        with pytest.raises(expected, match=code) as err:
            mail.send(_message(1, "a@example.net"), "a@example.net")
        assert type(err.value) is expected
        assert mail.send(_message(2, "b@example.net"), "b@example.net") == SendResult("0100-ok")
    assert stubs == [("eu-west-1", "http://127.0.0.1:4579")]  # one client for the session, SES endpoint
