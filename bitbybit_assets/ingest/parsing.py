"""Feed documents → normalised entries (feedparser + selectolax). No Dagster here.

Everything a feed sends is untrusted: documents larger than ``ingest.limits.max_document_bytes``
are refused, only the first ``max_entries_per_feed`` entries are kept, and every text field goes
through the shared sanitiser (:mod:`bitbybit_base.text_safety`) with its length cap.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import feedparser
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from bitbybit_assets.ingest.canonical import article_id, canonical_url, domain_of, entry_key
from bitbybit_assets.text import html_to_text, word_count
from bitbybit_base.settings import IngestLimits
from bitbybit_base.text_safety import clean_raw, clean_text, clean_url

_WS = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]+>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]{2,8});")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f0-9]+(?:['’][A-Za-z]+)?")
_MIDNIGHT = re.compile(r"\b00:00(:00)?\b|T00:00(:00)?")
_MIN_YEAR = 1995
# A scraped listing card flattened into one title: "<date><label><title>" with no spaces between them
# ("Jul 24, 2026Frontier Red TeamProject Pilot: Can AI control a drone?", anthropic-research).
_CARD_DATE = re.compile(r"^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}, \d{4}(?=[A-Z0-9])")
_CARD_LABEL = re.compile(r"^((?:[A-Z][a-z]+ ){0,2}[A-Z][a-z]+)(?=[A-Z0-9])")
_ENTRY_TAG = re.compile(rb"<(?:item|entry)[\s>/]")
# a document with this many times max_entries_per_feed entry tags is refused before parsing
ENTRY_TAG_FACTOR = 10
MAX_ID_CHARS = 2048


class FeedDocumentError(ValueError):
    """The bytes are not a usable feed document."""


@dataclass
class ParsedFeed:
    """A feed document that passed validation."""

    version: str
    title: str | None
    language: str | None
    entries: list[Any] = field(default_factory=list)

    @property
    def entry_ids(self) -> list[str]:
        return [eid for eid in (entry_id_of(e) for e in self.entries) if eid]


def parse_document(content: bytes | None, limits: IngestLimits | None = None) -> ParsedFeed:
    """Parse and validate a feed document; raise FeedDocumentError with a clear reason.

    Refused: empty bodies, HTML pages (e.g. bot challenges, maintenance pages), malformed or
    truncated XML, documents whose bytes do not match their declared encoding, documents over
    ``limits.max_document_bytes`` and documents with more than ``ENTRY_TAG_FACTOR`` times
    ``limits.max_entries_per_feed`` entries (refused before the slow parse). Of the others, only
    the first ``max_entries_per_feed`` entries are kept.
    """
    limits = limits or IngestLimits()
    if not content or not content.strip():
        raise FeedDocumentError("empty document")
    if len(content) > limits.max_document_bytes:
        raise FeedDocumentError(
            f"document is {len(content)} bytes, more than ingest.limits.max_document_bytes "
            f"({limits.max_document_bytes})"
        )
    tags = len(_ENTRY_TAG.findall(content))
    if tags > ENTRY_TAG_FACTOR * limits.max_entries_per_feed:
        raise FeedDocumentError(
            f"document has about {tags} entries, far more than ingest.limits.max_entries_per_feed "
            f"({limits.max_entries_per_feed})"
        )
    head = content[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    parsed = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=False)
    if head.startswith((b"<!doctype html", b"<html")) or (not parsed.get("version") and b"<html" in head):
        title = _html_title(content)
        raise FeedDocumentError(f"HTML page instead of a feed{f' ({title!r})' if title else ''}")
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        name = type(exc).__name__
        if name in ("CharacterEncodingOverride", "CharacterEncodingUnknown"):
            raise FeedDocumentError(f"bad character encoding: {exc}")
        raise FeedDocumentError(f"malformed feed XML: {exc}")
    if not parsed.get("version"):
        raise FeedDocumentError("not an RSS/Atom document")
    feed = parsed.get("feed", {})
    return ParsedFeed(
        version=parsed.get("version", ""),
        title=clean_text(feed.get("title"), max_chars=limits.max_title_chars) or None,
        language=clean_text((feed.get("language") or "").split("-")[0].lower(), max_chars=8) or None,
        entries=list(parsed.get("entries", []))[: limits.max_entries_per_feed],
    )


# One parse per document: the bronze stage parses every document (validity, entry ids) and keeps the
# result here for the silver stage of the same process (a run's steps execute in one process), which
# takes each one out again. At most KEEP_BYTES of documents are kept (a long backfill's later days
# are parsed again rather than held); the parse result depends only on the bytes and the limits.
KEEP_BYTES = 32 * 1024 * 1024  # ~9 days of the 35-feed corpus; kept parses cost ~3x their bytes in RSS
_kept: dict[tuple[str, str], tuple[int, ParsedFeed]] = {}


def _kept_key(content: bytes, limits: IngestLimits, sha256: str | None) -> tuple[str, str]:
    return (sha256 or hashlib.sha256(content).hexdigest(), limits.model_dump_json())


def parse_and_keep(content: bytes | None, limits: IngestLimits | None = None, sha256: str | None = None) -> ParsedFeed:
    """:func:`parse_document`, keeping the result for :func:`take_parsed` while under ``KEEP_BYTES``
    (``sha256``: the content's hex digest when the caller has it)."""
    limits = limits or IngestLimits()
    doc = parse_document(content, limits)
    size = len(content or b"")
    if size + sum(n for n, _ in _kept.values()) <= KEEP_BYTES:
        _kept[_kept_key(content, limits, sha256)] = (size, doc)
    return doc


def take_parsed(content: bytes | None, limits: IngestLimits | None = None, sha256: str | None = None) -> ParsedFeed:
    """The document kept by :func:`parse_and_keep` (removed from the store), else parsed now."""
    limits = limits or IngestLimits()
    if content:
        kept = _kept.pop(_kept_key(content, limits, sha256), None)
        if kept is not None:
            return kept[1]
    return parse_document(content, limits)


def discard_parsed(content: bytes | None, limits: IngestLimits | None = None, sha256: str | None = None) -> None:
    """Drop the document kept by :func:`parse_and_keep`, if any (silver needs nothing from it)."""
    if content:
        _kept.pop(_kept_key(content, limits or IngestLimits(), sha256), None)


def forget_parsed() -> None:
    """Drop every kept document (end of the silver stage: what it did not take is not needed)."""
    _kept.clear()


def _html_title(content: bytes) -> str | None:
    try:
        node = HTMLParser(content.decode("utf-8", errors="replace")).css_first("title")
    except Exception:  # noqa: BLE001 - best effort for an error message
        return None
    return clean_text(node.text(), max_chars=80) if node else None


def entry_id_of(entry: Any) -> str | None:
    """The entry's own id: guid / Atom id, else its link (sanitised, at most ``MAX_ID_CHARS``)."""
    eid = (clean_raw(str(entry.get("id") or "")) or "").strip()
    eid = eid or (clean_raw(str(entry.get("link") or "")) or "").strip()
    return eid[:MAX_ID_CHARS] or None


def clean_title(raw: str | None) -> str:
    """Title as plain text: tags removed and entities unescaped (also double-escaped ones)."""
    if not raw:
        return ""
    text = _TAG.sub("", raw) if "<" in raw else raw
    for _ in range(2):
        if not _ENTITY.search(text):
            break
        text = html.unescape(text)
    return _WS.sub(" ", text).strip()


def split_card_title(title: str) -> tuple[str, str | None]:
    """(title, label) of a title glued to a listing card's date and section label; other titles unchanged.

    Only a date written straight against the next word marks such a card: then the date is dropped (the
    entry's published date says it) and a leading label of one to three capitalised words written
    straight against the title ("Frontier Red Team", "Economic Research") is returned apart.
    """
    m = _CARD_DATE.match(title)
    if not m:
        return title, None
    rest = title[m.end() :]
    label = _CARD_LABEL.match(rest)
    if not label:
        return rest, None
    return rest[label.end() :], label.group(1)


def entry_title(entry: Any, max_chars: int) -> tuple[str, str, str | None]:
    """(title, the cleaned title before ``split_card_title``, its card label) of a feedparser entry."""
    cleaned = clean_text(clean_title(clean_raw(str(entry.get("title") or ""))), max_chars=max_chars)
    title, label = split_card_title(cleaned)
    return title, cleaned, label


def parse_published(entry: Any) -> tuple[datetime | None, str | None, str]:
    """(published_at in UTC, the raw string, quality) — quality is exact|midnight|missing|invalid."""
    raw = entry.get("published") or entry.get("updated") or entry.get("created")
    parsed = entry.get("published_parsed") or entry.get("updated_parsed") or entry.get("created_parsed")
    if not raw and not parsed:
        return None, None, "missing"
    if not parsed:
        return None, raw, "invalid"
    try:
        ts = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None, raw, "invalid"
    if ts.year < _MIN_YEAR or ts.year > datetime.now(UTC).year + 1:
        return None, raw, "invalid"
    quality = "midnight" if raw and _MIDNIGHT.search(raw) and ts.hour == 0 and ts.minute == 0 else "exact"
    return ts, raw, quality


@lru_cache(maxsize=1)
def _langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str, fallback: str | None = None) -> tuple[str, float]:
    """ISO 639-1 language of ``text`` with a confidence in [0, 1].

    Scripts decide first (Han → zh, kana → ja, Hangul → ko). Latin text goes to py3langid; short or
    uncertain text falls back to the feed's declared language (or English).
    """
    sample = text[:1500]
    letters = sum(ch.isalpha() for ch in sample) or 1
    cjk, kana, hangul = len(_CJK.findall(sample)), len(_KANA.findall(sample)), len(_HANGUL.findall(sample))
    if (cjk + kana) / letters > 0.2:
        return ("ja" if kana > 0.1 * (cjk + kana) else "zh"), 0.99
    if hangul / letters > 0.2:
        return "ko", 0.99
    if not sample.strip():
        return (fallback or "und"), 0.0
    lang, prob = _langid().classify(sample)
    words = len(_LATIN_WORD.findall(sample))
    if prob < 0.9 or words < 8:
        return (fallback or "en"), round(float(prob), 3)
    return lang, round(float(prob), 3)


