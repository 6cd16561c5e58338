"""The SMTP transport of :class:`~resources.email.EmailSender`: the ``BITBYBIT_SMTP_URL`` target and a session.

Plain Python (no Dagster). A session opens one connection lazily (TLS verified, STARTTLS required
where the URL says so), reuses it for ``batch_size`` messages and maps every SMTP reply to a
:class:`~resources.mail_base.DeliveryError` subclass.
"""

from __future__ import annotations

import email.message
import ipaddress
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

from resources.mail_base import (
    DeliveryError,
    PermanentDeliveryError,
    SendResult,
    TemporaryDeliveryError,
    Throttle,
    TransportError,
    bare_address,
    flatten,
)

log = logging.getLogger(__name__)

SMTP_SCHEMES = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("implicit", 465)}
CONNECT_ATTEMPTS = 3  # connection refused / timed out: tries before TransportError
CONNECT_BACKOFF_SECONDS = 1.0  # first delay between connection attempts (doubles)

# queue ids in 250 replies to DATA: Postfix/SendGrid "queued as X", Exim "id=X", SES SMTP "Ok X"
_QUEUE_ID = [
    re.compile(r"queued as\s+<?([^\s>]+)"),
    re.compile(r"\bid=([^\s;]+)"),
    re.compile(r"^Ok\s+([0-9A-Za-z]+-[0-9A-Za-z-]+)$"),
]


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


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


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: Literal["none", "starttls", "implicit"]
    user: str | None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str, ca_file: str | None) -> SmtpTarget:
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


class SmtpSession:
    """One lazily opened SMTP connection, reused for ``batch_size`` messages."""

    def __init__(
        self, target: SmtpTarget, mail_from: str, *, batch_size: int, timeout: float,
        throttle: Throttle, sleep: Callable[[float], None],
    ):  # fmt: skip
        self.target, self.mail_from = target, mail_from
        self.envelope_from = bare_address(mail_from)
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
        address = bare_address(recipient)
        if not address:
            raise PermanentDeliveryError(f"{recipient!r} is not an email address", recipient=recipient)
        utf8 = not (address.isascii() and self.envelope_from.isascii())
        data, message_id = flatten(message, self.envelope_from, utf8=utf8)
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
