"""The offline summary and preview of an article: its own sentences, no LLM.

Summary: centroid ranking of the article's sentences (cosine to the mean sentence vector, pulled
towards the title, with a lead bias and a redundancy penalty); title-only articles lean on the
title and source. Preview: the lead within a character limit. Also the article text they read
(feed HTML paragraphs or clean text, boilerplate removed), reading time and source names.
Pure Python + numpy, no Dagster.
"""

from __future__ import annotations

import math
import re

import numpy as np

from bitbybit_assets.enhance.vectors import Encoder, tfidf_encoder, unit
from bitbybit_assets.text import (
    as_sentence,
    html_paragraphs,
    normalize_ws,
    split_sentences,
    truncate_chars,
    truncate_words,
    word_count,
)

_LINE_WS = re.compile(r"[ \t\r\f\v\u00a0\u2009\u200b]+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.I)
_BOILERPLATE = re.compile(
    r"appeared first on|^the post\b|continue reading|read more\b|read the full|click here|"
    r"comments on hacker news|^comments?\b|^(article|comments) url|^points?:|original source:|"
    r"digg story:|^(views|likes|retweets|replies|bookmarks):|subscribe|sign up for|newsletter|"
    r"all rights reserved|cookie|getty images|image credits?:|^photo:|^credit:|^image:|"
    r"share this|follow us|^advertisement|sponsored|^tags?:|^filed under|^related:|"
    r"javascript|enable js|^loading",
    re.I,
)


def article_text(content_html: str | None, summary_html: str | None, clean_text: str | None) -> str:
    """The text to summarise: paragraphs of the feed HTML when they carry most of the text, else
    ``clean_text``; boilerplate removed (see :func:`clean_body`)."""
    fallback = clean_text or ""
    for fragment in (content_html, summary_html):
        blocks = html_paragraphs(fragment)
        if blocks and word_count(" ".join(blocks)) >= 0.5 * word_count(fallback):
            return clean_body("\n".join(blocks))
    return clean_body(fallback)


def clean_body(text: str | None) -> str:
    """The article text without boilerplate sentences or URLs, one sentence a line."""
    out = []
    for s in split_sentences(text or ""):
        if _BOILERPLATE.search(s):
            continue
        s = _LINE_WS.sub(" ", _URL.sub(" ", s)).strip()
        if sum(ch.isalpha() for ch in s) >= 3:
            out.append(s)
    return "\n".join(out)


def is_candidate(sentence: str, max_words: int = 80, min_words: int = 5) -> bool:
    """A sentence fit for a summary: a complete, content-bearing sentence, not boilerplate."""
    n = word_count(sentence)
    if n < min_words or n > max_words:
        return False
    if not sentence.rstrip("\"'”’)]").endswith((".", "!", "?", "…")):
        return False  # headings, captions, fragments
    if _BOILERPLATE.search(sentence) or _URL.search(sentence):
        return False
    letters = sum(ch.isalpha() for ch in sentence)
    return letters >= 0.6 * len(sentence)


def reading_time_minutes(n_words: int, words_per_minute: int = 230) -> int:
    """Whole minutes to read, at least 1."""
    return max(1, math.ceil(max(0, n_words) / max(1, words_per_minute)))


_SOURCE_NAMES = {
    "hackernews": "Hacker News",
    "techcrunch": "TechCrunch",
    "openai": "OpenAI",
    "deepmind": "DeepMind",
    "anthropic": "Anthropic",
    "github": "GitHub",
    "arxiv": "arXiv",
    "cacm": "CACM",
    "xai": "xAI",
    "google": "Google",
    "meta": "Meta",
    "digg": "Digg",
    "ollama": "Ollama",
    "cloudflare": "Cloudflare",
    "ai": "AI",
}
_SOURCE_DROP = {"fulltext", "lite", "atom", "rss", "feed", "frontpage", "combined"}


def source_label(feed_name: str | None, domain: str | None = None) -> str:
    """A readable source name from a feed slug, e.g. ``hackernews-frontpage-fulltext`` -> Hacker News."""
    if not feed_name:
        return domain or "the web"
    parts = [p for p in re.split(r"[-_]+", feed_name) if p]
    kept = [p for p in parts if p.lower() not in _SOURCE_DROP] or parts[:1]
    return " ".join(_SOURCE_NAMES.get(p.lower(), p.capitalize()) for p in kept)


# ---------------------------------------------------------------- summary


def _rank_sentences(title: str, cands: list[str], encode: Encoder | None) -> tuple[list[float], np.ndarray]:
    enc = encode or tfidf_encoder(cands + [title])
    vecs = unit(enc(cands + [title]))
    sent, tvec = vecs[:-1], vecs[-1]
    centroid = unit(sent.mean(axis=0) + 0.5 * tvec)
    sims = sent @ centroid
    # standardised similarity (so TF-IDF and MiniLM behave alike) plus a lead bias in std units
    z = (sims - sims.mean()) / (sims.std() or 1.0)
    lead = np.array([1.5 / (1 + i) for i in range(len(cands))])
    return list(z + lead), sent


def summary_candidates(title: str, text: str, *, max_words: int = 60, max_candidates: int = 30) -> list[str]:
    """The article's sentences a summary may use: distinct, not the title, within the length bounds."""
    seen: set[str] = set()
    cands: list[str] = []
    title_key = re.sub(r"\W+", " ", title.lower()).strip()
    for s in split_sentences(text):
        key = re.sub(r"\W+", " ", s.lower()).strip()
        if key in seen or key == title_key or not is_candidate(s, max_words=max_words, min_words=8):
            continue
        seen.add(key)
        cands.append(s)
        if len(cands) >= max_candidates:
            break
    return cands


def extractive_summary(
    title: str,
    text: str,
    *,
    encode: Encoder | None = None,
    max_sentences: int = 3,
    max_words: int = 60,
    max_candidates: int = 30,
) -> list[str]:
    """Up to ``max_sentences`` of the article's own sentences, in text order, within ``max_words``."""
    cands = summary_candidates(title, text, max_words=max_words, max_candidates=max_candidates)
    if not cands:
        return []
    if len(cands) == 1:
        return cands
    scores, vecs = _rank_sentences(title, cands, encode)
    order = sorted(range(len(cands)), key=lambda i: -scores[i])
    chosen: list[int] = []
    used = 0
    for i in order:
        n = word_count(cands[i])
        if used + n > max_words:
            continue
        if any(float(vecs[i] @ vecs[j]) > 0.85 for j in chosen):
            continue  # near-duplicate of a chosen sentence (captions repeated, rephrasings)
        chosen.append(i)
        used += n
        if len(chosen) >= max_sentences:
            break
    return [cands[i] for i in sorted(chosen)]


SOURCE_NOTES = ("Shared via ", "The full story is on ")  # the sentence added for title-only articles


def summary_title(title: str) -> str:
    """The title as the summary uses it: one line, never empty."""
    return normalize_ws(title).replace("\n", " ") or "Untitled"


def summary_inputs(title: str, text: str, *, max_words: int = 60) -> list[str]:
    """The texts :func:`compose_summary` gives its encoder for this article ([] when it encodes none)."""
    title = summary_title(title)
    cands = summary_candidates(title, text, max_words=max_words)
    return [*cands, title] if len(cands) > 1 else []


def compose_summary(
    title: str,
    text: str,
    *,
    source: str,
    domain: str | None,
    encode: Encoder | None = None,
    max_sentences: int = 3,
    max_words: int = 60,
) -> str:
    """A 2-3 sentence plain-text summary; short or title-only articles lean on the title and source."""
    title = summary_title(title)
    picked = extractive_summary(title, text, encode=encode, max_sentences=max_sentences, max_words=max_words)
    if len(picked) >= 2:
        return " ".join(picked)
    parts = [as_sentence(title)]
    if picked:
        parts.append(picked[0])
    else:
        where = domain or "the source"
        if domain and source.lower().replace(" ", "") not in domain.replace(".", ""):
            parts.append(f"Shared via {source}; the full story is on {where}.")
        else:
            parts.append(f"The full story is on {where}.")
    out = " ".join(parts)
    if word_count(out) > max_words:
        out = truncate_words(out, max_words)
    return out


def make_preview(title: str, text: str, *, source: str, max_chars: int = 280) -> str:
    """The lead of the article (its first real sentences) in at most ``max_chars`` characters."""
    lead: list[str] = []
    for s in split_sentences(text):
        if not is_candidate(s, max_words=200):
            continue
        if lead and len(" ".join(lead + [s])) > max_chars:
            break
        lead.append(s)
        if len(" ".join(lead)) >= max_chars * 0.6:
            break
    if not lead:
        title = normalize_ws(title).replace("\n", " ") or "Untitled"
        return truncate_chars(f"{as_sentence(title)} From {source}.", max_chars)
    return truncate_chars(" ".join(lead), max_chars)
