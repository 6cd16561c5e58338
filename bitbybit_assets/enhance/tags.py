"""Offline tags of an article: topic labels (upstream topics, then zero-shot) plus keyphrases.

Zero-shot labels: cosine of the article to label descriptions (keyword rules without a model).
Keyphrases: candidate phrases between stopwords, scored by frequency, title presence and names,
re-ranked by similarity to the article (KeyBERT-style) with a diversity rule. Pure Python + numpy.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from bitbybit_assets.enhance.vectors import STOPWORDS, TOKEN, Encoder, unit

# too generic to be a tag on their own
_GENERIC = frozenset(
    """
    also back come first help just like look lot make month more most new number one part people
    said says thing things three time today two use way week well work world year years
    """.split()  # noqa: SIM905
)

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
        and TOKEN.fullmatch(tok) is not None
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


def _phrase_candidates(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda p: (-scores[p], p))[:20]


def doc_text(title: str, text: str) -> str:
    """The article as one text for its document vector (keyphrase re-ranking, zero-shot labels)."""
    return f"{title}. {text[:2000]}"


def tag_inputs(title: str, text: str) -> list[str]:
    """The texts :func:`make_tags` may give its encoder for this article (label texts aside)."""
    return [*_phrase_candidates(_phrase_scores(title, text)), doc_text(title, text)]


def keyphrases(title: str, text: str, *, k: int = 5, encode: Encoder | None = None) -> list[str]:
    """Up to ``k`` distinct keyphrases of the article (statistical, re-ranked by ``encode`` if given)."""
    scores = _phrase_scores(title, text)
    if not scores:
        return []
    pre = _phrase_candidates(scores)
    if encode is not None:
        vecs = unit(encode([*pre, doc_text(title, text)]))
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
            unit(encode(_label_texts(tuple((n, labels[n][0]) for n in self.names))))
            if encode is not None
            else None
        )

    def classify(self, title: str, text: str, *, k: int = 2, threshold: float = 0.2) -> list[str]:
        if self.vecs is not None and self.encode is not None:
            doc = unit(self.encode([doc_text(title, text)]))[0]
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
