"""The exact text each article is embedded from, and its hash (the embedding cache key)."""

from __future__ import annotations

import hashlib
import re

import polars as pl

_WS = re.compile(r"\s+")


def embed_text(title: str | None, clean_text: str | None, max_chars: int = 2000) -> str:
    """Title plus the lead of the body, whitespace-collapsed and cut to ``max_chars``.

    The title comes first (and alone for title-only feeds); the body is cut at a word boundary.
    """
    title = _WS.sub(" ", title or "").strip()
    body = _WS.sub(" ", clean_text or "").strip()
    if body.lower().startswith(title.lower()) and title:
        body = body[len(title) :].lstrip(" .:-")
    text = f"{title}. {body}" if title and body else (title or body)
    if len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars // 2 else max_chars]
    return text


def text_hash(text: str) -> str:
    """sha256 of the embedded text (first 32 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def with_text(df: pl.DataFrame, max_chars: int = 2000) -> pl.DataFrame:
    """Add ``embed_text`` and ``text_hash`` columns to a filtered_articles frame."""
    titles = df["title"].to_list() if "title" in df.columns else [None] * df.height
    bodies = df["clean_text"].to_list() if "clean_text" in df.columns else [None] * df.height
    texts = [embed_text(t, b, max_chars) for t, b in zip(titles, bodies, strict=True)]
    return df.with_columns(
        pl.Series("embed_text", texts, dtype=pl.String),
        pl.Series("text_hash", [text_hash(t) for t in texts], dtype=pl.String),
    )
