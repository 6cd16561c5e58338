"""One GET to a vetted, pinned address: the transport under :mod:`resources.http_fetch`.

Plain Python (no Dagster). :func:`send_get` connects to the IP addresses the SSRF guard vetted (no
second DNS lookup, so DNS rebinding cannot swap them; TLS still checks the certificate against the
host name), bounds the whole attempt with a watchdog that shuts the socket at the deadline, streams
the body up to a size cap, and turns every urllib3/socket error into a :class:`FetchFailed`.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from dataclasses import dataclass

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import connection as urllib3_connection

DECODABLE_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
CHUNK_BYTES = 64 * 1024


class FetchFailed(Exception):
    """Ends a feed's fetch with ``message``; ``retryable`` failures are retried with backoff."""

    def __init__(self, message: str, *, http_status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.retryable = retryable


@dataclass
class Reply:
    """One HTTP response, with its body read when the status is a success."""

    status: int
    headers: dict[str, str]
    body: bytes | None
    ip: str


class _Deadline:
    """Watchdog for one attempt: at the deadline, shuts every socket the attempt opened."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _PinnedMixin:
    """Connects to the vetted IP addresses instead of resolving ``self.host`` again.

    ``self.host`` stays the URL's host name, so the ``Host`` header, SNI and certificate checks
    use it as usual.
    """

    host: str
    port: int
    timeout: float | None
    source_address: tuple[str, int] | None
    socket_options: list | None

    def __init__(
        self, *args: object, pinned_ips: tuple[str, ...] = (), deadline: _Deadline, **kwargs: object
    ):
        self._pinned_ips = pinned_ips
        self._deadline = deadline
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def _new_conn(self) -> socket.socket:
        error: Exception | None = None
        for ip in self._pinned_ips:
            where = ip if ip == self.host else f"{self.host} ({ip})"
            try:
                sock = urllib3_connection.create_connection(
                    (ip, self.port),
                    self.timeout,  # type: ignore[arg-type]
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                error = ConnectTimeoutError(self, f"connect to {where} timed out")  # type: ignore[arg-type]
                error.__cause__ = exc
            except OSError as exc:
                error = NewConnectionError(self, f"cannot connect to {where}: {exc}")  # type: ignore[arg-type]
            else:
                self._deadline.register(sock)
                return sock
        raise error or NewConnectionError(self, f"no address for {self.host}")  # type: ignore[arg-type]


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


def send_get(
    scheme: str,
    host: str,
    port: int,
    ips: tuple[str, ...],
    path: str,
    headers: dict[str, str],
    timeout: float,
    *,
    ca_certs: str | None,
    max_bytes: int,
) -> Reply:
    """One GET to the pinned address within ``timeout`` seconds, reading the body (bounded)."""
    with _Deadline(timeout) as deadline:
        pool_cls: type[HTTPConnectionPool] = _PinnedHTTPSPool if scheme == "https" else _PinnedHTTPPool
        tls: dict[str, object] = {"cert_reqs": "CERT_REQUIRED"} if scheme == "https" else {}
        if scheme == "https" and ca_certs:
            tls["ca_certs"] = ca_certs
        pool = pool_cls(
            host,
            port,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            maxsize=1,
            retries=False,
            pinned_ips=ips,
            deadline=deadline,
            **tls,
        )
        try:
            resp = pool.urlopen(
                "GET",
                path,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=True,
                assert_same_host=False,
            )
            try:
                reply_headers = {k.lower(): v for k, v in resp.headers.items()}
                ip = _peer_ip(resp) or ips[0]
                body = None
                if 200 <= resp.status < 300:
                    body = _read_body(resp, reply_headers, deadline, max_bytes)
            finally:
                resp.release_conn()
        except FetchFailed:
            raise
        except Exception as exc:
            if deadline.expired:
                raise FetchFailed(f"timeout after {timeout}s", retryable=True) from exc
            raise _translate(exc, timeout) from exc
        finally:
            pool.close()
        if deadline.expired:  # a shut socket can look like a clean end of body
            raise FetchFailed(f"timeout after {timeout}s", retryable=True)
    return Reply(resp.status, reply_headers, body, ip)


def _read_body(
    resp: urllib3.BaseHTTPResponse, headers: dict[str, str], deadline: _Deadline, limit: int
) -> bytes:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in DECODABLE_ENCODINGS:
        raise FetchFailed(f"unsupported Content-Encoding {encoding}", http_status=resp.status)
    length = headers.get("content-length", "").strip()
    if encoding in ("", "identity") and length.isdigit() and int(length) > limit:
        raise FetchFailed(
            f"body larger than {limit} bytes (Content-Length {length})", http_status=resp.status
        )
    chunks: list[bytes] = []
    size = 0
    while not deadline.expired:
        chunk = resp.read(CHUNK_BYTES, decode_content=True)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise FetchFailed(f"body larger than {limit} bytes", http_status=resp.status)
        chunks.append(chunk)
    return b"".join(chunks)


def _translate(exc: Exception, timeout: float) -> FetchFailed:
    """A urllib3/socket error as a feed failure (transient ones are retryable)."""
    if isinstance(exc, NewConnectionError):  # subclass of ConnectTimeoutError: test first
        return FetchFailed(f"connection failed: {_reason(exc)}", retryable=True)
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError | TimeoutError):
        return FetchFailed(f"timeout after {timeout}s", retryable=True)
    if isinstance(exc, SSLError):
        return FetchFailed(f"TLS error: {_reason(exc)}")
    if isinstance(exc, DecodeError):
        return FetchFailed(f"cannot decode the body: {_reason(exc)}")
    if isinstance(exc, ProtocolError | OSError):
        text = _reason(exc)
        if "IncompleteRead" in text:
            return FetchFailed(f"truncated body: {text}", retryable=True)
        return FetchFailed(f"connection error: {text}", retryable=True)
    return FetchFailed(f"request failed: {exc!r}")


def _reason(exc: BaseException) -> str:
    """The readable part of an error (urllib3 prefixes some messages with the connection's repr)."""
    text = str(exc)
    conn = getattr(exc, "conn", None)
    if conn is not None:
        text = text.removeprefix(f"{conn}: ")
    return text


def _peer_ip(resp: urllib3.BaseHTTPResponse) -> str | None:
    conn = getattr(resp, "connection", None)
    sock = getattr(conn, "sock", None)
    try:
        return str(sock.getpeername()[0]) if sock is not None else None
    except OSError:
        return None
