"""Sentence vectors for the offline enhancer: the ``Encoder`` type and a TF-IDF fallback encoder.

In production ``encode`` is the local MiniLM (``resources.embeddings.EmbeddingModel.encode``);
without a model, :func:`tfidf_encoder` gives vectors fitted on the texts at hand, so the offline
summary and tags work with no model at all. Pure numpy, no Dagster.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

Encoder = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised rows

# a token for TF-IDF and keyphrases: letters/digits with inner + # . ' - (C++, C#, Node.js, GPT-4)
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.'’\-]*[A-Za-z0-9+#]|[A-Za-z0-9]")


def unit(m: np.ndarray) -> np.ndarray:
    """Rows (or the vector) scaled to unit length; zero rows stay zero."""
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


def tokenize(text: str) -> list[str]:
    """Lower-cased :data:`TOKEN` tokens (trailing dots and apostrophes stripped)."""
    return [w.lower().strip(".'’") for w in TOKEN.findall(text)]


class BatchedEncoder:
    """An encoder memoised over one enhancement pass (one day).

    :meth:`prime` encodes every text the pass will ask for in one call, so the model sorts them by
    length into full batches instead of one short, padded batch per article; a call answers from the
    memo and encodes only what was not primed. The vectors are the wrapped encoder's. :meth:`clear`
    ends a pass (a backfill keeps one day's vectors at a time).
    """

    def __init__(self, encode: Encoder) -> None:
        self.encode = encode
        self.memo: dict[str, np.ndarray] = {}

    def prime(self, texts: Sequence[str]) -> None:
        new = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if new:
            self.memo.update(zip(new, self.encode(new), strict=True))

    def clear(self) -> None:
        self.memo.clear()

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return self.encode(texts)
        self.prime(texts)
        return np.stack([self.memo[t] for t in texts])


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
        return unit(m)

    return encode
