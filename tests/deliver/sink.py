"""A real SMTP server for delivery tests (aiosmtpd on 127.0.0.1) that records what it accepted and
can refuse addresses (5xx / 4xx on RCPT) or drop the connection after a number of messages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.ops.receivers import free_port


@dataclass
class Sink:
    host: str
    port: int
    messages: list[tuple[str, EmailMessage]] = field(default_factory=list)  # (envelope recipient, message)
    rcpt_codes: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply, e.g. "550 no such user"
    drop_after: int | None = None  # close the connection at the MAIL after this many messages in all
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def recipients(self) -> list[str]:
        with self.lock:
            return [r for r, _ in self.messages]


class _Handler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        with self.sink.lock:
            self.sink.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        with self.sink.lock:
            drop = self.sink.drop_after is not None and len(self.sink.messages) >= self.sink.drop_after
            if drop:
                self.sink.drop_after = None
        if drop:
            server.transport.close()
            return "421 closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        code = self.sink.rcpt_codes.get(address.lower())
        if code:
            return code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.sink.lock:
            for rcpt in envelope.rcpt_tos:
                self.sink.messages.append((rcpt, msg))
            n = len(self.sink.messages)
        return f"250 OK queued as Q{n:05d}"


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    sink = Sink("127.0.0.1", free_port())
    controller = Controller(_Handler(sink), hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
