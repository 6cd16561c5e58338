"""Newsletter delivery: one :class:`EmailSender` resource with two transports, SMTP and Amazon SES.

Everything is read when :meth:`EmailSender.session` is entered (never at import time), and no
connection is opened before the first message is sent. A field set on the resource wins over the
environment, which wins over ``delivery:`` in ``config/production.yaml``:

* ``BITBYBIT_EMAIL_TRANSPORT``: ``smtp`` or ``ses`` (default ``delivery.transport``).
* ``BITBYBIT_MAIL_FROM``: the ``From`` header, e.g. ``bitbybit <newsletter@example.org>``; its address
  is the envelope sender. Locally defaults to ``bitbybit <newsletter@localhost>``; required in prod.
* ``BITBYBIT_SMTP_URL`` (SMTP): ``smtp://host:port`` (plain, loopback hosts only),
  ``smtp+starttls://user:pass@host:587`` (STARTTLS, required) or ``smtps://user:pass@host:465``
  (implicit TLS); user and password are percent-decoded. Locally defaults to ``smtp://127.0.0.1:1025``.
  TLS always verifies the certificate and host name against the system CAs plus
  ``BITBYBIT_SMTP_CA_FILE`` (an extra CA bundle) when set.
* ``BITBYBIT_SES_CONFIGURATION_SET`` (SES): configuration set for event publishing (optional).
  Region from ``AWS_REGION``/``AWS_DEFAULT_REGION`` (default ``us-east-1``); endpoint from
  ``AWS_ENDPOINT_URL_SES`` or ``AWS_ENDPOINT_URL_SESV2``. The global ``AWS_ENDPOINT_URL`` (which points
  at S3-compatible storage here) is ignored. Credentials come from the standard AWS chain, through a
  fresh ``boto3.session.Session()``.

SES uses the v2 API, ``sesv2.send_email`` with ``Content={"Raw": ...}``: it takes the exact MIME
message we rendered (multipart HTML + text, our headers) with one explicit envelope recipient, and
supports configuration sets; moto 5 implements Raw content for sesv2 (it stores the message in the
shared SES backend's ``sent_messages``), so the classic ``ses.send_raw_email`` is not needed.

A session sends one message to exactly one envelope recipient per :meth:`MailSession.send`, at most
``rate_per_second`` messages a second, and raises a :class:`DeliveryError` subclass the caller acts on:

* :class:`TemporaryDeliveryError`: retry this recipient later (SMTP 4xx such as greylisting, also on
  MAIL FROM; the connection dropped mid-send; timeouts; SES throttling, quota or service errors).
* :class:`PermanentDeliveryError`: this recipient can never get it (SMTP 5xx on RCPT or DATA, SES
  ``MessageRejected``, an unparseable recipient address).
* :class:`TransportError`: the transport is unusable (bad configuration, authentication or TLS
  verification failure, server unreachable after 3 connection attempts, sender refused with 5xx, SES
  ``MessageRejected`` naming our sender, sending paused, unknown SES errors); stop the run.

SMTP connections are reused for up to ``batch_size`` messages, then closed with QUIT and reopened.
"""

from __future__ import annotations

import copy
import email.message
import ipaddress
import logging
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.utils import make_msgid, parseaddr
from io import BytesIO
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

import dagster as dg
from pydantic import Field

from bitbybit_base.settings import SettingsError, environment, runtime_settings

log = logging.getLogger(__name__)

TRANSPORTS = ("smtp", "ses")
LOCAL_SMTP_URL = "smtp://127.0.0.1:1025"
LOCAL_MAIL_FROM = "bitbybit <newsletter@localhost>"
SMTP_SCHEMES = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("implicit", 465)}
CONNECT_ATTEMPTS = 3  # connection refused / timed out: tries before TransportError
CONNECT_BACKOFF_SECONDS = 1.0  # first delay between connection attempts (doubles)

SES_TEMPORARY = {
    "Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
    "RequestTimeout", "RequestTimeoutException",
}  # fmt: skip
SES_TRANSPORT = {
    "AccountSuspendedException", "SendingPausedException", "MailFromDomainNotVerifiedException",
    "NotFoundException", "AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
    "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch",
}  # fmt: skip
SES_PERMANENT = {"MessageRejected", "BadRequestException", "InvalidParameterValue"}

