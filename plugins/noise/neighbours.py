"""Exact top-k cosine neighbours among many TF-IDF vectors, in chunks, without an N×N matrix.

NWPU-Captions has about 127,575 training captions; a dense score matrix of its distinct
texts would take ~50 GB. Here the queries are taken a chunk at a time: one sparse × dense
product (torch's CSR kernel; torch is imported only when this runs) gives the chunk's scores
against every text, of which only the top ``k`` per query are kept. Memory stays near
a few tens of MB whatever the split's size.

Ranking is deterministic: scores are rounded to 1e-5 (so float summation order cannot swap
two texts that are equally close) and ties go to the lower text index.
"""

from __future__ import annotations

import warnings

import numpy as np

from rsbench_plugins.noise.tfidf import Tfidf

_SCALE = 1e5  # scores are compared after rounding to 1 / _SCALE
_CHUNK_CELLS = 2**21  # query chunk size × number of texts


def top_neighbours(vectors: Tfidf, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each query row of ``vectors``, the ``k`` rows with the highest cosine similarity.

    Returns ``(index, score)``, both ``len(queries) × k``, best first; the query itself is
    included (it is its own nearest row). ``k`` is clipped to the number of rows.
    """
    import torch

    n_docs, n_words = vectors.shape
    queries = np.asarray(queries, np.int64)
    k = min(k, n_docs)
    index = np.zeros((len(queries), k), dtype=np.int64)
    score = np.zeros((len(queries), k), dtype=np.float64)
    if k == 0 or len(queries) == 0:
        return index, score
    with warnings.catch_warnings():  # "sparse CSR support is in beta": not the user's concern
        warnings.simplefilter("ignore", UserWarning)
        docs = torch.sparse_csr_tensor(
            torch.from_numpy(vectors.indptr),
            torch.from_numpy(vectors.indices),
            torch.from_numpy(vectors.data),
            size=(n_docs, max(n_words, 1)),
        )
    # small chunks keep the dense query block in cache: measured fastest on NWPU-sized input
    chunk = int(np.clip(_CHUNK_CELLS // n_docs, 16, 256))
    for start in range(0, len(queries), chunk):
        part = queries[start : start + chunk]
        dense = torch.from_numpy(np.ascontiguousarray(vectors.dense(part, width=1).T))
        scores = docs @ dense  # n_docs × len(part): one column per query
        rows = slice(start, start + len(part))
        index[rows], score[rows] = _top_k(scores, k)
    return index, score


def _rounded(values: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(values, np.float64) * _SCALE) / _SCALE


def _top_k(scores, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` per column of a torch matrix by rounded score, ties to the lower row.

    Returns one row per column (query). One extra candidate shows whether a tie crosses the
    cut: if the (k+1)-th rounded score equals the k-th, that query is redone exactly (rare:
    it needs equally close texts there). Working along columns avoids a transposed copy.
    """
    import torch

    extra = min(k + 1, scores.shape[0])
    values, columns = torch.topk(scores, extra, dim=0)
    values, columns = _rounded(values.numpy().T), np.ascontiguousarray(columns.numpy().T)
    if extra > k:
        for r in np.flatnonzero(values[:, k] == values[:, k - 1]).tolist():
            row = _rounded(scores[:, r].numpy())
            cut = values[r, k]
            above = np.flatnonzero(row > cut)
            tied = np.flatnonzero(row == cut)[: extra - len(above)]
            columns[r] = np.concatenate([above, tied])
            values[r] = row[columns[r]]
    order = np.lexsort((columns, -values), axis=-1)[:, :k]
    return np.take_along_axis(columns, order, 1), np.take_along_axis(values, order, 1)
