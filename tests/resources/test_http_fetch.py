"""Live HTTP fetcher against a real local HTTP server (tests/support/http_server.py)."""

from __future__ import annotations

import gzip
import ipaddress
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bitbybit_base.settings import FetchSettings
from resources import http_fetch
from resources.fetch_guard import blocked_reason
from resources.fetch_types import FetchRequest
from resources.http_fetch import HttpFeedFetcher
from resources.retry_after import parse_retry_after
from tests.support.http_server import (
    LocalHTTPServer,
    Response,
    local_http_server,
    redirect,
    self_signed_tls,
)

pytestmark = pytest.mark.integration

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"


@pytest.fixture
def http_server():
    with local_http_server() as server:
        yield server


def make_fetcher(resolver=None, **overrides) -> HttpFeedFetcher:
    settings = {
        "timeout_seconds": 2.0,
        "max_retries": 0,
        "per_host_delay_seconds": 0.0,
        "allow_private_addresses": True,
        "concurrency": 4,
        "user_agent": "bitbybit-test/1.0 (+https://example.org/bot)",
    }
    settings.update(overrides)
    return HttpFeedFetcher(FetchSettings(**settings), resolver=resolver, backoff_seconds=0.01)


def req(url: str, name: str = "feed", **kw) -> FetchRequest:
    return FetchRequest(feed_name=name, url=url, **kw)


def local_names(*names: str):
    """A resolver mapping fake host names to 127.0.0.1 (counts the lookups)."""
    calls: list[str] = []

    def resolve(host: str) -> list[str]:
        calls.append(host)
        if host in names:
            return ["127.0.0.1"]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


# ------------------------------------------------------------------ success and conditional GET


def test_200_returns_body_and_validators(http_server: LocalHTTPServer):
    http_server.route("/feed.xml", Response(body=RSS, etag='"v1"', last_modified=LAST_MODIFIED))
    result = make_fetcher().fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "ok", result.error
    assert result.source == "http"
    assert result.http_status == 200
    assert result.content == RSS
    assert result.etag == '"v1"'
    assert result.last_modified == LAST_MODIFIED
    assert result.final_url == http_server.url("/feed.xml")
    assert result.attempts == 1
    assert result.error is None
    assert result.elapsed_ms >= 0
    seen = http_server.requests("/feed.xml")[0].headers
    assert seen["user-agent"] == "bitbybit-test/1.0 (+https://example.org/bot)"
    assert seen["accept-encoding"] == "gzip"
    assert "if-none-match" not in seen


def test_304_when_validators_match(http_server: LocalHTTPServer):
    http_server.route("/feed.xml", Response(body=RSS, etag='"v1"', last_modified=LAST_MODIFIED))
    result = make_fetcher().fetch(req(http_server.url("/feed.xml"), etag='"v1"', last_modified=LAST_MODIFIED))

    assert result.fetch_status == "not_modified", result.error
    assert result.http_status == 304
    assert result.content is None
    assert result.etag == '"v1"'
    assert result.last_modified == LAST_MODIFIED
    seen = http_server.requests("/feed.xml")[0].headers
    assert seen["if-none-match"] == '"v1"'
    assert seen["if-modified-since"] == LAST_MODIFIED


def test_304_by_last_modified_keeps_request_validators(http_server: LocalHTTPServer):
    http_server.route("/feed.xml", Response(body=RSS, last_modified=LAST_MODIFIED))
    result = make_fetcher().fetch(req(http_server.url("/feed.xml"), last_modified=LAST_MODIFIED))

    assert result.fetch_status == "not_modified"
    assert result.last_modified == LAST_MODIFIED
    assert "if-none-match" not in http_server.requests("/feed.xml")[0].headers


def test_changed_feed_returns_new_body_and_etag(http_server: LocalHTTPServer):
    http_server.route("/feed.xml", Response(body=RSS, etag='"v2"'))
    result = make_fetcher().fetch(req(http_server.url("/feed.xml"), etag='"v1"'))

    assert result.fetch_status == "ok"
    assert result.content == RSS
    assert result.etag == '"v2"'