# queue ids in 250 replies to DATA: Postfix/SendGrid "queued as X", Exim "id=X", SES SMTP "Ok X"
_QUEUE_ID = [
    re.compile(r"queued as\s+<?([^\s>]+)"),
    re.compile(r"\bid=([^\s;]+)"),
    re.compile(r"^Ok\s+([0-9A-Za-z]+-[0-9A-Za-z-]+)$"),
]


# ---------------------------------------------------------------------- errors and results


class DeliveryError(Exception):
    """A message was not delivered. ``recipient`` and ``code`` (SMTP code or SES error code) when known."""

    def __init__(self, message: str = "", *, recipient: str | None = None, code: str | int | None = None):
        super().__init__(message)
        self.recipient = recipient
        self.code = code


class TemporaryDeliveryError(DeliveryError):
    """Retry this recipient later (greylisting, dropped connection, throttling, timeouts)."""


class PermanentDeliveryError(DeliveryError):
    """This recipient can never get this message (SMTP 5xx on RCPT/DATA, SES MessageRejected)."""


class TransportError(DeliveryError):
    """The transport itself is unusable (configuration, auth, TLS, unreachable, sender refused): stop."""


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str  # SMTP: queue id from the 250 reply to DATA, else Message-ID; SES: MessageId


class MailSession(Protocol):
    def send(self, message: email.message.EmailMessage, recipient: str) -> SendResult:
        """Send ``message`` to exactly one envelope recipient (throttled); raises :class:`DeliveryError`."""
        ...


# ---------------------------------------------------------------------- helpers


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(value: str) -> str:
    """The bare address of ``value`` (``Name <a@b>`` or ``a@b``), or ``""`` when it is not one."""
    if "\r" in value or "\n" in value:
        return ""
    addr = parseaddr(value)[1].strip()
    return addr if "@" in addr and not addr.startswith("@") and not addr.endswith("@") else ""


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _flatten(message: email.message.EmailMessage, sender: str, *, utf8: bool = False) -> tuple[bytes, str]:
    """The message as sent (CRLF line ends, no Bcc headers) and its Message-ID (added when missing)."""
    msg = copy.copy(message)
    # __delitem__ rebinds _headers to a new list, so the caller's message is never modified below
    del msg["Bcc"]
    del msg["Resent-Bcc"]
    if msg["Message-ID"] is None:
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    policy = msg.policy.clone(linesep="\r\n")
    if utf8:
        policy = policy.clone(utf8=True)
    out = BytesIO()
    BytesGenerator(out, policy=policy).flatten(msg, linesep="\r\n")
    return out.getvalue(), str(msg["Message-ID"]).strip()


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _queue_id(reply: bytes | str) -> str | None:
    text = _text(reply)
    for pattern in _QUEUE_ID:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


class _Throttle:
    """At most ``rate`` calls to :meth:`wait` per second (minimum interval), on an injected clock."""

    def __init__(self, rate: float, clock: Callable[[], float], sleep: Callable[[float], None]):
        if rate <= 0:
            raise TransportError(f"rate_per_second must be positive, got {rate}")
        self._interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = max(self._clock(), self._next)
        self._next = now + self._interval