def _image_url(entry: Any, content_html: str, max_chars: int = 2048) -> str | None:
    candidates: list[str] = []
    for key in ("media_content", "media_thumbnail"):
        for item in entry.get(key) or []:
            if item.get("url") and (key == "media_thumbnail" or item.get("medium", "image") == "image"):
                candidates.append(item["url"])
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            candidates.append(link.get("href", ""))
    if not candidates and content_html and "<img" in content_html:
        img = HTMLParser(content_html).css_first("img[src]")
        if img is not None:
            candidates.append(img.attributes.get("src") or "")
    for url in candidates:
        url = clean_url(url, max_chars=max_chars)
        if url and url.lower().startswith(("http://", "https://")):
            return url
    return None


def _content_html(entry: Any) -> str:
    contents = entry.get("content") or []
    values = [c.get("value") or "" for c in contents]
    return max(values, key=len) if values else ""


def normalise_entry(
    entry: Any,
    *,
    feed_name: str,
    feed_language: str | None,
    position: int,
    limits: IngestLimits | None = None,
) -> dict | None:
    """One feedparser entry → a row of FEED_ENTRIES (without partition/feed config columns).

    Returns None for an entry with neither id nor link (it cannot be tracked across days). Every
    text field is sanitised and capped by ``limits`` (a link longer than ``max_url_chars`` is
    treated as missing).
    """
    limits = limits or IngestLimits()
    eid = entry_id_of(entry)
    if not eid:
        return None
    url = clean_url(entry.get("link"), max_chars=limits.max_url_chars)
    url = url or clean_url(eid if eid.startswith(("http://", "https://")) else "", max_chars=limits.max_url_chars)
    canon = canonical_url(url)
    title, raw_title, card_label = entry_title(entry, limits.max_title_chars)
    summary_html = clean_raw(str(entry.get("summary") or ""), max_chars=limits.max_html_chars) or ""
    content_html = clean_raw(_content_html(entry), max_chars=limits.max_html_chars) or ""
    summary_text = clean_text(html_to_text(summary_html))
    content_text = clean_text(html_to_text(content_html))
    if summary_text and summary_text.strip() in (title, raw_title):
        summary_text = ""  # many generated feeds repeat the title as the description
    if content_text and summary_text and summary_text[:200] in content_text:
        text = content_text
    else:
        text = " ".join(t for t in (summary_text, content_text) if t)
    text = clean_text(text, max_chars=limits.max_summary_chars)
    published_at, published_raw, quality = parse_published(entry)
    published_raw = clean_text(published_raw, max_chars=100) or None
    language, confidence = detect_language(f"{title}. {text}", fallback=feed_language)
    return {
        "entry_key": entry_key(feed_name, eid),
        "article_id": article_id(canon) if canon else entry_key(feed_name, eid),
        "feed_name": feed_name,
        "entry_id": eid,
        "url": url or None,
        "canonical_url": canon,
        "domain": domain_of(canon),
        "title": title,
        "author": clean_text(entry.get("author"), max_chars=200) or None,
        "published_at": published_at,
        "published_raw": published_raw,
        "date_quality": quality,
        "summary_html": summary_html or None,
        "content_html": content_html or None,
        "clean_text": text,
        "word_count": word_count(text),
        "language": language,
        "language_confidence": confidence,
        "image_url": _image_url(entry, content_html or summary_html, limits.max_url_chars),
        "categories": [
            c for c in (clean_text(t.get("term"), max_chars=100) for t in (entry.get("tags") or [])[:50]) if c
        ]
        + ([card_label] if card_label else []),
        "position": position,
    }
