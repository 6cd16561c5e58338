"""Canonical URLs and the stable ids derived from them."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Tracking parameters dropped from every URL (``utm_*`` is matched by prefix).
TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def canonical_url(url: str | None) -> str | None:
    """Normalise ``url``: scheme and host lowercased, default port, fragment and tracking
    parameters (``utm_*``, ``fbclid``, ``gclid`` ...) removed. Path and the remaining query
    (order kept) are left as they are. Returns None for empty or non-http(s) input."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        return None
    netloc = host if port is None or str(port) == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if ":" in host and not host.startswith("["):  # IPv6 literal
        netloc = f"[{host}]" + (f":{port}" if port and str(port) != _DEFAULT_PORTS[scheme] else "")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def short_hash(*parts: str) -> str:
    """First 32 hex chars of sha256 over the parts joined by a unit separator."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def article_id(canonical: str) -> str:
    """The id of an article: the same canonical URL in any feed gives the same id."""
    return short_hash(canonical)


def entry_key(feed_name: str, entry_id: str) -> str:
    """Unique id of one feed entry (a row): feed name + the entry's own id."""
    return short_hash(feed_name, entry_id)


def domain_of(url: str | None) -> str | None:
    if not url:
        return None
    host = urlsplit(url).hostname
    if not host:
        return None
    host = host.lower()
    return host[4:] if host.startswith("www.") else host
