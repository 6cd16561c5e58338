"""Plain-text utilities shared by every stage: word counts, HTML to text, sentences, truncation.

One definition of a *word* for the whole pipeline (:data:`WORD_PATTERN`): a Latin-script word
(letters/digits, an apostrophe suffix such as ``don't`` kept whole) or **one CJK ideograph or Hangul
syllable**: Chinese and Japanese are written without spaces, so counting whitespace-separated
tokens would make a 40-character Chinese sentence one word (reading times, summary limits and the
content filter would all be wrong for it). :func:`word_count` (Python) and :func:`word_count_expr`
(polars) count the same thing. Pure Python, no Dagster.
"""

from __future__ import annotations

import html
import re

import polars as pl
from selectolax.lexbor import LexborHTMLParser

WORD_PATTERN = (
    r"[A-Za-z\u00c0-\u024f0-9]+(?:['’][A-Za-z]+)?"  # a Latin-script word (don't, it’s: one word)
    r"|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"  # one CJK ideograph
    r"|[\uac00-\ud7af]"  # one Hangul syllable
)
_WORD = re.compile(WORD_PATTERN)
_ANY_WS = re.compile(r"\s+")
_LINE_WS = re.compile(r"[ \t\r\f\v\u00a0\u2009\u200b]+")  # spaces, not newlines

# tags whose text is never visible (the whole-fragment text of a feed entry)
_INVISIBLE_TAGS = ("script", "style", "noscript", "iframe", "svg", "template", "object", "embed", "form")
# also left out of the paragraphs an article is summarised from: captions, headings, code, tables
_NON_PROSE_TAGS = (
    "script, style, noscript, iframe, object, embed, svg, form, button, nav, aside, figure, "
    "figcaption, pre, table, h1, h2, h3, h4, h5, h6"
)

_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "inc", "ltd", "co", "corp", "e.g", "i.e", "u.s", "u.k", "u.n", "no", "fig", "al", "approx", "dept", "est", "gen", "gov", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft"]  # noqa: SIM905
)
_SENT_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


# ---------------------------------------------------------------- words


def word_count(text: str | None) -> int:
    """Words in ``text``: Latin-script words plus one per CJK ideograph / Hangul syllable."""
    return len(_WORD.findall(text)) if text else 0


def word_count_expr(column: str) -> pl.Expr:
    """:func:`word_count` of a string column as a polars expression (nulls count 0)."""
    return pl.col(column).fill_null("").str.count_matches(WORD_PATTERN).cast(pl.Int64)


def truncate_words(text: str, max_words: int) -> str:
    """``text`` cut after its ``max_words``-th word (see :func:`word_count`), with an ellipsis."""
    if max_words <= 0:
        return ""
    ends = [m.end() for m in _WORD.finditer(text)]
    if len(ends) <= max_words:
        return text
    cut = text[: ends[max_words - 1]]
    return cut.rstrip(",;:-–—") + "…"


def truncate_chars(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters, cut at the last space when there is one, with an ellipsis."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(",;:-–— ") + "…"


# ---------------------------------------------------------------- whitespace and sentences


def normalize_ws(text: str | None) -> str:
    """Unescape entities and collapse runs of spaces (newlines are kept, blank lines dropped)."""
    if not text:
        return ""
    text = html.unescape(text)
    lines = [_LINE_WS.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def collapse_spaces(text: str) -> str:
    """Every run of whitespace (newlines too) as one space, trimmed."""
    return _ANY_WS.sub(" ", text).strip()


def _join_lines(text: str) -> list[str]:
    """Lines of ``text`` with inline-element breaks undone: a line that starts in lower case (or with
    closing punctuation) continues the previous line unless that one ended a sentence."""
    lines: list[str] = []
    for line in normalize_ws(text).split("\n"):
        if lines and (line[0].islower() or line[0] in ",;:)]’”%") and not lines[-1].endswith((".", "!", "?")):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    return lines


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; lines are hard boundaries, abbreviations and decimals are kept whole."""
    out: list[str] = []
    for line in _join_lines(text):
        buf = ""
        for piece in _SENT_END.split(line):
            buf = f"{buf} {piece}".strip() if buf else piece.strip()
            last = buf.rstrip("\"'”’)]").split(" ")[-1].rstrip(".").lower()
            if buf.endswith(".") and (last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())):
                continue  # "Dr." / "U.S." / "J." ended the piece, not a sentence
            out.append(buf)
            buf = ""
        if buf:
            out.append(buf)
    return [s for s in out if s]


def as_sentence(text: str) -> str:
    """``text`` ending with sentence punctuation (a full stop added when it has none)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


# ---------------------------------------------------------------- HTML


def html_to_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment (scripts, styles, iframes dropped), whitespace collapsed."""
    if not fragment:
        return ""
    if "<" not in fragment:
        return collapse_spaces(html.unescape(fragment))
    tree = LexborHTMLParser(fragment)
    for tag in _INVISIBLE_TAGS:
        for node in tree.css(tag):
            node.decompose()
    root = tree.body or tree.root
    return collapse_spaces(root.text(separator=" ") if root else "")


def html_paragraphs(fragment: str | None) -> list[str]:
    """Paragraph and list-item texts of an HTML fragment (captions, headings and code left out)."""
    if not fragment or "<" not in fragment:
        return []
    tree = LexborHTMLParser(fragment)
    for node in tree.css(_NON_PROSE_TAGS):
        node.decompose()
    out: list[str] = []
    for node in tree.css("p, li"):
        if any(inner.mem_id != node.mem_id for inner in node.css("p, li")):
            continue  # the inner blocks are visited themselves (css() also matches the node itself)
        text = _LINE_WS.sub(" ", html.unescape(node.text(separator=" "))).strip()
        if text:
            out.append(text)
    return out