# ---------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class _SmtpTarget:
    host: str
    port: int
    tls: Literal["none", "starttls", "implicit"]
    user: str | None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str, ca_file: str | None) -> _SmtpTarget:
        shown = _redact(url)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TransportError(f"SMTP URL {shown!r} is malformed: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in SMTP_SCHEMES:
            raise TransportError(
                f"SMTP URL {shown!r}: unknown scheme {scheme or '(none)'!r}; use smtp://host:port (loopback "
                "only), smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465"
            )
        host = parts.hostname
        if not host:
            raise TransportError(f"SMTP URL {shown!r} has no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise TransportError(f"SMTP URL {shown!r}: unexpected path or query")
        tls, default_port = SMTP_SCHEMES[scheme]
        if tls == "none" and not _is_loopback(host):
            raise TransportError(
                f"SMTP URL {shown!r}: plain smtp:// is only allowed to a loopback host; use "
                f"smtp+starttls://{host}:587 or smtps://{host}:465 so mail and passwords are encrypted"
            )
        if ca_file and not os.path.isfile(ca_file):
            raise TransportError(f"SMTP CA file {ca_file!r} does not exist")
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(host, port or default_port, tls, user, password, ca_file)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


class _SmtpSession:
    """One lazily opened SMTP connection, reused for ``batch_size`` messages."""

    def __init__(
        self, target: _SmtpTarget, mail_from: str, *, batch_size: int, timeout: float,
        throttle: _Throttle, sleep: Callable[[float], None],
    ):  # fmt: skip
        self.target, self.mail_from = target, mail_from
        self.envelope_from = _address(mail_from)
        self.batch_size, self.timeout = max(1, batch_size), timeout
        self.throttle, self.sleep = throttle, sleep
        self._conn: smtplib.SMTP | None = None
        self._sent_on_conn = 0
        self.connections = 0  # opened so far (for metadata and tests)

    @property
    def _where(self) -> str:
        return f"{self.target.host}:{self.target.port}"

    # -------------------------------------------------------------- connection

    def _open(self) -> smtplib.SMTP:
        t = self.target
        if t.tls == "implicit":
            context = t.ssl_context()
            conn: smtplib.SMTP = smtplib.SMTP_SSL(t.host, t.port, timeout=self.timeout, context=context)
        else:
            conn = smtplib.SMTP(t.host, t.port, timeout=self.timeout)
        try:
            conn.ehlo_or_helo_if_needed()
            if t.tls == "starttls":
                if not conn.has_extn("starttls"):
                    raise TransportError(
                        f"SMTP server {self._where} does not offer STARTTLS; refusing to send without TLS"
                    )
                conn.starttls(context=t.ssl_context())
                conn.ehlo()
            if t.user:
                if t.tls == "none" and not _is_loopback(t.host):  # parse() already refuses this
                    raise TransportError(f"refusing to log in to {self._where} without TLS")
                conn.login(t.user, t.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> smtplib.SMTP:
        last: Exception | None = None
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                conn = self._open()
                break
            except TransportError:
                raise
            except ssl.SSLCertVerificationError as exc:
                raise TransportError(
                    f"TLS certificate of SMTP server {self._where} failed verification: {exc.verify_message}"
                    " (set BITBYBIT_SMTP_CA_FILE for a private CA)"
                ) from exc
            except ssl.SSLError as exc:
                raise TransportError(f"TLS with SMTP server {self._where} failed: {exc}") from exc
            except smtplib.SMTPAuthenticationError as exc:
                raise TransportError(
                    f"SMTP login as {self.target.user!r} at {self._where} failed: {exc.smtp_code} "
                    f"{_text(exc.smtp_error)}", code=exc.smtp_code,
                ) from exc  # fmt: skip
            except smtplib.SMTPNotSupportedError as exc:
                raise TransportError(f"SMTP server {self._where}: {exc}") from exc
            except smtplib.SMTPResponseException as exc:
                if not 400 <= exc.smtp_code < 500:
                    reply = f"{exc.smtp_code} {_text(exc.smtp_error)}"
                    raise TransportError(
                        f"SMTP server {self._where} refused the session: {reply}", code=exc.smtp_code
                    ) from exc
                last = exc
            except OSError as exc:  # refused, timed out, DNS, disconnected during the greeting
                last = exc
            if attempt < CONNECT_ATTEMPTS:
                delay = CONNECT_BACKOFF_SECONDS * 2 ** (attempt - 1)
                log.warning("SMTP server %s unreachable (attempt %d/%d): %s; retrying in %.1fs",
                            self._where, attempt, CONNECT_ATTEMPTS, last, delay)
                self.sleep(delay)
        else:
            raise TransportError(
                f"SMTP server {self._where} unreachable after {CONNECT_ATTEMPTS} attempts: {last}"
            ) from last
        self.connections += 1
        log.info("connected to SMTP server %s (tls=%s, user=%s)", self._where, self.target.tls,
                 self.target.user or "-")
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None and self._sent_on_conn >= self.batch_size:
            self.close()
        if self._conn is None:
            self._conn = self._connect()
            self._sent_on_conn = 0
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """QUIT and close the connection, if open."""
        if self._conn is None:
            return
        try:
            self._conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            self._drop()

    # -------------------------------------------------------------- sending

    def _rset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _transaction(self, conn: smtplib.SMTP, data: bytes, recipient: str, utf8: bool) -> bytes:
        """MAIL, RCPT, DATA (like ``sendmail`` for one recipient); returns the final DATA reply text."""
        options = [f"SIZE={len(data)}"] if conn.has_extn("size") else []
        if utf8:
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        elif conn.has_extn("8bitmime") and any(b > 127 for b in data):
            options.append("BODY=8BITMIME")
        code, reply = conn.mail(self.envelope_from, options)
        if code != 250:
            self._drop() if code == 421 else self._rset(conn)
            raise smtplib.SMTPSenderRefused(code, reply, self.envelope_from)
        code, reply = conn.rcpt(recipient)
        if code not in (250, 251):
            self._drop() if code == 421 else self._rset(conn)
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        try:
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as exc:  # DATA itself refused (no 354)
            self._drop() if exc.smtp_code == 421 else self._rset(conn)
            raise
        if code != 250:
            self._drop() if code == 421 else self._rset(conn)
            raise smtplib.SMTPDataError(code, reply)
        return reply

    def send(self, message: email.message.EmailMessage, recipient: str) -> SendResult:
        address = _address(recipient)
        if not address:
            raise PermanentDeliveryError(f"{recipient!r} is not an email address", recipient=recipient)
        utf8 = not (address.isascii() and self.envelope_from.isascii())
        data, message_id = _flatten(message, self.envelope_from, utf8=utf8)
        self.throttle.wait()
        conn = self._connection()
        self._sent_on_conn += 1
        if utf8 and not conn.has_extn("smtputf8"):
            if not self.envelope_from.isascii():
                raise TransportError(f"SMTP server {self._where} does not support SMTPUTF8 for the sender")
            raise PermanentDeliveryError(
                f"{address}: SMTP server {self._where} does not support SMTPUTF8", recipient=recipient
            )
        try:
            reply = self._transaction(conn, data, address, utf8)
        except smtplib.SMTPSenderRefused as exc:
            text = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                raise TemporaryDeliveryError(
                    f"{address}: sender {self.envelope_from} deferred by {self._where}: {text}",
                    recipient=recipient, code=exc.smtp_code,
                ) from exc  # fmt: skip
            raise TransportError(
                f"SMTP server {self._where} refused the sender {self.envelope_from}: {text}",
                code=exc.smtp_code,
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients[address]
            raise self._classify(address, recipient, "RCPT", code, reply) from exc
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and other replies
            raise self._classify(address, recipient, "DATA", exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(f"{address}: {exc}", recipient=recipient) from exc
        except (OSError, smtplib.SMTPException) as exc:  # disconnected, reset, timed out
            self._drop()
            raise TemporaryDeliveryError(
                f"{address}: connection to {self._where} lost during the send: {exc or type(exc).__name__}",
                recipient=recipient,
            ) from exc
        return SendResult(_queue_id(reply) or message_id)

    def _classify(
        self, address: str, recipient: str, stage: str, code: int, reply: bytes | str
    ) -> DeliveryError:
        text = f"{address}: SMTP {code} on {stage} from {self._where}: {_text(reply)}"
        if code == 421:
            self._drop()
        if 400 <= code < 500:
            return TemporaryDeliveryError(text, recipient=recipient, code=code)
        if 500 <= code < 600:
            return PermanentDeliveryError(text, recipient=recipient, code=code)
        return TemporaryDeliveryError(f"{text} (unexpected reply)", recipient=recipient, code=code)


# ---------------------------------------------------------------------- SES


def _ses_client(region: str, endpoint: str | None, timeout: float) -> Any:
    """A ``sesv2`` client from a fresh boto3 session (tests replace this function)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "sesv2",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"},
            ignore_configured_endpoint_urls=True,  # the endpoint is resolved here, never AWS_ENDPOINT_URL
        ),
    )  # fmt: skip


class _SesSession:
    def __init__(
        self, *, region: str, endpoint: str | None, mail_from: str, configuration_set: str | None,
        timeout: float, throttle: _Throttle,
    ):  # fmt: skip
        self.region, self.endpoint, self.timeout = region, endpoint, timeout
        self.mail_from, self.envelope_from = mail_from, _address(mail_from)
        self.configuration_set, self.throttle = configuration_set, throttle
        self._client: Any = None

    def send(self, message: email.message.EmailMessage, recipient: str) -> SendResult:
        from botocore import exceptions as bce

        address = _address(recipient)
        if not address:
            raise PermanentDeliveryError(f"{recipient!r} is not an email address", recipient=recipient)
        data, _ = _flatten(message, self.envelope_from)
        kwargs: dict[str, Any] = {
            "FromEmailAddress": self.envelope_from,
            "Destination": {"ToAddresses": [address]},
            "Content": {"Raw": {"Data": data}},
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        self.throttle.wait()
        if self._client is None:
            self._client = _ses_client(self.region, self.endpoint, self.timeout)
        try:
            resp = self._client.send_email(**kwargs)
        except bce.ClientError as exc:
            raise self._classify(exc, address, recipient) from exc
        except (bce.ReadTimeoutError, bce.ConnectionClosedError) as exc:
            raise TemporaryDeliveryError(f"{address}: SES timed out: {exc}", recipient=recipient) from exc
        except bce.EndpointConnectionError as exc:  # includes connect timeouts, after botocore's retries
            raise TransportError(f"SES endpoint unreachable: {exc}") from exc
        except bce.NoCredentialsError as exc:
            raise TransportError(f"SES: no AWS credentials: {exc}") from exc
        except bce.BotoCoreError as exc:
            raise TransportError(f"SES client error: {exc}") from exc
        return SendResult(str(resp["MessageId"]))

    def _classify(self, exc: Any, address: str, recipient: str) -> DeliveryError:
        error = exc.response.get("Error", {})
        code, text = str(error.get("Code", "")), str(error.get("Message", "")).strip()
        detail = f"SES {code}: {text}" if text else f"SES {code}"
        if code in SES_TEMPORARY:
            return TemporaryDeliveryError(f"{address}: {detail}", recipient=recipient, code=code)
        if code in SES_PERMANENT:
            # a rejection naming our sender (unverified identity) fails every message: stop the run
            if code == "MessageRejected" and self.envelope_from.lower() in text.lower() \
                    and address.lower() not in text.lower():
                return TransportError(f"sender {self.envelope_from} rejected: {detail}", code=code)
            return PermanentDeliveryError(f"{address}: {detail}", recipient=recipient, code=code)
        return TransportError(f"{detail} (sending {address})", code=code)

    def close(self) -> None:
        if self._client is not None:
            with suppress(Exception):  # closing a client must never mask the run's outcome
                self._client.close()
            self._client = None


# ---------------------------------------------------------------------- the resource


class EmailSender(dg.ConfigurableResource):
    """Sends newsletter emails over SMTP or Amazon SES (see the module docstring)."""

    transport: str | None = Field(default=None, description="smtp | ses; default env/delivery.transport.")
    smtp_url: str | None = Field(default=None, description="Default BITBYBIT_SMTP_URL.")
    mail_from: str | None = Field(default=None, description="From header; default BITBYBIT_MAIL_FROM.")
    ses_configuration_set: str | None = Field(default=None, description="SES configuration set (optional).")
    ses_region: str | None = Field(default=None, description="Default AWS_REGION or us-east-1.")
    smtp_ca_file: str | None = Field(default=None, description="Extra CA bundle to trust.")
    rate_per_second: float | None = Field(default=None, description="Default delivery.rate_per_second.")
    batch_size: int | None = Field(default=None, description="Messages per connection.")
    timeout_seconds: float | None = Field(default=None, description="Per network operation.")

    # -------------------------------------------------------------- configuration

    def _delivery(self) -> Any:
        try:
            return runtime_settings().delivery
        except SettingsError as exc:
            raise TransportError(f"delivery settings unreadable: {exc}") from exc

    def _is_local(self) -> bool:
        try:
            return environment() == "local"
        except SettingsError as exc:
            raise TransportError(str(exc)) from exc

    def resolved_transport(self) -> str:
        """``smtp`` or ``ses``: the field, else ``BITBYBIT_EMAIL_TRANSPORT``, else ``delivery.transport``."""
        value = (self.transport or _env("BITBYBIT_EMAIL_TRANSPORT") or self._delivery().transport).lower()
        if value not in TRANSPORTS:
            raise TransportError(f"email transport {value!r} is not one of {', '.join(TRANSPORTS)}")
        return value

    def sender_address(self) -> str:
        """The From header value (``Name <address>``); its address is the envelope sender."""
        value = self.mail_from or _env("BITBYBIT_MAIL_FROM")
        if not value:
            if not self._is_local():
                raise TransportError(
                    "BITBYBIT_MAIL_FROM is not set (e.g. 'bitbybit <newsletter@example.org>')"
                )
            value = LOCAL_MAIL_FROM
        if not _address(value):
            raise TransportError(f"mail_from {value!r} has no valid email address")
        return value

    def _smtp_target(self) -> _SmtpTarget:
        url = self.smtp_url or _env("BITBYBIT_SMTP_URL")
        if not url:
            if not self._is_local():
                raise TransportError(
                    "BITBYBIT_SMTP_URL is not set (e.g. smtp+starttls://user:password@smtp.example.org:587)"
                )
            url = LOCAL_SMTP_URL
        return _SmtpTarget.parse(url, self.smtp_ca_file or _env("BITBYBIT_SMTP_CA_FILE"))

    def _ses_region(self) -> str:
        return self.ses_region or _env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or "us-east-1"

    @staticmethod
    def _ses_endpoint() -> str | None:
        return _env("AWS_ENDPOINT_URL_SES") or _env("AWS_ENDPOINT_URL_SESV2")

    def describe(self) -> dict[str, str]:
        """Where mail goes: transport, host, port, tls, user (never the password); SES adds region."""
        transport = self.resolved_transport()
        if transport == "smtp":
            t = self._smtp_target()
            return {
                "transport": "smtp", "host": t.host, "port": str(t.port), "tls": t.tls, "user": t.user or "",
            }  # fmt: skip
        region, endpoint = self._ses_region(), self._ses_endpoint()
        parts = urlsplit(endpoint) if endpoint else None
        return {
            "transport": "ses",
            "host": (parts.hostname if parts else None) or f"email.{region}.amazonaws.com",
            "port": str((parts.port if parts else None) or (80 if parts and parts.scheme == "http" else 443)),
            "tls": "none" if parts and parts.scheme == "http" else "https",
            "user": "",
            "region": region,
            "configuration_set": self.ses_configuration_set or _env("BITBYBIT_SES_CONFIGURATION_SET") or "",
        }

    # -------------------------------------------------------------- sessions

    @contextmanager
    def session(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> Iterator[MailSession]:
        """A :class:`MailSession`: configuration checked on entry, a connection opened on the first send."""
        transport = self.resolved_transport()
        mail_from = self.sender_address()
        needs = (self.rate_per_second, self.timeout_seconds, self.batch_size if transport == "smtp" else 0)
        delivery = self._delivery() if any(v is None for v in needs) else None
        rate = self.rate_per_second if self.rate_per_second is not None else delivery.rate_per_second
        timeout = self.timeout_seconds if self.timeout_seconds is not None else delivery.timeout_seconds
        throttle = _Throttle(rate, clock, sleep)
        mail: _SmtpSession | _SesSession
        if transport == "smtp":
            batch = self.batch_size if self.batch_size is not None else delivery.batch_size
            mail = _SmtpSession(
                self._smtp_target(), mail_from, batch_size=batch, timeout=timeout, throttle=throttle,
                sleep=sleep,
            )  # fmt: skip
        else:
            mail = _SesSession(
                region=self._ses_region(), endpoint=self._ses_endpoint(), mail_from=mail_from,
                configuration_set=self.ses_configuration_set or _env("BITBYBIT_SES_CONFIGURATION_SET"),
                timeout=timeout, throttle=throttle,
            )  # fmt: skip
        try:
            yield mail
        finally:
            mail.close()
