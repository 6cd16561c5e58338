"""Cosine similarity between embedding rows without an N×N matrix on large days.

Up to ``EXACT_MAX_ROWS`` rows :class:`Similarity` holds the full matrix (exact; what every real day
uses). Above that it finds the pairs at or above a cosine threshold with an inverted-file search
(the IVF-Flat scheme of FAISS, in numpy): a spherical k-means (fixed seed, a few iterations on a
sample) splits the rows into about 2√N cells, each query row is compared only with the rows of its
``nprobe`` nearest cells, one matrix product per cell. Rows that close (≥ 0.86 for clustering)
nearly always share a cell or sit in neighbouring ones: the test suite holds recall at ≥ 0.99 of the
exact pairs. Cost O(N·√N·nprobe·dim) and memory O(N·nprobe) instead of O(N²). Other cosines are
computed on demand: one pair, or the mean over two groups from the groups' vector sums.

Why not an ANN library: HNSW (hnswlib, faiss) built and searched 20k rows in ~7 s on this 2-core
machine (slower than these cells) and builds its graph nondeterministically when threaded; a
re-run of a day must give the same clusters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

EXACT_MAX_ROWS = 5000  # up to here the full matrix (5000² float32 = 95 MiB); above, cells
NPROBE = 4  # cells each query row is compared with
CELLS_PER_SQRT_N = 2.0  # cells = CELLS_PER_SQRT_N * √N (more, smaller cells: less to compare, more centres)
KMEANS_ITERATIONS = 3
KMEANS_SAMPLE_PER_CELL = 16  # k-means trains on at most this many rows per cell
_CHUNK = 4096  # rows per block when scoring rows against the cell centres


def _cell_centres(emb: np.ndarray, cells: int, iterations: int, seed: int) -> np.ndarray:
    """Spherical k-means centres (cells, dim), trained on a fixed-seed sample of the rows."""
    rng = np.random.default_rng(seed)
    n = emb.shape[0]
    train = emb[np.sort(rng.choice(n, min(n, cells * KMEANS_SAMPLE_PER_CELL), replace=False))]
    centres = train[np.sort(rng.choice(train.shape[0], cells, replace=False))].copy()
    for _ in range(iterations):
        home = np.argmax(train @ centres.T, axis=1)
        sums = np.zeros_like(centres)
        np.add.at(sums, home, train)
        norms = np.linalg.norm(sums, axis=1)
        keep = norms > 0  # an empty cell keeps its centre
        centres[keep] = sums[keep] / norms[keep, None]
    return centres


def _nearest_cells(emb: np.ndarray, centres: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's most similar centre (n,) and its ``k`` most similar centres (n, k), unordered."""
    home = np.empty(emb.shape[0], dtype=np.int64)
    probe = np.empty((emb.shape[0], k), dtype=np.int64)
    for a in range(0, emb.shape[0], _CHUNK):
        score = emb[a : a + _CHUNK] @ centres.T
        home[a : a + _CHUNK] = np.argmax(score, axis=1)
        if k < centres.shape[0]:
            probe[a : a + _CHUNK] = np.argpartition(-score, k - 1, axis=1)[:, :k]
        else:
            probe[a : a + _CHUNK] = np.arange(centres.shape[0])
    return home, probe


