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

The parts: :mod:`resources.fetch_guard` (address safety), :mod:`resources.fetch_pacing` (per-host
slots, the feed deadline), :mod:`resources.fetch_transport` (one pinned GET); this module is the
loop over redirects and retries.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

from bitbybit_base.settings import FetchSettings
from bitbybit_base.text_safety import redact_url
from resources.fetch_guard import IPAddress, Resolver, blocked_reason, default_resolver, resolve_within
from resources.fetch_pacing import HostGate, Progress, interleave_by_host
from resources.fetch_transport import FetchFailed, Reply, send_get
from resources.fetch_types import FetchRequest, FetchResult
from resources.retry_after import parse_retry_after

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"

try:  # a CA bundle that does not depend on the OS image
    import certifi

    _CA_CERTS: str | None = certifi.where()
except ImportError:  # pragma: no cover - certifi ships with requests/botocore
    _CA_CERTS = None


def _safe(url: str) -> str:
    """``url`` for an error message or log: credentials and secret query values masked."""
    return redact_url(url) or url


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
        self._gate = HostGate(settings.per_host_delay_seconds)

    # ------------------------------------------------------------------ public API

    def fetch(self, req: FetchRequest) -> FetchResult:
        """Fetch one feed; failures come back as ``fetch_status="error"`` rows, never exceptions."""
        fetched_at = datetime.now(UTC)
        started = time.monotonic()
        budget = self.settings.feed_deadline_seconds
        progress = Progress(url=req.url, chain=[req.url], deadline=started + budget, deadline_seconds=budget)
        try:
            reply = self._follow(req, progress)
        except FetchFailed as exc:
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
            futures = {i: pool.submit(self.fetch, reqs[i]) for i in interleave_by_host(reqs)}
            return [futures[i].result() for i in range(len(reqs))]

    # ------------------------------------------------------------------ internals

    def _follow(self, req: FetchRequest, progress: Progress) -> Reply:
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
                raise FetchFailed(f"HTTP {reply.status} without a Location header", http_status=reply.status)
            nxt = _strip_fragment(urljoin(url, location.strip()))
            if nxt in progress.chain:
                raise FetchFailed(
                    f"redirect loop: {' -> '.join(_safe(u) for u in [*progress.chain, nxt])}", http_status=reply.status
                )
            if hop == s.max_redirects:
                raise FetchFailed(f"too many redirects ({s.max_redirects})", http_status=reply.status)
            progress.chain.append(nxt)
            progress.url = url = nxt
        raise AssertionError("unreachable")  # pragma: no cover

    def _with_retries(self, url: str, headers: dict[str, str], progress: Progress) -> Reply:
        """One hop, retried on transient failures; returns a non-retryable reply or raises."""
        s = self.settings
        while True:
            try:
                reply = self._attempt(url, headers, progress)
            except FetchFailed as exc:
                if not exc.retryable or progress.retries >= s.max_retries:
                    if exc.retryable and progress.retries:
                        exc.message = f"{exc.message} ({progress.retries + 1} attempts)"
                    raise
                wait = self._backoff * 2**progress.retries
            else:
                status = reply.status
                if 200 <= status < 300 and status not in (200, 203):
                    raise FetchFailed(f"unexpected HTTP {status}", http_status=status)
                if status in (200, 203, 304) or status in REDIRECT_STATUSES:
                    return reply
                if status != 429 and status < 500:
                    raise FetchFailed(f"HTTP {status}", http_status=status)
                retry_after = None
                if status in RETRY_AFTER_STATUSES:
                    retry_after = parse_retry_after(reply.headers.get("retry-after"))
                if retry_after is not None and retry_after > s.max_retry_after_seconds:
                    raise FetchFailed(
                        f"HTTP {status}: Retry-After {retry_after:g}s exceeds "
                        f"max_retry_after_seconds ({s.max_retry_after_seconds:g}s)",
                        http_status=status,
                    )
                if progress.retries >= s.max_retries:
                    attempts = f" ({progress.retries + 1} attempts)" if progress.retries else ""
                    raise FetchFailed(f"HTTP {status}{attempts}", http_status=status)
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

    def _attempt(self, url: str, headers: dict[str, str], progress: Progress) -> Reply:
        """Vet ``url`` and send one GET under the host's politeness slot."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchFailed(f"invalid URL {_safe(url)!r}: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchFailed(f"unsupported scheme {scheme or '(none)'}")
        host = parts.hostname
        if not host:
            raise FetchFailed(f"invalid URL {_safe(url)!r}: no host")
        ips = self._vet(host, progress)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        port = port or (443 if scheme == "https" else 80)
        with self._gate.slot(host, progress):
            progress.requests += 1
            timeout = min(self.settings.timeout_seconds, progress.check("request"))
            reply = send_get(
                scheme, host, port, ips, path, headers, timeout, ca_certs=self._ca_certs, max_bytes=self.settings.max_bytes
            )
        progress.ip = reply.ip
        return reply

    def _vet(self, host: str, progress: Progress) -> tuple[str, ...]:
        """Resolve ``host`` and apply the SSRF guard; returns the addresses to connect to."""
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                resolved = resolve_within(self._resolver, host, progress)
            except socket.gaierror as exc:
                transient = exc.errno == socket.EAI_AGAIN
                raise FetchFailed(
                    f"cannot resolve {host}: {exc.strerror or exc}", retryable=transient
                ) from exc
            except OSError as exc:
                raise FetchFailed(f"cannot resolve {host}: {exc}", retryable=True) from exc
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
            except ValueError as exc:
                raise FetchFailed(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise FetchFailed(f"cannot resolve {host}: no addresses")
        if not self.settings.allow_private_addresses:
            for ip in addresses:
                reason = blocked_reason(ip)
                if reason:
                    named = "" if str(ip) == host else f" ({host})"
                    raise FetchFailed(f"refused: {ip} is {reason}{named}")
        return tuple(dict.fromkeys(str(ip) for ip in addresses))

    def _result(
        self,
        req: FetchRequest,
        progress: Progress,
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


def _strip_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
