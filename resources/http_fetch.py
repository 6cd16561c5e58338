"""Live HTTP feed fetcher: conditional GET with limits, retries, politeness and an SSRF guard.

Plain Python (no Dagster). :class:`HttpFeedFetcher` never raises for a feed's failure: every
failure becomes a :class:`~resources.fetch_types.FetchResult` with ``fetch_status="error"`` and a
readable ``error``.

Built on ``urllib3`` rather than ``requests``: redirects are followed here (every hop goes through
the SSRF guard) and each connection is pinned to the address the guard vetted, which needs a
custom connection class; ``requests`` would only add a layer over the same urllib3 pools.

Behaviour, per feed:

* ``http``/``https`` only; the host is resolved once per hop and every address must be public
  unless ``allow_private_addresses`` (loopback, private, link-local, multicast, reserved,
  unspecified, cloud metadata and IPv4-mapped/6to4/NAT64 forms of those are refused). The
  connection then goes to the vetted address (no second DNS lookup, so DNS rebinding cannot swap
  it); TLS still verifies the certificate against the host name.
* ``If-None-Match`` / ``If-Modified-Since`` from the request; ``304`` -> ``not_modified``.
* ``timeout_seconds`` bounds connect, each read, and the whole attempt end to end (a watchdog shuts
  the socket at the deadline, so a slow-drip server cannot hang a worker).
* ``feed_deadline_seconds`` bounds everything for one feed: DNS lookups (run with a timeout), the
  wait for the host's politeness slot, every redirect, retry and ``Retry-After`` pause. A wait that
  would pass the deadline is not started; the feed fails with a message naming the setting.
* Body capped at ``max_bytes`` while streaming, after gzip decoding.
* Redirects (301/302/303/307/308) up to ``max_redirects``; loops are detected.
* 429/503 honour ``Retry-After`` (seconds or HTTP-date) up to ``max_retry_after_seconds``;
  connection errors, timeouts, truncated bodies and 5xx are retried with exponential backoff,
  ``max_retries`` times. Other 4xx are final.
* ``fetch_many`` runs ``concurrency`` workers, with at most one request in flight per host and at
  least ``per_host_delay_seconds`` between the end of one request and the start of the next to the
  same host (a ``Retry-After`` also defers that host for everyone).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

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

from bitbybit_base.settings import FetchSettings
from bitbybit_base.text_safety import redact_url
from resources.fetch_types import FetchRequest, FetchResult
from resources.retry_after import parse_retry_after

log = logging.getLogger(__name__)

Resolver = Callable[[str], Iterable[str]]
"""Maps a host name to its IP addresses (strings). The default uses ``socket.getaddrinfo``."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
DECODABLE_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
CHUNK_BYTES = 64 * 1024
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "fd00:ec2::254",  # AWS IPv6
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
    )
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")

try:  # a CA bundle that does not depend on the OS image
    import certifi

    _CA_CERTS: str | None = certifi.where()
except ImportError:  # pragma: no cover - certifi ships with requests/botocore
    _CA_CERTS = None


# ---------------------------------------------------------------------------- helpers


class _FetchFailed(Exception):
    """Ends a feed's fetch with ``message``; ``retryable`` failures are retried with backoff."""

    def __init__(self, message: str, *, http_status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.retryable = retryable


def default_resolver(host: str) -> list[str]:
    """All addresses ``host`` resolves to, in resolver order, without duplicates."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address (``"a loopback address"``...), or None."""
    embedded: IPAddress | None = None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            embedded = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            embedded = ip.sixtofour
        elif ip in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is not None:
        inner = blocked_reason(embedded)
        if inner:
            return f"{inner} (embedded {embedded})"
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def _resolve_within(resolver: Resolver, host: str, progress: _Progress) -> list[str]:
    """``resolver(host)`` in a helper thread, abandoned (feed fails) at the feed deadline:
    ``getaddrinfo`` has no timeout of its own, so a slow DNS server could otherwise hold a worker."""
    left = progress.check(f"resolving {host}")
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = list(resolver(host))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"dns-{host}"[:40], daemon=True)
    worker.start()
    worker.join(None if left == float("inf") else left)
    if worker.is_alive():
        raise progress.expired(f"cannot resolve {host} in time")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _safe(url: str) -> str:
    """``url`` for an error message or log: credentials and secret query values masked."""
    return redact_url(url) or url


def _host_key(host: str) -> str:
    return host.lower().rstrip(".")


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