def _groups(labels: np.ndarray, rows: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` sorted by label and the bounds of each label's run (label c: bounds[c]:bounds[c+1])."""
    order = np.argsort(labels, kind="stable")
    return rows[order], np.searchsorted(labels[order], np.arange(count + 1))


def close_pairs(
    emb: np.ndarray,
    query: np.ndarray,
    threshold: float,
    *,
    nprobe: int = NPROBE,
    cells: int | None = None,
    iterations: int = KMEANS_ITERATIONS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i in ``query``, j any other row and cosine >= ``threshold``, found through cells.

    Approximate (a pair in cells that neither row probes is missed), deterministic for a given
    input. Pairs of two query rows are found from either side. Sorted by (i, j), without duplicates.
    """
    n = emb.shape[0]
    query = np.asarray(query, dtype=np.int64)
    if n < 2 or query.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):  # hundreds of mid-size products: threads cost more
        return _close_pairs(emb, query, threshold, nprobe, cells, iterations, seed)


def _close_pairs(emb: np.ndarray, query: np.ndarray, threshold: float, nprobe: int, cells: int | None,
                 iterations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n = emb.shape[0]
    k = cells or max(1, int(round(CELLS_PER_SQRT_N * np.sqrt(n))))
    k = min(k, n)
    centres = _cell_centres(emb, k, iterations, seed)
    probe = min(nprobe, k)
    home, near = _nearest_cells(emb, centres, probe)
    members, mb = _groups(home, np.arange(n), k)  # every row lives in its nearest cell
    qcells = near[query].ravel()
    askers, ab = _groups(qcells, np.repeat(query, probe), k)  # query rows probing each cell
    is_query = np.zeros(n, dtype=bool)
    is_query[query] = True
    found: list[np.ndarray] = []
    for c in range(k):
        mem, ask = members[mb[c] : mb[c + 1]], askers[ab[c] : ab[c + 1]]
        if mem.size == 0 or ask.size == 0:
            continue
        qi, mj = np.nonzero(emb[ask] @ emb[mem].T >= threshold)
        i, j = ask[qi], mem[mj]
        keep = i != j
        i, j = i[keep], j[keep]
        found.append(i * n + j)
        back = is_query[j]  # a query row found from another's probe: record it from its side too
        found.append(j[back] * n + i[back])
    if not found:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return codes // n, codes % n


class Similarity:
    """Cosine similarity of L2-normalised rows for same-story clustering.

    ``near(i)``: rows j with cosine >= ``threshold`` (i in ``query``); ``cosine(i, j)`` one pair;
    ``linkage(a, b)`` the mean cosine between two groups of rows. Exact (the full matrix) up to
    ``exact_max`` rows, else from :func:`close_pairs` and on-demand dot products.
    """

    def __init__(self, emb: np.ndarray, query: Sequence[int] | np.ndarray, threshold: float,
                 *, exact_max: int | None = None, nprobe: int = NPROBE):
        n = emb.shape[0]
        self.threshold = threshold
        self.emb = emb
        self.dense = n <= (EXACT_MAX_ROWS if exact_max is None else exact_max)
        self.matrix = emb @ emb.T if self.dense else None
        self._sums: dict[int, tuple[list[int], int, np.ndarray]] = {}
        if not self.dense:
            i, j = close_pairs(emb, np.asarray(query, dtype=np.int64), threshold, nprobe=nprobe)
            self._cols = j
            self._bounds = np.searchsorted(i, np.arange(n + 1))

    def near(self, i: int) -> np.ndarray:
        """Rows whose cosine to row ``i`` is >= the threshold (ascending; may include ``i``)."""
        if self.matrix is not None:
            return np.flatnonzero(self.matrix[i] >= self.threshold)
        return self._cols[self._bounds[i] : self._bounds[i + 1]]

    def cosine(self, i: int, j: int) -> float:
        if self.matrix is not None:
            return float(self.matrix[i, j])
        return float(self.emb[i] @ self.emb[j])

    def _group_sum(self, rows: list[int]) -> np.ndarray:
        # cached per list object and extended when the list has grown (groups grow by appending)
        held = self._sums.get(id(rows))
        if held is None:
            total, counted = np.zeros(self.emb.shape[1], dtype=np.float64), 0
        else:
            _, counted, total = held
        if counted < len(rows):
            total = total + self.emb[rows[counted:]].sum(axis=0, dtype=np.float64)
            self._sums[id(rows)] = (rows, len(rows), total)  # keeping the list keeps its id unique
        return total

    def linkage(self, a: list[int], b: list[int]) -> float:
        """Mean cosine over all pairs (x in ``a``, y in ``b``): sum(a)·sum(b) / (|a|·|b|)."""
        if self.matrix is not None:
            return float(self.matrix[np.ix_(a, b)].mean())
        return float(self._group_sum(a) @ self._group_sum(b)) / (len(a) * len(b))
