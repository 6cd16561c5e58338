"""Alert notifications through one configurable channel: Amazon SNS, a Slack-style webhook, SMTP
email, or the log.

The channel is ``channel`` on the resource, else ``BITBYBIT_ALERT_CHANNEL``, else
``operations.alerts.channel`` in ``config/production.yaml``, else ``log``. Destinations and secrets
come only from the environment, read when a message is sent:

* ``sns``: ``BITBYBIT_ALERT_SNS_TOPIC_ARN``; region from ``AWS_REGION``/``AWS_DEFAULT_REGION`` (or the
  ARN); ``AWS_ENDPOINT_URL_SNS`` for a non-AWS endpoint (the global ``AWS_ENDPOINT_URL``, which may
  point at S3-compatible storage, is ignored).
* ``webhook``: ``BITBYBIT_ALERT_WEBHOOK_URL`` (http/https); posts ``{"text": ...}`` as JSON.
* ``smtp``: ``BITBYBIT_ALERT_SMTP_HOST``, ``BITBYBIT_ALERT_SMTP_PORT`` (465 with implicit TLS, 587
  with STARTTLS, else 25), ``BITBYBIT_ALERT_SMTP_FROM``, ``BITBYBIT_ALERT_SMTP_TO`` (comma-separated),
  ``BITBYBIT_ALERT_SMTP_USER``/``BITBYBIT_ALERT_SMTP_PASSWORD`` (optional),
  ``BITBYBIT_ALERT_SMTP_STARTTLS`` (``true``/``false``; default ``operations.alerts.smtp_starttls``),
  ``BITBYBIT_ALERT_SMTP_SSL`` (``true``: implicit TLS from the first byte),
  ``BITBYBIT_ALERT_SMTP_CA_FILE`` (PEM bundle to trust instead of the system CAs, e.g. a private CA).
  TLS always verifies the server's certificate and host name, and the password is never sent over
  a connection without TLS: a user without STARTTLS/SSL is refused before connecting.

Every send has a timeout and is retried with exponential backoff on transient errors (timeouts,
connection errors, HTTP 429/5xx, SMTP 4xx, SNS throttling); a permanent error (bad URL, HTTP 4xx,
authentication, unknown topic) fails at once with :class:`NotificationError`.
"""

import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from bitbybit_base.settings import AlertSettings, runtime_settings

log = logging.getLogger(__name__)

CHANNELS = ("log", "sns", "webhook", "smtp")
SNS_SUBJECT_MAX = 100


class NotificationError(RuntimeError):
    """A message could not be delivered (after the retries, for transient errors)."""


class _Permanent(Exception):
    """An error retrying cannot fix."""


@dataclass
class Delivery:
    channel: str
    attempts: int
    detail: str  # message id, HTTP status or recipients


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _require(name: str) -> str:
    value = _env(name)
    if not value:
        raise NotificationError(f"{name} is not set")
    return value


