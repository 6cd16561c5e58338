"""Make feed values safe for the newsletter: http(s)-only links and plain one-line text.

Escaping itself is Jinja's autoescape (on for the HTML template); these helpers decide which URLs may
become ``href``/``src`` at all and normalise text so nothing a feed sends is interpreted as markup.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import quote, urlsplit, urlunsplit

from bitbybit_base.text_safety import clean_text, remove_unencodable

ALLOWED_SCHEMES = ("http", "https")
# longer links are refused: no real article URL needs more, and each one is repeated in the HTML
MAX_URL_CHARS = 2048
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_STRIP_EDGES = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
_BAD_HOST = re.compile(r"[\s<>\"'`\\{}|^%]")
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = "/?%:@!$&'()*+,;=-._~"
# merge tags of common email services, allowed for the configured unsubscribe link only
_MERGE_TAG = re.compile(r"^(\{\{\s*[\w.]+\s*\}\}|\*\|[A-Z_]+\|\*|%[\w_]+%|\[[\w_]+\])$")


def _unescape_fully(value: str) -> str:
    for _ in range(5):  # "&amp;#106;" -> "&#106;" -> "j"
        nxt = html.unescape(value)
        if nxt == value:
            break
        value = nxt
    return value


def _split_http(text: str):
    text = re.sub(r"[\t\n\r]", "", text.strip(_STRIP_EDGES))  # browsers drop these inside URLs
    if not text or _CONTROL.search(text):
        return None
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port  # .port raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not host or _BAD_HOST.search(parts.netloc):
        return None
    if parts.username is not None or parts.password is not None:
        return None
    if any(unicodedata.category(c) in ("Cf", "Cc", "Zl", "Zp") for c in host):
        return None  # invisible/bidi characters in a host name only serve to spoof it
    return parts, host, port


def safe_url(value: object) -> str | None:
    """``value`` as an absolute http(s) URL (unsafe characters percent-encoded), else ``None``.

    Entity-encoded, mixed-case and whitespace-obfuscated schemes (``jav&#x09;ascript:``,
    `` JaVaScRiPt:``), ``data:``/``vbscript:``/``file:`` URLs, relative and protocol-relative URLs,
    and URLs with credentials are refused. The check runs on the value as given and fully
    entity-decoded; both must be http(s). The result is built from the value as given."""
    if value is None:
        return None
    raw = str(value)
    if len(raw) > MAX_URL_CHARS or remove_unencodable(raw) != raw:  # too long, or not encodable
        return None
    if _split_http(_unescape_fully(raw)) is None:
        return None
    split = _split_http(raw)
    if split is None:
        return None
    parts, host, port = split
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    url = urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            quote(parts.path, safe=_SAFE_PATH) or "/",
            quote(parts.query, safe=_SAFE_QUERY),
            quote(parts.fragment, safe=_SAFE_QUERY),
        )
    )
    return url if len(url) <= MAX_URL_CHARS else None


def safe_unsubscribe_url(value: object) -> str | None:
    """The configured unsubscribe link: an http(s) URL, a ``mailto:`` address or an ESP merge tag."""
    if value is None:
        return None
    text = str(value).strip()
    if _MERGE_TAG.match(text):
        return text
    if text.lower().startswith("mailto:") and re.fullmatch(r"mailto:[^\s<>\"'`]+@[^\s<>\"'`]+", text, re.I):
        return text
    return safe_url(text)


def plain_text(value: object, *, max_chars: int | None = None, strip_markup: bool = False) -> str:
    """One line of text: entities decoded once, then the shared sanitiser
    (:func:`bitbybit_base.text_safety.clean_text`: surrogates, NUL, control and bidi-override
    characters removed, whitespace collapsed).

    Feed titles and summaries are plain text already (the template escapes them); a title such
    as ``Why <div> soup is bad`` keeps its characters and is shown literally. ``strip_markup``
    removes tags (model output, which must be plain text and is not shown literally)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if max_chars is not None:  # bounded work on huge values: only a generous prefix can be shown
        text = text[: 8 * max_chars + 256]
    text = clean_text(html.unescape(clean_text(text)), strip_markup=strip_markup)
    if max_chars is not None and len(text) > max_chars:
        cut = text[: max_chars - 1]
        text = (cut[: cut.rfind(" ")] if " " in cut else cut).rstrip(",;:-–— ") + "…"
    return text


def display_domain(url: str | None, fallback: str | None = None) -> str:
    """``example.com`` for display (no ``www.``), from a safe URL, else ``fallback``."""
    host = urlsplit(url).hostname if url else None
    host = host or (fallback or "")
    return plain_text(host.removeprefix("www."))
