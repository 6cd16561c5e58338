"""A programmable HTTP server on 127.0.0.1 (ephemeral port) for tests that need a real socket.

Program routes with :meth:`LocalHTTPServer.route` (one or more :class:`Response` objects, served in
order, the last one repeating, or a callable) and inspect what the server saw: hit counts, request
headers, and the most requests it ever had in flight at once per ``Host`` name.

    with LocalHTTPServer() as srv:
        srv.route("/feed.xml", Response(body=b"<rss/>", etag='"v1"'))
        fetch(srv.url("/feed.xml"))
        assert srv.hits("/feed.xml") == 1

Every response closes its connection, so each request is a fresh TCP connection. Fake host names
work with :meth:`url` (``srv.url("/x", host="feed-a.test")``) when the client resolves them itself
(the fetcher's ``resolver``); the server records the ``Host`` header it was sent.
"""

from __future__ import annotations

import datetime as dt
import gzip as gzip_module
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class Response:
    """One programmed response.

    ``etag`` / ``last_modified`` are sent as headers, and a request whose ``If-None-Match`` equals
    ``etag`` (or whose ``If-Modified-Since`` equals ``last_modified``) gets ``304 Not Modified``.
    ``content_length`` overrides the header (a larger value than the body simulates truncation);
    ``chunked`` sends ``Transfer-Encoding: chunked`` with no length; ``drip_delay`` pauses between
    body chunks of ``chunk_size`` bytes; ``delay`` pauses before the status line.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunked: bool = False
    chunk_size: int = 64 * 1024
    drip_delay: float = 0.0
    gzip: bool = False
    content_length: int | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class RecordedRequest:
    """What the server saw for one request (header names lower-cased)."""

    method: str
    path: str
    host: str
    headers: dict[str, str]
    started: float
    finished: float | None = None


Handler = Callable[[RecordedRequest], Response]


def redirect(location: str, status: int = 302) -> Response:
    """A redirect response to ``location``."""
    return Response(status=status, headers={"Location": location})


class LocalHTTPServer:
    """ThreadingHTTPServer on 127.0.0.1 with programmable routes; unknown paths get 404.

    Pass ``tls`` (a server-side ``ssl.SSLContext``, e.g. from :func:`self_signed_tls`) to serve HTTPS.
    """

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self._bind_host = host
        self._tls = tls
        self._lock = threading.Lock()
        self._routes: dict[str, list[Response] | Handler] = {}
        self._served: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []
        self._in_flight: dict[str, int] = {}
        self._max_in_flight: dict[str, int] = {}
        self._total_in_flight = 0
        self._max_total_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalHTTPServer:
        server = ThreadingHTTPServer((self._bind_host, 0), _make_handler(self))
        server.daemon_threads = True
        if self._tls is not None:  # handshake on accept; a failed one is dropped by socketserver
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    def url(self, path: str = "/", host: str | None = None) -> str:
        """``http(s)://<host>:<port><path>``; ``host`` defaults to the bound address."""
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host or self._bind_host}:{self.port}{path}"

    # ------------------------------------------------------------------ programming

    def route(self, path: str, *responses: Response | Handler) -> None:
        """Serve ``responses`` in order on ``path`` (the last one repeats), or call a handler."""
        if not responses:
            raise ValueError("route() needs at least one response or a handler")
        with self._lock:
            if len(responses) == 1 and callable(responses[0]) and not isinstance(responses[0], Response):
                self._routes[path] = responses[0]
            else:
                if not all(isinstance(r, Response) for r in responses):
                    raise TypeError("pass Response objects, or a single handler")
                self._routes[path] = list(responses)  # type: ignore[arg-type]
            self._served[path] = 0

    def reset(self) -> None:
        """Forget routes and everything recorded."""
        with self._lock:
            self._routes.clear()
            self._served.clear()
            self._requests.clear()
            self._in_flight.clear()
            self._max_in_flight.clear()
            self._total_in_flight = self._max_total_in_flight = 0

    # ------------------------------------------------------------------ inspection

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        """Requests seen (all, or those for ``path`` without its query string)."""
        with self._lock:
            return [r for r in self._requests if path is None or r.path.split("?", 1)[0] == path]

    def hits(self, path: str) -> int:
        return len(self.requests(path))

    def max_in_flight(self, host: str | None = None) -> int:
        """Most concurrent requests seen for one ``Host`` name (or the highest over all hosts)."""
        with self._lock:
            if host is not None:
                return self._max_in_flight.get(host, 0)
            return max(self._max_in_flight.values(), default=0)

    def max_in_flight_total(self) -> int:
        """Most concurrent requests seen across all hosts."""
        with self._lock:
            return self._max_total_in_flight

    # ------------------------------------------------------------------ internals

    def _begin(self, rec: RecordedRequest) -> Response | Handler | None:
        with self._lock:
            self._requests.append(rec)
            n = self._in_flight.get(rec.host, 0) + 1
            self._in_flight[rec.host] = n
            self._max_in_flight[rec.host] = max(n, self._max_in_flight.get(rec.host, 0))
            self._total_in_flight += 1
            self._max_total_in_flight = max(self._max_total_in_flight, self._total_in_flight)
            key = rec.path.split("?", 1)[0]
            route = self._routes.get(key)
            if route is None or callable(route):
                return route
            index = self._served[key]
            self._served[key] = index + 1
            return route[min(index, len(route) - 1)]

    def _end(self, rec: RecordedRequest) -> None:
        with self._lock:
            rec.finished = time.monotonic()
            self._in_flight[rec.host] -= 1
            self._total_in_flight -= 1


