"""Local alert receivers on 127.0.0.1: a webhook HTTP server, an SMTP server (aiosmtpd) and SNS
(moto's server, read back through an SQS queue subscribed to the topic)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Webhook:
    url: str
    statuses: list[int]  # served in order, the last one repeating
    received: list[dict] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)


@contextmanager
def webhook_server(statuses: list[int] | None = None) -> Iterator[Webhook]:
    hook = Webhook(url="", statuses=list(statuses or [200]))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                hook.received.append(json.loads(body))
                hook.content_types.append(self.headers.get("Content-Type", ""))
                status = hook.statuses.pop(0) if len(hook.statuses) > 1 else hook.statuses[0]
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@contextmanager
def smtp_server(
    *,
    user: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1; with ``tls`` (a server context) it offers STARTTLS and only
    accepts AUTH after it, or with ``implicit_tls`` speaks TLS from the first byte (SMTPS)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox(host="127.0.0.1", port=free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            box.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            return "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
        if ok:
            box.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)

    kwargs: dict = (
        {"authenticator": authenticator, "auth_require_tls": tls is not None, "auth_required": True} if user else {}
    )
    if tls is not None and implicit_tls:
        kwargs["ssl_context"] = tls
        kwargs["auth_require_tls"] = False  # the whole session is TLS already
    elif tls is not None:
        kwargs["tls_context"] = tls
    controller = Controller(Handler(), hostname=box.host, port=box.port, **kwargs)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class SnsTopic:
    endpoint: str
    topic_arn: str
    queue_url: str
    region: str = "us-east-1"

    def messages(self) -> list[dict]:
        """Every SNS notification delivered to the subscribed queue so far (the SNS envelopes)."""
        sqs = boto3.client("sqs", endpoint_url=self.endpoint, region_name=self.region)
        out = []
        while True:
            resp = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            batch = resp.get("Messages", [])
            if not batch:
                return out
            out += [json.loads(m["Body"]) for m in batch]


@contextmanager
def sns_topic(monkeypatch: pytest.MonkeyPatch) -> Iterator[SnsTopic]:
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        topic_arn = sns.create_topic(Name="bitbybit-alerts")["TopicArn"]
        # moto's backends are process-wide (shared with other tests' servers and mock_aws): a
        # queue of this fixture's own sees only what is published while it exists
        queue_url = sqs.create_queue(QueueName=f"alerts-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        yield SnsTopic(endpoint=endpoint, topic_arn=topic_arn, queue_url=queue_url)
    finally:
        server.stop()
