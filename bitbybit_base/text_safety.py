"""One sanitiser for text that came from outside (feeds, model answers), applied where it enters.

Every string a feed author or a model controls goes through :func:`clean_text` (or
:func:`clean_json` for a parsed answer) before it is stored, hashed, rendered or loaded:

* lone UTF-16 surrogates (``\\ud800``) and non-characters are removed: they cannot be encoded as
  UTF-8, so they would crash hashing, Delta/Arrow, file writes and Postgres;
* NUL and the other C0/C1 control characters are removed (PostgreSQL text cannot hold NUL); tab,
  newline and carriage return are kept only where ``keep_newlines`` allows;
* bidirectional override/isolate controls (``U+202A..U+202E``, ``U+2066..U+2069``) are removed: they
  reorder how text is displayed (spoofing); ordinary right-to-left text is untouched;
* for plain-text fields, markup tags (``<b>``, ``</p>``, ``<!-- -->``) are stripped; ``a < b`` and
  ``x<y`` stay as written because a tag must start with ``<`` followed by a letter, ``/`` or ``!``;
* optional caps on length (``max_chars``).

Pure Python, no Dagster.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SURROGATES = re.compile(r"[\ud800-\udfff]")
_NONCHARACTERS = re.compile(r"[\ufdd0-\ufdef\ufffe\uffff]")
_CONTROL_ALL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BIDI_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_TAG = re.compile(r"<!--.*?(?:-->|$)|<![^>]*>|</?[A-Za-z][^<>]*>", re.S)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u2028\u2029\u3000]+")
_ANY_WS = re.compile(r"\s+")
_SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|pwd|sig|signature|auth|credential)", re.I)


def remove_unencodable(text: str) -> str:
    """``text`` without lone surrogates and Unicode non-characters (always valid UTF-8 afterwards)."""
    text = _SURROGATES.sub("", text)
    return _NONCHARACTERS.sub("", text)


def strip_tags(text: str) -> str:
    """``text`` without markup tags and comments (``a < b`` is not a tag and stays)."""
    return _TAG.sub(" ", text) if "<" in text else text


def truncate(text: str, max_chars: int | None, ellipsis: str = "…") -> str:
    """At most ``max_chars`` characters, cut at a word boundary when one is near, with ``ellipsis``."""
    if max_chars is None or len(text) <= max_chars:
        return text
    if max_chars <= len(ellipsis):
        return text[:max_chars]
    cut = text[: max_chars - len(ellipsis)]
    space = cut.rfind(" ")
    if space >= max(1, len(cut) - 40):
        cut = cut[:space]
    # never end on a combining mark's base alone or half of a ZWJ sequence
    while cut and unicodedata.combining(cut[-1]):
        cut = cut[:-1]
    return cut.rstrip(",;:-–— \u200d") + ellipsis


def clean_text(
    value: object,
    *,
    max_chars: int | None = None,
    strip_markup: bool = False,
    keep_newlines: bool = False,
) -> str:
    """``value`` as safe text: see the module docstring. ``None`` becomes ``""``.

    ``keep_newlines=False`` (one-line fields: titles, tags, subject lines) also collapses every
    run of whitespace to one space; with ``True`` line breaks survive and only spaces collapse."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = remove_unencodable(text)
    text = _BIDI_CONTROLS.sub("", text)
    if strip_markup:
        text = strip_tags(text)
    if keep_newlines:
        text = _CONTROL_ALL.sub(" ", text).replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()
    else:
        text = _ANY_WS.sub(" ", _CONTROL_ONE_LINE.sub(" ", text)).strip()
    return truncate(text, max_chars)


def clean_raw(value: str | None, *, max_chars: int | None = None) -> str | None:
    """Stored-as-is text such as feed HTML: unencodable and control characters (but not
    whitespace) removed, length capped without an ellipsis. ``None`` stays ``None``."""
    if value is None:
        return None
    text = _CONTROL_ALL.sub("", remove_unencodable(value))
    return text[:max_chars] if max_chars is not None else text


def clean_url(value: object, *, max_chars: int | None = None) -> str:
    """A link as sent, made storable: unencodable, control and bidi characters removed, surrounding
    whitespace stripped; ``""`` when longer than ``max_chars`` (a cut link would point elsewhere)."""
    if value is None:
        return ""
    text = _BIDI_CONTROLS.sub("", clean_raw(str(value)) or "").strip()
    return "" if max_chars is not None and len(text) > max_chars else text


def clean_json(value: Any, *, max_chars: int | None = None) -> Any:
    """A parsed JSON value with every string (keys too) cleaned by :func:`clean_raw`.

    Model answers go through this before validation, caching or use: a lone surrogate or a NUL
    in an answer can then neither crash the run nor reach storage."""
    if isinstance(value, str):
        return clean_raw(value, max_chars=max_chars)
    if isinstance(value, dict):
        return {clean_raw(str(k)): clean_json(v, max_chars=max_chars) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v, max_chars=max_chars) for v in value]
    return value


def redact_url(url: str | None) -> str | None:
    """``url`` safe to log: user name and password removed, secret-looking query values masked."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # unparsable (e.g. a bad port): still never show the user info
        return re.sub(r"//[^/?#]*@", "//***@", url)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"***@{netloc}"
    query = urlencode(
        [
            (k, "***" if _SECRET_PARAM.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_secrets(text: str, secrets: list[str | None]) -> str:
    """``text`` with every non-empty secret in ``secrets`` (and its percent-encoded form) masked."""
    from urllib.parse import quote

    for secret in secrets:
        if not secret or len(secret) < 3:
            continue
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, "***")
    return text