def _not_modified(resp: Response, headers: dict[str, str]) -> bool:
    if resp.status != 200:
        return False
    inm = headers.get("if-none-match")
    if inm is not None and resp.etag is not None:
        return resp.etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    ims = headers.get("if-modified-since")
    return ims is not None and resp.last_modified is not None and ims == resp.last_modified


def _make_handler(owner: LocalHTTPServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence stderr
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._serve(send_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(send_body=False)

        def _serve(self, send_body: bool) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            host = headers.get("host", "").rsplit(":", 1)[0] if headers.get("host") else ""
            rec = RecordedRequest(self.command, self.path, host, headers, time.monotonic())
            route = owner._begin(rec)
            self.close_connection = True
            try:
                if route is None:
                    resp = Response(status=404, body=b"not found")
                elif isinstance(route, Response):
                    resp = route
                else:
                    resp = route(rec)
                self._write(resp, headers, send_body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeouts, size limits): expected in tests
            finally:
                owner._end(rec)

        def _write(self, resp: Response, req_headers: dict[str, str], send_body: bool) -> None:
            if resp.delay:
                time.sleep(resp.delay)
            status, body = resp.status, resp.body
            if _not_modified(resp, req_headers):
                status, body = 304, b""
            if resp.gzip and body:
                body = gzip_module.compress(body)
            self.send_response(status)
            sent = {k.lower() for k in resp.headers}
            for name, value in resp.headers.items():
                self.send_header(name, value)
            if resp.etag is not None and "etag" not in sent:
                self.send_header("ETag", resp.etag)
            if resp.last_modified is not None and "last-modified" not in sent:
                self.send_header("Last-Modified", resp.last_modified)
            if resp.gzip and body:
                self.send_header("Content-Encoding", "gzip")
            if status in (204, 304):
                self.send_header("Connection", "close")
                self.end_headers()
                return
            if resp.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif "content-length" not in sent:
                length = resp.content_length if resp.content_length is not None else len(body)
                self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            if not send_body:
                return
            for start in range(0, len(body), max(1, resp.chunk_size)):
                chunk = body[start : start + resp.chunk_size]
                if resp.chunked:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
                if resp.drip_delay:
                    time.sleep(resp.drip_delay)
            if resp.chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return _Handler


def self_signed_tls(hostnames: list[str], directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for ``hostnames`` signed by a throwaway CA, and the CA's PEM path.

    Uses ``cryptography`` (installed with the dev extras through moto).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject: str, key, issuer: x509.Name, signer, *, ca: bool, sans=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bitbybit test CA")])
    ca_cert = build("bitbybit test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in hostnames:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = build(hostnames[0], key, ca_name, ca_key, ca=False, sans=sans)

    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx, ca_path


@contextmanager
def local_http_server() -> Iterator[LocalHTTPServer]:
    """Context manager: a started :class:`LocalHTTPServer`, stopped afterwards."""
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    """Pytest fixture: a fresh local HTTP server per test."""
    with local_http_server() as server:
        yield server
