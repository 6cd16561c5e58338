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

The transports live in :mod:`resources.mail_smtp` and :mod:`resources.mail_ses`, the errors and the
message as sent in :mod:`resources.mail_base`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from bitbybit_base.settings import SettingsError, environment, runtime_settings
from resources.mail_base import MailSession, Throttle, TransportError, bare_address
from resources.mail_ses import SesSession
from resources.mail_smtp import SmtpSession, SmtpTarget

TRANSPORTS = ("smtp", "ses")
LOCAL_SMTP_URL = "smtp://127.0.0.1:1025"
LOCAL_MAIL_FROM = "bitbybit <newsletter@localhost>"


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


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
        if not bare_address(value):
            raise TransportError(f"mail_from {value!r} has no valid email address")
        return value

    def _smtp_target(self) -> SmtpTarget:
        url = self.smtp_url or _env("BITBYBIT_SMTP_URL")
        if not url:
            if not self._is_local():
                raise TransportError(
                    "BITBYBIT_SMTP_URL is not set (e.g. smtp+starttls://user:password@smtp.example.org:587)"
                )
            url = LOCAL_SMTP_URL
        return SmtpTarget.parse(url, self.smtp_ca_file or _env("BITBYBIT_SMTP_CA_FILE"))

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
        throttle = Throttle(rate, clock, sleep)
        mail: SmtpSession | SesSession
        if transport == "smtp":
            batch = self.batch_size if self.batch_size is not None else delivery.batch_size
            mail = SmtpSession(
                self._smtp_target(), mail_from, batch_size=batch, timeout=timeout, throttle=throttle,
                sleep=sleep,
            )  # fmt: skip
        else:
            mail = SesSession(
                region=self._ses_region(), endpoint=self._ses_endpoint(), mail_from=mail_from,
                configuration_set=self.ses_configuration_set or _env("BITBYBIT_SES_CONFIGURATION_SET"),
                timeout=timeout, throttle=throttle,
            )  # fmt: skip
        try:
            yield mail
        finally:
            mail.close()