def test_html_page_with_200_is_ok_at_this_layer(http_server: LocalHTTPServer):
    html = b"<!doctype html><html><body>Please enable JavaScript</body></html>"
    http_server.route("/feed", Response(body=html, headers={"Content-Type": "text/html"}))
    result = make_fetcher().fetch(req(http_server.url("/feed")))

    assert result.fetch_status == "ok"
    assert result.content == html
    assert result.extra["content_type"] == "text/html"


def test_gzip_body_is_decoded(http_server: LocalHTTPServer):
    body = RSS * 200
    http_server.route("/feed.xml", Response(body=body, gzip=True))
    result = make_fetcher().fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "ok", result.error
    assert result.content == body
    assert result.extra["content_encoding"] == "gzip"


def test_corrupt_gzip_is_an_error(http_server: LocalHTTPServer):
    http_server.route(
        "/feed.xml", Response(body=b"this is not gzip data", headers={"Content-Encoding": "gzip"})
    )
    result = make_fetcher().fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "error"
    assert "cannot decode" in result.error


# ------------------------------------------------------------------ retries and Retry-After


def test_retry_after_429_is_honoured_then_succeeds(http_server: LocalHTTPServer):
    http_server.route(
        "/feed.xml",
        Response(status=429, headers={"Retry-After": "1"}),
        Response(body=RSS),
    )
    result = make_fetcher(max_retries=2).fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "ok", result.error
    assert result.content == RSS
    assert result.attempts == 2
    assert result.extra["retry_waits"] == [1.0]
    first, second = http_server.requests("/feed.xml")
    assert second.started - first.started >= 1.0
    assert result.elapsed_ms >= 990


def test_retry_after_longer_than_allowed_gives_up(http_server: LocalHTTPServer):
    http_server.route("/feed.xml", Response(status=429, headers={"Retry-After": "3600"}), Response(body=RSS))
    result = make_fetcher(max_retries=3, max_retry_after_seconds=30).fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "error"
    assert result.http_status == 429
    assert "Retry-After 3600s exceeds max_retry_after_seconds (30s)" in result.error
    assert http_server.hits("/feed.xml") == 1


def test_503_retry_after_as_http_date_too_long(http_server: LocalHTTPServer):
    later = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    http_server.route("/feed.xml", Response(status=503, headers={"Retry-After": later}))
    result = make_fetcher(max_retries=3, max_retry_after_seconds=60).fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "error"
    assert result.http_status == 503
    assert "Retry-After" in result.error and "exceeds max_retry_after_seconds (60s)" in result.error
    assert http_server.hits("/feed.xml") == 1


def test_500_is_retried_then_reported(http_server: LocalHTTPServer):
    http_server.route("/feed.xml", Response(status=500, body=b"boom"))
    result = make_fetcher(max_retries=2).fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "error"
    assert result.http_status == 500
    assert result.error == "HTTP 500 (3 attempts)"
    assert result.attempts == 3
    assert http_server.hits("/feed.xml") == 3
    assert len(result.extra["retry_waits"]) == 2


def test_5xx_then_success_recovers(http_server: LocalHTTPServer):
    http_server.route("/feed.xml", Response(status=502), Response(body=RSS))
    result = make_fetcher(max_retries=2).fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "ok"
    assert result.attempts == 2
    assert http_server.hits("/feed.xml") == 2


def test_404_is_not_retried(http_server: LocalHTTPServer):
    result = make_fetcher(max_retries=3).fetch(req(http_server.url("/missing.xml")))

    assert result.fetch_status == "error"
    assert result.error == "HTTP 404"
    assert result.http_status == 404
    assert result.attempts == 1
    assert http_server.hits("/missing.xml") == 1


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = make_fetcher(max_retries=1).fetch(req(f"http://127.0.0.1:{port}/feed.xml"))

    assert result.fetch_status == "error"
    assert result.error.startswith("connection failed")
    assert result.http_status is None
    assert result.attempts == 2


# ------------------------------------------------------------------ limits and timeouts


def test_oversize_with_content_length(http_server: LocalHTTPServer):
    http_server.route("/big.xml", Response(body=b"x" * 5000))
    result = make_fetcher(max_bytes=1000).fetch(req(http_server.url("/big.xml")))

    assert result.fetch_status == "error"
    assert "body larger than 1000 bytes" in result.error
    assert result.http_status == 200
    assert result.content is None


