"""What both email transports share: the errors a sender acts on, the message as sent, the throttle.

Plain Python (no Dagster); used by :mod:`resources.mail_smtp`, :mod:`resources.mail_ses` and the
:class:`~resources.email.EmailSender` resource (whose docstring says which error means what).
"""

from __future__ import annotations

import copy
import email.message
from collections.abc import Callable
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.utils import make_msgid, parseaddr
from io import BytesIO
from typing import Protocol


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


def bare_address(value: str) -> str:
    """The bare address of ``value`` (``Name <a@b>`` or ``a@b``), or ``""`` when it is not one."""
    if "\r" in value or "\n" in value:
        return ""
    addr = parseaddr(value)[1].strip()
    return addr if "@" in addr and not addr.startswith("@") and not addr.endswith("@") else ""


def flatten(message: email.message.EmailMessage, sender: str, *, utf8: bool = False) -> tuple[bytes, str]:
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


class Throttle:
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