def _flag(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.lower() in ("1", "true", "yes", "on")


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client TLS context that verifies the server's certificate chain and host name (the system
    CAs, or ``ca_file``); TLS 1.2 at least."""
    try:
        context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise _Permanent(f"cannot load CA file {ca_file}: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class Notifier(dg.ConfigurableResource):
    """Sends alert messages through the configured channel (see the module docstring)."""

    channel: str | None = Field(default=None, description="log | sns | webhook | smtp; default from env/config.")
    timeout_seconds: float | None = Field(default=None, description="Per attempt; default operations.alerts.")
    max_attempts: int | None = Field(default=None, description="Attempts in all; default operations.alerts.")
    backoff_seconds: float | None = Field(default=None, description="First retry delay (doubles).")
    subject_prefix: str | None = None

    # ------------------------------------------------------------------ configuration

    def _alerts(self):
        try:
            return runtime_settings().operations.alerts
        except Exception as exc:  # a broken config file must not silence alerts
            log.warning("operations.alerts unreadable (%s); using defaults", exc)
            return AlertSettings()

    def resolved_channel(self) -> str:
        channel = (self.channel or _env("BITBYBIT_ALERT_CHANNEL") or self._alerts().channel).lower()
        if channel not in CHANNELS:
            raise NotificationError(f"alert channel {channel!r} is not one of {', '.join(CHANNELS)}")
        return channel

    def _limits(self) -> tuple[float, int, float]:
        cfg = self._alerts()
        return (
            self.timeout_seconds if self.timeout_seconds is not None else cfg.timeout_seconds,
            self.max_attempts if self.max_attempts is not None else cfg.max_attempts,
            self.backoff_seconds if self.backoff_seconds is not None else cfg.backoff_seconds,
        )

    # ------------------------------------------------------------------ sending

    def send(self, subject: str, body: str) -> Delivery:
        """Deliver one message; returns how it went or raises :class:`NotificationError`."""
        channel = self.resolved_channel()
        prefix = self.subject_prefix if self.subject_prefix is not None else self._alerts().subject_prefix
        subject = f"{prefix} {subject}".strip() if prefix else subject
        if channel == "log":
            log.warning("ALERT %s\n%s", subject, body)
            return Delivery("log", 1, "logged")
        timeout, attempts, backoff = self._limits()
        senders = {"sns": self._send_sns, "webhook": self._send_webhook, "smtp": self._send_smtp}
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                detail = senders[channel](subject, body, timeout)
                return Delivery(channel, attempt, detail)
            except NotificationError:
                raise
            except _Permanent as exc:
                raise NotificationError(f"{channel}: {exc}") from exc
            except Exception as exc:  # transient: retry
                last = exc
                if attempt < attempts:
                    delay = backoff * 2 ** (attempt - 1)
                    log.warning("alert via %s failed (attempt %d/%d): %s; retrying in %.1fs",
                                channel, attempt, attempts, exc, delay)
                    time.sleep(delay)
        raise NotificationError(f"{channel}: not delivered after {attempts} attempts: {last}") from last

    def _send_webhook(self, subject: str, body: str, timeout: float) -> str:
        url = _require("BITBYBIT_ALERT_WEBHOOK_URL")
        if urlsplit(url).scheme not in ("http", "https"):
            raise _Permanent("BITBYBIT_ALERT_WEBHOOK_URL must be an http(s) URL")
        data = json.dumps({"text": f"*{subject}*\n{body}"}).encode()
        req = urllib.request.Request(
            url, data=data, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "bitbybit-alerts/0.1"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise ConnectionError(f"HTTP {exc.code}") from exc
            raise _Permanent(f"HTTP {exc.code} {exc.reason}") from exc

    def _send_smtp(self, subject: str, body: str, timeout: float) -> str:
        host = _require("BITBYBIT_ALERT_SMTP_HOST")
        sender = _require("BITBYBIT_ALERT_SMTP_FROM")
        recipients = [r.strip() for r in _require("BITBYBIT_ALERT_SMTP_TO").split(",") if r.strip()]
        implicit_tls = _flag("BITBYBIT_ALERT_SMTP_SSL", False)
        starttls = not implicit_tls and _flag("BITBYBIT_ALERT_SMTP_STARTTLS", self._alerts().smtp_starttls)
        try:
            port = int(_env("BITBYBIT_ALERT_SMTP_PORT") or (465 if implicit_tls else 587 if starttls else 25))
        except ValueError as exc:
            raise _Permanent("BITBYBIT_ALERT_SMTP_PORT must be a number") from exc
        user, password = _env("BITBYBIT_ALERT_SMTP_USER"), _env("BITBYBIT_ALERT_SMTP_PASSWORD")
        if user and not (implicit_tls or starttls):
            raise _Permanent(
                "refusing to send the SMTP password without TLS: set BITBYBIT_ALERT_SMTP_STARTTLS=true "
                "or BITBYBIT_ALERT_SMTP_SSL=true (or drop BITBYBIT_ALERT_SMTP_USER)"
            )
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, sender, ", ".join(recipients)
        msg.set_content(body)
        context = tls_context(_env("BITBYBIT_ALERT_SMTP_CA_FILE")) if implicit_tls or starttls else None
        try:
            if implicit_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                client = smtplib.SMTP(host, port, timeout=timeout)
            with client as smtp:
                if starttls:
                    smtp.starttls(context=context)  # verifies the certificate and the host name
                if user:
                    smtp.login(user, password or "")
                refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
        except ssl.SSLCertVerificationError as exc:
            raise _Permanent(f"TLS certificate of {host} not trusted: {exc.verify_message}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise _Permanent(f"authentication failed: {exc.smtp_code}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise _Permanent(f"server does not support {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise ConnectionError(f"SMTP {exc.smtp_code}") from exc
            raise _Permanent(f"SMTP {exc.smtp_code} {exc.smtp_error!r}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise _Permanent(f"recipients refused: {sorted(exc.recipients)}") from exc
        delivered = [r for r in recipients if r not in refused]
        return f"sent to {', '.join(delivered)}"

    def _send_sns(self, subject: str, body: str, timeout: float) -> str:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError

        arn = _require("BITBYBIT_ALERT_SNS_TOPIC_ARN")
        parts = arn.split(":")
        region = _env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or (parts[3] if len(parts) > 3 else None)
        endpoint = _env("AWS_ENDPOINT_URL_SNS")
        client = boto3.session.Session().client(
            "sns",
            region_name=region,
            endpoint_url=endpoint,
            config=Config(
                connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"},
                ignore_configured_endpoint_urls=endpoint is None,
            ),
        )
        # SNS subjects: ASCII, no newlines, at most 100 characters
        clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)[:SNS_SUBJECT_MAX]
        try:
            resp = client.publish(TopicArn=arn, Subject=clean, Message=body)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("Throttling", "ThrottlingException", "InternalError", "InternalFailure", "ServiceUnavailable"):
                raise ConnectionError(code) from exc
            raise _Permanent(f"{code}: {exc}") from exc
        return f"MessageId {resp.get('MessageId')}"