def test_oversize_chunked_without_length(http_server: LocalHTTPServer):
    http_server.route("/big.xml", Response(body=b"x" * 5000, chunked=True, chunk_size=512))
    result = make_fetcher(max_bytes=1000).fetch(req(http_server.url("/big.xml")))

    assert result.fetch_status == "error"
    assert result.error == "body larger than 1000 bytes"
    assert "content-length" not in {k.lower() for k in http_server.requests("/big.xml")[0].headers}


def test_oversize_after_gzip_decoding(http_server: LocalHTTPServer):
    body = b"\0" * 200_000  # about 200 bytes compressed
    assert len(gzip.compress(body)) < 1000
    http_server.route("/bomb.xml", Response(body=body, gzip=True))
    result = make_fetcher(max_bytes=1000).fetch(req(http_server.url("/bomb.xml")))

    assert result.fetch_status == "error"
    assert result.error == "body larger than 1000 bytes"


def test_body_at_the_limit_is_accepted(http_server: LocalHTTPServer):
    http_server.route("/exact.xml", Response(body=b"x" * 1000, chunked=True, chunk_size=100))
    result = make_fetcher(max_bytes=1000).fetch(req(http_server.url("/exact.xml")))

    assert result.fetch_status == "ok"
    assert len(result.content) == 1000


def test_read_timeout(http_server: LocalHTTPServer):
    http_server.route("/slow.xml", Response(body=RSS, delay=1.5))
    result = make_fetcher(timeout_seconds=0.3).fetch(req(http_server.url("/slow.xml")))

    assert result.fetch_status == "error"
    assert result.error == "timeout after 0.3s"
    assert result.http_status is None


def test_timeout_is_retried(http_server: LocalHTTPServer):
    http_server.route("/slow.xml", Response(body=RSS, delay=1.0), Response(body=RSS))
    result = make_fetcher(timeout_seconds=0.3, max_retries=1).fetch(req(http_server.url("/slow.xml")))

    assert result.fetch_status == "ok"
    assert result.attempts == 2


def test_slow_drip_hits_the_overall_deadline(http_server: LocalHTTPServer):
    # every chunk arrives well within the read timeout, but the whole body takes ~2 s
    http_server.route("/drip.xml", Response(body=b"x" * 100, chunked=True, chunk_size=10, drip_delay=0.2))
    result = make_fetcher(timeout_seconds=0.5).fetch(req(http_server.url("/drip.xml")))

    assert result.fetch_status == "error"
    assert result.error == "timeout after 0.5s"


def test_truncated_body_is_an_error(http_server: LocalHTTPServer):
    http_server.route("/cut.xml", Response(body=RSS[:20], content_length=len(RSS)))
    result = make_fetcher().fetch(req(http_server.url("/cut.xml")))

    assert result.fetch_status == "error"
    assert result.error.startswith("truncated body")


# ------------------------------------------------------------------ redirects


def test_redirect_chain_is_followed(http_server: LocalHTTPServer):
    http_server.route("/a", redirect(http_server.url("/b"), status=301))
    http_server.route("/b", redirect("/c", status=307))  # relative Location
    http_server.route("/c", Response(body=RSS, etag='"c"'))
    result = make_fetcher().fetch(req(http_server.url("/a"), etag='"old"'))

    assert result.fetch_status == "ok", result.error
    assert result.content == RSS
    assert result.final_url == http_server.url("/c")
    assert result.url == http_server.url("/a")
    assert result.extra["redirects"] == [http_server.url("/b"), http_server.url("/c")]
    assert result.etag == '"c"'
    assert [http_server.hits(p) for p in ("/a", "/b", "/c")] == [1, 1, 1]


def test_too_many_redirects(http_server: LocalHTTPServer):
    for i in range(6):
        http_server.route(f"/r{i}", redirect(f"/r{i + 1}"))
    result = make_fetcher(max_redirects=3).fetch(req(http_server.url("/r0")))

    assert result.fetch_status == "error"
    assert result.error == "too many redirects (3)"
    assert result.http_status == 302
    assert http_server.hits("/r4") == 0


def test_redirect_loop_is_detected(http_server: LocalHTTPServer):
    http_server.route("/x", redirect("/y"))
    http_server.route("/y", redirect("/x"))
    result = make_fetcher(max_redirects=10).fetch(req(http_server.url("/x")))

    assert result.fetch_status == "error"
    assert result.error.startswith("redirect loop")
    assert http_server.hits("/x") == 1
    assert http_server.hits("/y") == 1


