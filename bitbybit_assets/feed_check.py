"""Checking a feed before it is saved from the desk: the form, the URL (the fetcher's SSRF rules)
and a test fetch through the real fetch path showing the entries it would parse.

Every refusal is a :class:`FeedRefused` whose message says why; nothing here writes anything.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import ValidationError

from bitbybit_assets.ingest.parsing import FeedDocumentError, entry_title, parse_document, parse_published
from bitbybit_base.settings import FeedConfig, FetchSettings, IngestLimits
from bitbybit_base.text_safety import clean_url
from resources.fetch_guard import Resolver, blocked_reason, default_resolver
from resources.fetch_types import FetchRequest
from resources.http_fetch import HttpFeedFetcher

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_URL_CHARS = 2048
TEST_TIMEOUT_SECONDS = 10.0
TEST_DEADLINE_SECONDS = 20.0
PREVIEW_ENTRIES = 20


class FeedRefused(ValueError):
    """A feed that cannot be saved; ``str()`` is the reason, for the editor."""


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "feed"
        parts.append(f"{loc}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def feed_from_form(form: Mapping[str, object], *, name: str | None = None, enabled: bool = True) -> FeedConfig:
    """A :class:`FeedConfig` from form fields (``name`` fixed when editing); :class:`FeedRefused` says why not."""
    raw_name = (name if name is not None else str(form.get("name") or "")).strip()
    if name is None and not NAME.match(raw_name):
        raise FeedRefused(f"name {raw_name!r} must be 1-64 lower-case letters, digits, '.', '_' or '-' "
                          "(it names the feed everywhere and cannot change later)")
    url = str(form.get("url") or "").strip()
    category = str(form.get("category") or "").strip() or "general"
    trust = str(form.get("trust") or "").strip() or "0.5"
    if len(category) > 64:
        raise FeedRefused("category: at most 64 characters")
    try:
        return FeedConfig.model_validate(
            {"name": raw_name, "url": url, "enabled": enabled, "category": category, "trust": trust}
        )
    except ValidationError as exc:
        raise FeedRefused(_reason(exc)) from None


def check_url(url: str, fetch: FetchSettings, resolver: Resolver | None = None) -> None:
    """The URL rules: http(s), a host, no credentials or whitespace, and every address the host resolves
    to public unless ``ingest.fetch.allow_private_addresses`` (the fetcher's SSRF guard)."""
    if len(url) > MAX_URL_CHARS:
        raise FeedRefused(f"url is longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise FeedRefused("url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a bad port)
    except ValueError as exc:
        raise FeedRefused(f"url is not valid: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FeedRefused("url must be http:// or https://")
    if parts.username or parts.password:
        raise FeedRefused("url must not contain a user name or password")
    host = (parts.hostname or "").strip()
    if not host:
        raise FeedRefused("url has no host")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in (resolver or default_resolver)(host)]
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, socket.gaierror) and exc.strerror else exc
            raise FeedRefused(f"cannot resolve {host}: {reason}") from None
    if not addresses:
        raise FeedRefused(f"cannot resolve {host}: no addresses")
    if not fetch.allow_private_addresses:
        for ip in addresses:
            why = blocked_reason(ip)
            if why:
                named = "" if str(ip) == host else f" ({host})"
                raise FeedRefused(f"refused: {ip} is {why}{named}; feeds must be on public addresses "
                                  "(ingest.fetch.allow_private_addresses is off)")


@dataclass
class PreviewEntry:
    title: str
    published_at: datetime | None
    link: str | None


@dataclass
class TestFetch:
    """What a test fetch found: the document's title and format, and its first entries."""

    http_status: int | None
    final_url: str | None
    elapsed_ms: int
    version: str
    title: str | None
    total_entries: int
    entries: list[PreviewEntry] = field(default_factory=list)


def test_fetch(
    feed: FeedConfig, fetch: FetchSettings, limits: IngestLimits | None = None, *, resolver: Resolver | None = None
) -> TestFetch:
    """Fetch ``feed.url`` once through :class:`HttpFeedFetcher` (short timeouts, no retries) and parse
    it as the ingest does; :class:`FeedRefused` with the fetcher's or parser's reason otherwise."""
    quick = fetch.model_copy(update={
        "timeout_seconds": min(fetch.timeout_seconds, TEST_TIMEOUT_SECONDS),
        "feed_deadline_seconds": min(fetch.feed_deadline_seconds, TEST_DEADLINE_SECONDS),
        "max_retries": 0,
        "max_retry_after_seconds": 0.0,
        "per_host_delay_seconds": 0.0,
    })
    result = HttpFeedFetcher(quick, resolver=resolver).fetch(FetchRequest(feed.name, feed.url))
    if result.fetch_status != "ok":
        raise FeedRefused(f"test fetch failed: {result.error or result.fetch_status}")
    try:
        parsed = parse_document(result.content, limits)
    except FeedDocumentError as exc:
        raise FeedRefused(f"test fetch: not a usable feed: {exc}") from None
    entries = []
    for entry in parsed.entries[:PREVIEW_ENTRIES]:
        title = entry_title(entry, max_chars=300)[0]
        entries.append(PreviewEntry(title or "(no title)", parse_published(entry)[0], clean_url(entry.get("link")) or None))
    return TestFetch(result.http_status, result.final_url, result.elapsed_ms, parsed.version, parsed.title,
                     len(parsed.entries), entries)


test_fetch.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
TestFetch.__test__ = False  # type: ignore[attr-defined]