class _HostGate:
    """One request in flight per host, and a minimum pause between requests to the same host."""

    def __init__(self, delay: float) -> None:
        self._delay = max(0.0, delay)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._not_before: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str, progress: _Progress | None = None) -> Iterator[None]:
        """Hold ``host``'s slot; with ``progress``, give up (raise) rather than wait past its deadline."""
        key = _host_key(host)
        with self._lock:
            host_lock = self._locks.setdefault(key, threading.Lock())
        left = progress.check(f"waiting for {host}") if progress is not None else -1
        if not host_lock.acquire(timeout=left):
            raise progress.expired(f"waiting for {host}")  # type: ignore[union-attr]
        try:
            while True:
                with self._lock:
                    wait = self._not_before.get(key, 0.0) - time.monotonic()
                if wait <= 0:
                    break
                if progress is not None:
                    progress.check(f"waiting {wait:.1f}s for {host}", needed=wait)
                time.sleep(wait)
            try:
                yield
            finally:
                self.defer(host, self._delay)
        finally:
            host_lock.release()

    def defer(self, host: str, seconds: float) -> None:
        """No request to ``host`` starts earlier than ``seconds`` from now."""
        key = _host_key(host)
        with self._lock:
            self._not_before[key] = max(self._not_before.get(key, 0.0), time.monotonic() + seconds)


@dataclass
class _Reply:
    """One HTTP response, with its body read when the status is a success."""

    status: int
    headers: dict[str, str]
    body: bytes | None
    ip: str


@dataclass
class _Progress:
    """Bookkeeping for one feed across hops and retries."""

    url: str
    retries: int = 0
    requests: int = 0
    waits: list[float] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    ip: str | None = None
    deadline: float = float("inf")  # time.monotonic() by which the whole feed must be done
    deadline_seconds: float = float("inf")

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self, what: str) -> _FetchFailed:
        return _FetchFailed(
            f"{what}: feed deadline of {self.deadline_seconds:g}s passed "
            "(ingest.fetch.feed_deadline_seconds)"
        )

    def check(self, what: str, needed: float = 0.0) -> float:
        """Seconds left; raises when ``needed`` more seconds would pass the deadline."""
        left = self.remaining()
        if left <= 0 or needed > left:
            raise self.expired(what)
        return left


# ---------------------------------------------------------------------------- fetcher