def test_redirect_without_location_is_an_error(http_server: LocalHTTPServer):
    http_server.route("/x", Response(status=302))
    result = make_fetcher().fetch(req(http_server.url("/x")))

    assert result.fetch_status == "error"
    assert "without a Location" in result.error


@pytest.fixture
def loopback_is_public(monkeypatch):
    """Let the guard treat 127.0.0.1 as a public host, so the local server can play a public feed."""
    real = http_fetch.blocked_reason

    def fake(ip):
        return None if str(ip) == "127.0.0.1" else real(ip)

    monkeypatch.setattr(http_fetch, "blocked_reason", fake)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a cloud metadata address"),
        ("http://internal.test/admin", "refused: 10.1.2.3 is a private address (internal.test)"),
        ("http://[::1]:8080/", "refused: ::1 is a loopback address"),
    ],
)
def test_redirect_to_private_address_is_refused(
    http_server: LocalHTTPServer, loopback_is_public, target: str, expected: str
):
    http_server.route("/feed.xml", redirect(target))

    def resolve(host: str) -> list[str]:
        return {"public.test": ["127.0.0.1"], "internal.test": ["10.1.2.3"]}[host]

    fetcher = make_fetcher(resolver=resolve, allow_private_addresses=False)
    result = fetcher.fetch(req(http_server.url("/feed.xml", host="public.test")))

    assert result.fetch_status == "error"
    assert result.error == expected
    assert result.final_url == target
    assert http_server.hits("/feed.xml") == 1


# ------------------------------------------------------------------ SSRF guard


def test_direct_loopback_url_is_refused_by_default(http_server: LocalHTTPServer):
    http_server.route("/feed.xml", Response(body=RSS))
    fetcher = HttpFeedFetcher(FetchSettings())  # production defaults
    result = fetcher.fetch(req(http_server.url("/feed.xml")))

    assert result.fetch_status == "error"
    assert result.error == "refused: 127.0.0.1 is a loopback address"
    assert result.http_status is None
    assert http_server.hits("/feed.xml") == 0


def test_localhost_name_is_refused_by_default(http_server: LocalHTTPServer):
    result = HttpFeedFetcher(FetchSettings()).fetch(req(http_server.url("/feed.xml", host="localhost")))

    assert result.fetch_status == "error"
    assert result.error.startswith("refused: ")
    assert "loopback" in result.error and "(localhost)" in result.error
    assert http_server.hits("/feed.xml") == 0


def test_any_private_address_among_several_is_refused():
    def resolve(host: str) -> list[str]:
        return ["93.184.216.34", "192.168.0.10"]

    result = make_fetcher(resolver=resolve, allow_private_addresses=False).fetch(req("http://mixed.test/"))
    assert result.error == "refused: 192.168.0.10 is a private address (mixed.test)"


@pytest.mark.parametrize("url", ["ftp://example.org/feed.xml", "file:///etc/passwd", "gopher://x/"])
def test_non_http_scheme_is_refused(url: str):
    result = make_fetcher().fetch(req(url))

    assert result.fetch_status == "error"
    assert result.error == f"unsupported scheme {url.split(':')[0]}"
    assert result.source == "http"


def test_connection_is_pinned_to_the_vetted_address(http_server: LocalHTTPServer):
    """The host name is resolved once, by the guard; the socket goes to that address."""
    http_server.route("/feed.xml", Response(body=RSS))
    resolve = local_names("feed.test")  # not resolvable by the system DNS
    result = make_fetcher(resolver=resolve).fetch(req(http_server.url("/feed.xml", host="feed.test")))

    assert result.fetch_status == "ok", result.error
    assert resolve.calls == ["feed.test"]
    assert result.extra["ip"] == "127.0.0.1"
    assert http_server.requests("/feed.xml")[0].headers["host"] == f"feed.test:{http_server.port}"


@pytest.fixture(scope="module")
def tls_feed_test(tmp_path_factory):
    """A server TLS context for ``feed.test`` and the CA file that trusts it."""
    return self_signed_tls(["feed.test"], tmp_path_factory.mktemp("tls"))


