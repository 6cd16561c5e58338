"""Same-story clustering over embeddings plus title-token overlap, across a rolling window of days.

New rows join each other and the clusters of earlier days (whose ids never change). Two rows are the
same story when their embeddings are very close, or close and their titles share most tokens, or
they are the same article (same canonical URL / ``duplicate_of``). Merges go strongest-first and a
merge must keep the average similarity between the two groups above ``cluster_linkage`` so loose
chains (A~B, B~C, A!~C) do not snowball; two clusters of earlier days are never merged.
With a second, multilingual embedding per row (``ClusterRows.emb_ml``) two rows are also the same
story when that cosine is at least ``cluster_threshold_cross_language`` across languages (one title
CJK, the other not: MiniLM cannot link them); such a merge needs the groups' mean multilingual cosine
above ``cluster_linkage``. (Within one language it added false merges on the dev days: not used.)
Two CJK titles are also the same story when their title vectors (``ClusterRows.emb_title``,
multilingual-e5-small) have a cosine of at least ``cluster_threshold_cjk_title`` and the merged groups'
mean title cosine (over their rows that have one) stays at least ``cluster_linkage_cjk_title``.
Similarities come from ``neighbours.Similarity``: the full matrix up to 5,000 rows, candidate pairs
from embedding cells above (no N×N matrix on a very large day).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bitbybit_assets.curate.neighbours import Similarity
from bitbybit_base.settings import CurationSettings

_STOP_WORDS = """a an the and or of to in on for with by at from as is are was were be been it its this that these
    those into over after before about than then how why what who when where which new now your our
    you we i my me us their they he she his her not no yes can will just more most via vs all has have
    had do does did get gets up out off one two s"""
_STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.$%+&-]*[A-Za-z0-9%]|[A-Za-z0-9]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def _stem(w: str) -> str:
    if len(w) > 5 and w.endswith("ing"):
        return w[:-3]
    if len(w) > 4 and w.endswith("ed"):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _has_digit(word: str | None) -> bool:
    return word is not None and any(ch.isdigit() for ch in word)


def title_tokens(title: str | None) -> dict[str, bool]:
    """Title tokens -> "looks like a name" (capitalised, has a digit, or a CJK bigram).

    Latin words are lower-cased, stemmed crudely (plural s, -ed, -ing) and stop words dropped; CJK
    runs become character bigrams.
    """
    text = (title or "").replace("’", "'")
    text = re.sub(r"'s\b", "", text)
    out: dict[str, bool] = {}
    for raw in _WORD.findall(text):
        named = raw[0].isupper() or _has_digit(raw)
        low = raw.lower().rstrip(".")
        # "open-weights" and "open weights" are the same words; "gpt-5" stays one token
        parts = low.split("-") if "-" in low and not _has_digit(low) else [low]
        for part in parts:
            if part in _STOP or (len(part) < 2 and not part.isdigit()):
                continue
            tok = _stem(part)
            out[tok] = out.get(tok, False) or named
    for run in _CJK.findall(text):
        grams = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
        for g in grams:
            out[g] = True
    return out


NAME_RUN = 4  # longest run of capitalised words kept as one name ("Grok Voice Think Fast")


def name_followers(title: str | None) -> dict[str, tuple[str, str | None]]:
    """Capitalised title word (stemmed, lower-cased) -> (the word right after it, the first of the
    next two words with a digit: its version), lower-cased; also each run of 2 to ``NAME_RUN``
    capitalised words ending there, its stems joined by spaces ("grok voice think fast" -> ("2.0",
    "2.0")), so a name of several words is compared as a whole."""
    raw = _WORD.findall((title or "").replace("’", "'"))
    words = [w.lower().rstrip(".") for w in raw]
    caps = [w[0].isupper() and not _has_digit(w) for w in raw]
    out: dict[str, tuple[str, str | None]] = {}
    run: list[str] = []  # stems of the capitalised words up to the current one
    for i in range(len(words) - 1):
        if not caps[i]:
            run = []
            continue
        run = [*run, _stem(words[i])][-NAME_RUN:]
        version = next((w for w in words[i + 1 : i + 3] if _has_digit(w)), None)
        for start in range(len(run)):
            out.setdefault(" ".join(run[start:]), (words[i + 1], version))
    return out


def different_versions(
    a: dict[str, tuple[str, str | None]], b: dict[str, tuple[str, str | None]], common: set[str]
) -> bool:
    """Two titles name different versions of one thing: a shared name (a word never written in lower
    case, or a run of capitalised words with one such word in it) is followed by different words, one
    of them with a digit ("Grok 4.6" / "Grok Bot", "Magnitude 7.4" / "Magnitude 7.7", "Grok Voice
    Think Fast 1.0" / "… 2.0" though "fast" is a common word), unless both name the same version
    within two words ("Gemini Robotics 2" / "Gemini Robotics ER 2": companion posts)."""
    for name in a.keys() & b.keys():
        (x, vx), (y, vy) = a[name], b[name]
        if x == y or not (_has_digit(x) or _has_digit(y)) or (vx is not None and vx == vy):
            continue
        if any(w not in common for w in name.split(" ")):
            return True
    return False


def written_lower(tokens: Sequence[dict[str, bool]]) -> set[str]:
    """Tokens some title writes in lower case: words, not names, even where a title starts with one
    or capitalises every word ("Improving …", "Introducing …")."""
    return {t for toks in tokens for t, named in toks.items() if not named}


def cjk_share(title: str | None) -> float:
    """Share of the title's letters that are CJK characters."""
    text = title or ""
    letters = sum(ch.isalpha() for ch in text)
    return sum(len(r) for r in _CJK.findall(text)) / letters if letters else 0.0


CJK_TITLE_SHARE = 0.3  # a title with at least this share of CJK letters is a CJK title


def is_cjk_title(title: str | None) -> bool:
    return cjk_share(title) >= CJK_TITLE_SHARE


def overlap(a: set[str] | dict[str, bool], b: set[str] | dict[str, bool]) -> float:
    """Overlap coefficient |a & b| / min(|a|, |b|) (0 when either side has under 2 tokens)."""
    if len(a) < 2 or len(b) < 2:
        return 0.0
    return len(set(a) & set(b)) / min(len(a), len(b))


@dataclass
class ClusterRows:
    """The rows to cluster: earlier days first (with their cluster ids), then the new rows."""

    keys: Sequence[str]  # entry_key per row
    titles: Sequence[str | None]
    emb: np.ndarray  # (n, dim), L2-normalised
    history_cluster: Sequence[str | None]  # cluster id for earlier rows, None for new rows
    same_article: Sequence[str | None]  # e.g. article_id: equal non-null values are the same article
    duplicate_of: Sequence[str | None]  # entry_key of the kept copy (url duplicates)
    emb_ml: np.ndarray | None = None  # (n, dim_ml) multilingual vectors, L2-normalised (zeros: none)
    emb_title: np.ndarray | None = None  # (n, dim_t) CJK title vectors, L2-normalised (zeros: none)


class TitleEvidence:
    """Pair test: embedding similarity backed by shared rare title tokens (IDF over the window).

    * Latin titles: the same story when cosine >= ``cluster_threshold``, or when they share a rare
      name-like title token (capitalised or with a digit in both) or two rare tokens, cosine >= ``cluster_min_similarity`` and cosine + IDF-weighted title overlap
      >= ``cluster_min_evidence`` (strong wording overlap makes up for a weaker embedding match);
      a link to an earlier day needs ``cluster_min_evidence_cross_day`` (follow-ups are new stories).
      A word some title of the window writes in lower case is no name (``cluster_names_never_lower``),
      and two titles naming different versions of one name ("Grok 4.6" / "Grok Bot") are never the
      same story (``cluster_version_veto``).
    * CJK titles (the English model embeds them poorly): ``cluster_min_shared_cjk`` shared rare
      tokens / character bigrams and an
      IDF-weighted overlap >= ``cluster_min_title_overlap_cjk``, whatever the cosine.
    """

    def __init__(self, titles: Sequence[str | None], tokens: list[dict[str, bool]], cfg: CurationSettings):
        self.cfg = cfg
        self.tokens = tokens
        df: Counter[str] = Counter()
        for toks in {frozenset(t) for t in tokens}:  # distinct titles: syndicated copies count once
            df.update(toks)
        n_docs = max(1, len({frozenset(t) for t in tokens}))
        self.df = df
        self.idf = {t: math.log((n_docs + 1) / (c + 0.5)) for t, c in df.items()}
        self.cjk = [is_cjk_title(t) for t in titles]
        self.weight = [sum(self.idf[t] for t in toks) for toks in tokens]
        self.common = written_lower(tokens) if cfg.cluster_names_never_lower else set()
        self.followers = [name_followers(t) for t in titles] if cfg.cluster_version_veto else None

    def same_story(
        self, i: int, j: int, cosine: float, same_day: bool = True, cosine_ml: float | None = None
    ) -> bool:
        cfg = self.cfg
        cjk = self.cjk[i] or self.cjk[j]
        if (
            not cjk
            and self.followers is not None
            and different_versions(self.followers[i], self.followers[j], self.common)
        ):
            return False
        if not cjk and cosine >= cfg.cluster_threshold:
            return True
        a, b = self.tokens[i], self.tokens[j]
        shared = a.keys() & b.keys()
        if not shared:
            return False
        rare = [t for t in shared if self.df[t] <= cfg.cluster_rare_df]
        denom = min(self.weight[i], self.weight[j])
        w = sum(self.idf[t] for t in shared) / denom if denom > 0 else 0.0
        if cjk:
            floor = cfg.cluster_min_similarity_cjk  # the multilingual encoder vetoes a loose token match
            if floor is not None and cosine_ml is not None and cosine_ml < floor:
                return False
            return len(rare) >= cfg.cluster_min_shared_cjk and w >= cfg.cluster_min_title_overlap_cjk
        named = [t for t in rare if a[t] and b[t] and t not in self.common]
        if cosine < cfg.cluster_min_similarity or not (named or len(rare) >= 2):
            return False
        need = cfg.cluster_min_evidence if same_day else cfg.cluster_min_evidence_cross_day
        return cosine + w >= need

    def same_story_multilingual(self, i: int, j: int, cosine_ml: float) -> bool:
        """The multilingual-embedding test: across languages (one title CJK, the other not), and
        between two CJK titles with ``cluster_threshold_cjk`` (set) and two shared rare tokens."""
        cfg = self.cfg
        if self.cjk[i] != self.cjk[j]:
            return cosine_ml >= cfg.cluster_threshold_cross_language
        if not self.cjk[i] or cfg.cluster_threshold_cjk is None or cosine_ml < cfg.cluster_threshold_cjk:
            return False
        shared = self.tokens[i].keys() & self.tokens[j].keys()
        return sum(self.df[t] <= cfg.cluster_rare_df for t in shared) >= 2


class _TitleLinks:
    """Same-story links between two CJK titles from their title vectors (see the module docstring)."""

    def __init__(
        self, emb: np.ndarray | None, is_new: np.ndarray, cjk: Sequence[bool], cfg: CurationSettings
    ):
        n = len(is_new)
        self.threshold = cfg.cluster_threshold_cjk_title
        usable = emb is not None and emb.shape[0] == n and self.threshold is not None
        self.emb = emb if usable else None
        self.has = (np.any(emb != 0, axis=1) & np.asarray(cjk, dtype=bool)) if usable else np.zeros(n, bool)
        self.is_new = is_new
        self.sim = (
            Similarity(emb, np.flatnonzero(is_new & self.has), float(self.threshold))
            if usable and self.has.any()
            else None
        )

    def edges(self, i: int) -> list[tuple[float, int, int, str]]:
        """``(cosine, i, j, "title")`` for the rows j this new row ``i`` links to."""
        if self.sim is None or not self.has[i]:
            return []
        out = []
        for j in self.sim.near(i).tolist():
            if j == i or not self.has[j] or (self.is_new[j] and j < i):
                continue
            c = self.sim.cosine(i, j)
            if c >= self.threshold:
                out.append((c, i, j, "title"))
        return out

    def linkage(self, a: Sequence[int], b: Sequence[int]) -> float:
        """Mean title cosine between the rows of two groups that have a title vector (0 when none)."""
        if self.emb is None:
            return 0.0
        xa = [m for m in a if self.has[m]]
        xb = [m for m in b if self.has[m]]
        if not xa or not xb:
            return 0.0
        return float(
            self.emb[xa].sum(axis=0, dtype=np.float64) @ self.emb[xb].sum(axis=0, dtype=np.float64)
        ) / (len(xa) * len(xb))


def new_cluster_id(seed_key: str) -> str:
    return "c" + hashlib.sha256(seed_key.encode()).hexdigest()[:15]


def assign_clusters(rows: ClusterRows, cfg: CurationSettings) -> list[str]:
    """Cluster id per row. Earlier rows keep theirs; new rows join them or form new clusters."""
    n = len(rows.keys)
    if n == 0:
        return []
    is_new = np.array([c is None for c in rows.history_cluster])
    emb = rows.emb if rows.emb.shape[0] else np.zeros((n, 1), dtype=np.float32)
    # the full matrix on ordinary days; candidate pairs from embedding cells on very large ones
    sim = Similarity(emb, np.flatnonzero(is_new), cfg.cluster_threshold)
    sim_ml = None
    if rows.emb_ml is not None and rows.emb_ml.shape[0] == n:
        sim_ml = Similarity(rows.emb_ml, np.flatnonzero(is_new), cfg.cluster_threshold_cross_language)
    has_ml = np.any(rows.emb_ml != 0, axis=1) if sim_ml is not None else np.zeros(n, dtype=bool)
    tokens = [title_tokens(t) for t in rows.titles]
    evidence = TitleEvidence(rows.titles, tokens, cfg)
    title = _TitleLinks(rows.emb_title, is_new, evidence.cjk, cfg)

    parent = list(range(n))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    hist_of: dict[int, str | None] = {i: rows.history_cluster[i] for i in range(n)}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int, forced: bool, kind: str = "text") -> None:
        """Merge the groups of ``a`` and ``b``; ``kind`` names the vectors whose linkage must hold:
        ``text`` (MiniLM), ``multilingual`` or ``title`` (CJK titles)."""
        ra, rb = find(a), find(b)
        if ra == rb:
            return
        ha, hb = hist_of[ra], hist_of[rb]
        if ha is not None and hb is not None and ha != hb:
            return
        if not forced:
            if kind == "title":
                if title.linkage(members[ra], members[rb]) < cfg.cluster_linkage_cjk_title:
                    return
            else:
                link = sim_ml if kind == "multilingual" and sim_ml is not None else sim
                if link.linkage(members[ra], members[rb]) < cfg.cluster_linkage:
                    return
        if len(members[ra]) < len(members[rb]):
            ra, rb = rb, ra
        parent[rb] = ra
        members[ra].extend(members.pop(rb))
        hist_of[ra] = ha if ha is not None else hb

    # earlier clusters are fixed groups
    first_of: dict[str, int] = {}
    for i in range(n):
        c = rows.history_cluster[i]
        if c is not None:
            if c in first_of:
                union(first_of[c], i, forced=True)
            else:
                first_of[c] = i

    # forced links: same article / url duplicates
    key_index = {k: i for i, k in enumerate(rows.keys)}
    by_article: dict[str, int] = {}
    for i in range(n):
        art = rows.same_article[i]
        if art:
            if art in by_article and (is_new[i] or is_new[by_article[art]]):
                union(by_article[art], i, forced=True)
            by_article.setdefault(art, i)
        dup = rows.duplicate_of[i]
        if dup and dup in key_index and is_new[i]:
            union(key_index[dup], i, forced=True)

    # candidate edges touching at least one new row, strongest first
    by_rare: dict[str, list[int]] = {}
    for j, toks in enumerate(tokens):
        for t in toks:
            if evidence.df[t] <= cfg.cluster_rare_df:
                by_rare.setdefault(t, []).append(j)
    edges: list[tuple[float, int, int, str]] = []
    for i in np.flatnonzero(is_new):
        i = int(i)
        cand = set(sim.near(i).tolist())
        if sim_ml is not None:
            cand.update(sim_ml.near(i).tolist())
        for t in tokens[i]:
            cand.update(by_rare.get(t, ()))
        for j in cand:
            if j == i or (is_new[j] and j < i):
                continue
            s = sim.cosine(i, j)
            s_ml = sim_ml.cosine(i, j) if sim_ml is not None and has_ml[i] and has_ml[j] else None
            if evidence.same_story(i, j, s, same_day=bool(is_new[j]), cosine_ml=s_ml):
                edges.append((s, i, j, "text"))
            elif s_ml is not None and evidence.same_story_multilingual(i, j, s_ml):
                edges.append((s_ml, i, j, "multilingual"))
        edges.extend(title.edges(i))
    edges.sort(key=lambda e: -e[0])
    for _, i, j, kind in edges:
        union(i, j, forced=False, kind=kind)

    ids: list[str] = []
    root_id: dict[int, str] = {}
    for i in range(n):
        r = find(i)
        if r not in root_id:
            h = hist_of[r]
            seed = min(rows.keys[m] for m in members[r])
            root_id[r] = h if h is not None else new_cluster_id(seed)
        ids.append(root_id[r] if is_new[i] else str(rows.history_cluster[i]))
    return ids