class HttpFeedFetcher:
    """Fetches feeds over HTTP(S) as :class:`FetchResult` rows (``source="http"``).

    ``resolver`` maps a host name to IP address strings (tests map fake names to 127.0.0.1);
    ``backoff_seconds`` is the first retry pause for connection errors and 5xx (doubling after);
    ``ca_certs`` is a PEM bundle to trust instead of certifi's (a private CA, tests).
    Thread-safe: one instance can serve several ``fetch``/``fetch_many`` calls at once, sharing the
    per-host politeness state.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolver: Resolver | None = None,
        backoff_seconds: float = 1.0,
        ca_certs: str | None = None,
    ) -> None:
        self.settings = settings
        self._ca_certs = ca_certs or _CA_CERTS
        self._resolver: Resolver = resolver or default_resolver
        self._backoff = max(0.0, backoff_seconds)
        self._gate = _HostGate(settings.per_host_delay_seconds)

    # ------------------------------------------------------------------ public API

    def fetch(self, req: FetchRequest) -> FetchResult:
        """Fetch one feed; failures come back as ``fetch_status="error"`` rows, never exceptions."""
        fetched_at = datetime.now(UTC)
        started = time.monotonic()
        budget = self.settings.feed_deadline_seconds
        progress = _Progress(url=req.url, chain=[req.url], deadline=started + budget, deadline_seconds=budget)
        try:
            reply = self._follow(req, progress)
        except _FetchFailed as exc:
            log.info("fetch %s failed: %s", req.feed_name, exc.message)
            return self._result(
                req, progress, fetched_at, started, "error", exc.http_status, error=exc.message
            )
        except Exception as exc:  # a bug must not sink the other feeds
            log.exception("fetch %s: unexpected error", req.feed_name)
            return self._result(
                req, progress, fetched_at, started, "error", None, error=f"internal error: {exc!r}"
            )
        headers = reply.headers
        if reply.status == 304:
            return self._result(
                req,
                progress,
                fetched_at,
                started,
                "not_modified",
                304,
                etag=headers.get("etag") or req.etag,
                last_modified=headers.get("last-modified") or req.last_modified,
                headers=headers,
            )
        return self._result(
            req,
            progress,
            fetched_at,
            started,
            "ok",
            reply.status,
            content=reply.body,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            headers=headers,
        )

    def fetch_many(self, reqs: list[FetchRequest]) -> list[FetchResult]:
        """Fetch all feeds with bounded concurrency; results come back in request order."""
        if not reqs:
            return []
        workers = max(1, min(self.settings.concurrency, len(reqs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feed-fetch") as pool:
            futures = {i: pool.submit(self.fetch, reqs[i]) for i in _interleave_by_host(reqs)}
            return [futures[i].result() for i in range(len(reqs))]

    # ------------------------------------------------------------------ internals

    def _follow(self, req: FetchRequest, progress: _Progress) -> _Reply:
        """Request ``req.url``, following redirects through the guard."""
        s = self.settings
        headers = {
            "User-Agent": s.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip",
        }
        if req.etag:
            headers["If-None-Match"] = req.etag
        if req.last_modified:
            headers["If-Modified-Since"] = req.last_modified
        url = progress.url
        for hop in range(s.max_redirects + 1):
            reply = self._with_retries(url, headers, progress)
            if reply.status not in REDIRECT_STATUSES:
                return reply
            location = reply.headers.get("location")
            if not location:
                raise _FetchFailed(f"HTTP {reply.status} without a Location header", http_status=reply.status)
            nxt = _strip_fragment(urljoin(url, location.strip()))
            if nxt in progress.chain:
                raise _FetchFailed(
                    f"redirect loop: {' -> '.join(_safe(u) for u in [*progress.chain, nxt])}", http_status=reply.status
                )
            if hop == s.max_redirects:
                raise _FetchFailed(f"too many redirects ({s.max_redirects})", http_status=reply.status)
            progress.chain.append(nxt)
            progress.url = url = nxt
        raise AssertionError("unreachable")  # pragma: no cover

    def _with_retries(self, url: str, headers: dict[str, str], progress: _Progress) -> _Reply:
        """One hop, retried on transient failures; returns a non-retryable reply or raises."""
        s = self.settings
        while True:
            try:
                reply = self._attempt(url, headers, progress)
            except _FetchFailed as exc:
                if not exc.retryable or progress.retries >= s.max_retries:
                    if exc.retryable and progress.retries:
                        exc.message = f"{exc.message} ({progress.retries + 1} attempts)"
                    raise
                wait = self._backoff * 2**progress.retries
            else:
                status = reply.status
                if 200 <= status < 300 and status not in (200, 203):
                    raise _FetchFailed(f"unexpected HTTP {status}", http_status=status)
                if status in (200, 203, 304) or status in REDIRECT_STATUSES:
                    return reply
                if status != 429 and status < 500:
                    raise _FetchFailed(f"HTTP {status}", http_status=status)
                retry_after = None
                if status in RETRY_AFTER_STATUSES:
                    retry_after = parse_retry_after(reply.headers.get("retry-after"))
                if retry_after is not None and retry_after > s.max_retry_after_seconds:
                    raise _FetchFailed(
                        f"HTTP {status}: Retry-After {retry_after:g}s exceeds "
                        f"max_retry_after_seconds ({s.max_retry_after_seconds:g}s)",
                        http_status=status,
                    )
                if progress.retries >= s.max_retries:
                    attempts = f" ({progress.retries + 1} attempts)" if progress.retries else ""
                    raise _FetchFailed(f"HTTP {status}{attempts}", http_status=status)
                if retry_after is not None:
                    wait = retry_after
                    self._gate.defer(urlsplit(url).hostname or "", retry_after)
                else:
                    wait = self._backoff * 2**progress.retries
            progress.check(f"retry in {wait:g}s", needed=wait)
            progress.retries += 1
            progress.waits.append(round(wait, 3))
            log.debug("retrying %s in %.2fs", url, wait)
            time.sleep(wait)

    def _attempt(self, url: str, headers: dict[str, str], progress: _Progress) -> _Reply:
        """Vet ``url`` and send one GET under the host's politeness slot."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise _FetchFailed(f"invalid URL {_safe(url)!r}: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise _FetchFailed(f"unsupported scheme {scheme or '(none)'}")
        host = parts.hostname
        if not host:
            raise _FetchFailed(f"invalid URL {_safe(url)!r}: no host")
        ips = self._vet(host, progress)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        port = port or (443 if scheme == "https" else 80)
        with self._gate.slot(host, progress):
            progress.requests += 1
            timeout = min(self.settings.timeout_seconds, progress.check("request"))
            reply = self._send(scheme, host, port, ips, path, headers, timeout)
        progress.ip = reply.ip
        return reply

    def _vet(self, host: str, progress: _Progress) -> tuple[str, ...]:
        """Resolve ``host`` and apply the SSRF guard; returns the addresses to connect to."""
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                resolved = _resolve_within(self._resolver, host, progress)
            except socket.gaierror as exc:
                transient = exc.errno == socket.EAI_AGAIN
                raise _FetchFailed(
                    f"cannot resolve {host}: {exc.strerror or exc}", retryable=transient
                ) from exc
            except OSError as exc:
                raise _FetchFailed(f"cannot resolve {host}: {exc}", retryable=True) from exc
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
            except ValueError as exc:
                raise _FetchFailed(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise _FetchFailed(f"cannot resolve {host}: no addresses")
        if not self.settings.allow_private_addresses:
            for ip in addresses:
                reason = blocked_reason(ip)
                if reason:
                    named = "" if str(ip) == host else f" ({host})"
                    raise _FetchFailed(f"refused: {ip} is {reason}{named}")
        return tuple(dict.fromkeys(str(ip) for ip in addresses))

    def _send(
        self,
        scheme: str,
        host: str,
        port: int,
        ips: tuple[str, ...],
        path: str,
        headers: dict[str, str],
        timeout: float,
    ) -> _Reply:
        """One GET to the pinned address within ``timeout`` seconds, reading the body (bounded)."""
        with _Deadline(timeout) as deadline:
            pool_cls: type[HTTPConnectionPool] = _PinnedHTTPSPool if scheme == "https" else _PinnedHTTPPool
            tls: dict[str, object] = {"cert_reqs": "CERT_REQUIRED"} if scheme == "https" else {}
            if scheme == "https" and self._ca_certs:
                tls["ca_certs"] = self._ca_certs
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
                        body = self._read_body(resp, reply_headers, deadline)
                finally:
                    resp.release_conn()
            except _FetchFailed:
                raise
            except Exception as exc:
                if deadline.expired:
                    raise _FetchFailed(f"timeout after {timeout}s", retryable=True) from exc
                raise _translate(exc, timeout) from exc
            finally:
                pool.close()
            if deadline.expired:  # a shut socket can look like a clean end of body
                raise _FetchFailed(f"timeout after {timeout}s", retryable=True)
        return _Reply(resp.status, reply_headers, body, ip)

    def _read_body(
        self, resp: urllib3.BaseHTTPResponse, headers: dict[str, str], deadline: _Deadline
    ) -> bytes:
        limit = self.settings.max_bytes
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in DECODABLE_ENCODINGS:
            raise _FetchFailed(f"unsupported Content-Encoding {encoding}", http_status=resp.status)
        length = headers.get("content-length", "").strip()
        if encoding in ("", "identity") and length.isdigit() and int(length) > limit:
            raise _FetchFailed(
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
                raise _FetchFailed(f"body larger than {limit} bytes", http_status=resp.status)
            chunks.append(chunk)
        return b"".join(chunks)

    def _result(
        self,
        req: FetchRequest,
        progress: _Progress,
        fetched_at: datetime,
        started: float,
        status: str,
        http_status: int | None,
        *,
        content: bytes | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> FetchResult:
        extra: dict = {
            "requests": progress.requests,
            "redirects": progress.chain[1:],
            "retry_waits": progress.waits,
            "ip": progress.ip,
        }
        if headers:
            extra["content_type"] = headers.get("content-type")
            extra["content_encoding"] = headers.get("content-encoding")
        return FetchResult(
            feed_name=req.feed_name,
            url=req.url,
            source="http",
            fetch_status=status,
            fetched_at=fetched_at,
            http_status=http_status,
            content=content,
            etag=etag,
            last_modified=last_modified,
            error=error,
            elapsed_ms=int((time.monotonic() - started) * 1000),
            final_url=progress.url,
            attempts=progress.retries + 1,
            extra=extra,
        )


def _translate(exc: Exception, timeout: float) -> _FetchFailed:
    """A urllib3/socket error as a feed failure (transient ones are retryable)."""
    if isinstance(exc, NewConnectionError):  # subclass of ConnectTimeoutError: test first
        return _FetchFailed(f"connection failed: {_reason(exc)}", retryable=True)
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError | TimeoutError):
        return _FetchFailed(f"timeout after {timeout}s", retryable=True)
    if isinstance(exc, SSLError):
        return _FetchFailed(f"TLS error: {_reason(exc)}")
    if isinstance(exc, DecodeError):
        return _FetchFailed(f"cannot decode the body: {_reason(exc)}")
    if isinstance(exc, ProtocolError | OSError):
        text = _reason(exc)
        if "IncompleteRead" in text:
            return _FetchFailed(f"truncated body: {text}", retryable=True)
        return _FetchFailed(f"connection error: {text}", retryable=True)
    return _FetchFailed(f"request failed: {exc!r}")


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


def _strip_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def _interleave_by_host(reqs: list[FetchRequest]) -> list[int]:
    """Request indices ordered round-robin across hosts, so one busy host does not hold every worker."""
    by_host: dict[str, list[int]] = {}
    for i, req in enumerate(reqs):
        try:
            host = _host_key(urlsplit(req.url).hostname or "")
        except ValueError:
            host = ""
        by_host.setdefault(host, []).append(i)
    queues = list(by_host.values())
    order: list[int] = []
    while queues:
        order.extend(q.pop(0) for q in queues)
        queues = [q for q in queues if q]
    return order