def test_https_through_the_pinned_address_verifies_the_host_name(tls_feed_test):
    ctx, ca_path = tls_feed_test
    with LocalHTTPServer(tls=ctx) as srv:
        srv.route("/feed.xml", Response(body=RSS, etag='"tls"'))
        fetcher = HttpFeedFetcher(
            FetchSettings(allow_private_addresses=True, timeout_seconds=10.0),  # TLS set-up is slow on a busy machine
            resolver=local_names("feed.test", "other.test"),
            ca_certs=str(ca_path),
        )

        ok = fetcher.fetch(req(srv.url("/feed.xml", host="feed.test")))
        wrong_name = fetcher.fetch(req(srv.url("/feed.xml", host="other.test")))

    assert ok.fetch_status == "ok", ok.error
    assert ok.content == RSS
    assert ok.etag == '"tls"'
    assert wrong_name.fetch_status == "error"
    assert wrong_name.error.startswith("TLS error")
    assert srv.hits("/feed.xml") == 1


def test_https_with_an_untrusted_certificate_is_refused(tls_feed_test):
    ctx, _ = tls_feed_test
    with LocalHTTPServer(tls=ctx) as srv:
        srv.route("/feed.xml", Response(body=RSS))
        # default CA bundle (loading it and the handshake are slow on a busy machine: not a timing test)
        fetcher = make_fetcher(resolver=local_names("feed.test"), timeout_seconds=10.0)
        result = fetcher.fetch(req(srv.url("/feed.xml", host="feed.test")))

    assert result.fetch_status == "error"
    assert result.error.startswith("TLS error")
    assert "certificate verify failed" in result.error


def test_unresolvable_host_is_an_error():
    result = make_fetcher(resolver=local_names()).fetch(req("http://nowhere.test/feed.xml"))

    assert result.fetch_status == "error"
    assert result.error.startswith("cannot resolve nowhere.test")


def test_unexpected_failure_becomes_an_error_row():
    def broken(host: str) -> list[str]:
        raise RuntimeError("resolver exploded")

    result = make_fetcher(resolver=broken).fetch(req("http://feed.test/"))
    assert result.fetch_status == "error"
    assert "resolver exploded" in result.error


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "a non-public address"),
        ("::ffff:127.0.0.1", "a loopback address (embedded 127.0.0.1)"),
        ("2002:a00:1::", "a private address (embedded 10.0.0.1)"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address (embedded 169.254.169.254)"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_blocked_reason(address: str, reason: str | None):
    assert blocked_reason(ipaddress.ip_address(address)) == reason


# ------------------------------------------------------------------ Retry-After parsing


def test_parse_retry_after():
    now = datetime(2026, 7, 20, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after("Mon, 20 Jul 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 20 Jul 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("", now) is None
    assert parse_retry_after(None, now) is None


# ------------------------------------------------------------------ fetch_many


def test_fetch_many_keeps_order_and_is_polite_per_host(http_server: LocalHTTPServer):
    feeds_per_host = {"a.test": 3, "b.test": 1, "c.test": 2}
    reqs = []
    for host, count in feeds_per_host.items():
        for i in range(count):
            path = f"/{host}/{i}.xml"
            http_server.route(path, Response(body=f"{host}-{i}".encode(), delay=0.15))
            reqs.append(req(http_server.url(path, host=host), name=f"{host}-{i}"))
    reqs.insert(2, req("ftp://a.test/nope", name="bad"))
    fetcher = make_fetcher(resolver=local_names(*feeds_per_host), concurrency=3, per_host_delay_seconds=0.1)

    results = fetcher.fetch_many(reqs)

    assert [r.feed_name for r in results] == [r.feed_name for r in reqs]
    for r in results:
        if r.feed_name == "bad":
            assert r.fetch_status == "error"
        else:
            assert r.fetch_status == "ok", r.error
            assert r.content == r.feed_name.encode()
    for host in feeds_per_host:
        assert http_server.max_in_flight(host) == 1
        seen = sorted((r for r in http_server.requests() if r.host == host), key=lambda r: r.started)
        for first, second in zip(seen, seen[1:], strict=False):
            # response delay (0.15 s) + per-host pause (0.1 s) between two starts
            assert second.started - first.started >= 0.25
    assert http_server.max_in_flight_total() <= 3


def test_fetch_many_empty():
    assert make_fetcher().fetch_many([]) == []
