"""A bag-of-words TF-IDF text encoder: the frozen, offline encoder of the noise models.

Why TF-IDF: a noise file must be reproducible on any machine without downloading weights,
and RS captions are short and formulaic, so shared content words ("storage tanks", "dense
houses", "three planes") are a fair proxy for "describes a similar scene". The definition is
fixed here so that a test can recompute it by brute force:

- tokens: runs of ``[a-z0-9]`` in the lower-cased text (the engine's tokenisation), minus the
  function words of `STOP_WORDS` unless asked to keep them;
- ``tf``: raw count of the token in the document; ``idf = ln((1 + D) / (1 + df)) + 1`` over
  the D documents given (smoothed, as scikit-learn's default);
- each document vector is ``tf · idf`` scaled to unit L2 norm (an empty one stays zero), so a
  dot product is the cosine similarity.

Vectors are kept as CSR arrays (``indptr``, ``indices``, ``data``): NWPU's ~100k distinct
training captions with a few thousand words fit in a few MB.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")

#: function words that say nothing about the scene; spatial words (left, above ...) are kept
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "and",
        "or",
        "but",
        "in",
        "on",
        "at",
        "to",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "by",
        "with",
        "its",
        "it",
        "this",
        "that",
        "there",
        "these",
        "those",
        "as",
        "from",
        "for",
        "into",
        "which",
        "who",
        "whom",
        "has",
        "have",
        "had",
        "can",
        "could",
        "we",
        "you",
        "see",
        "seen",
    ]
)


def tokens(text: str, stop_words: bool = True) -> list[str]:
    """The words of ``text`` as the encoder sees them."""
    found = _WORD.findall(text.lower())
    return [w for w in found if w not in STOP_WORDS] if stop_words else found


@dataclass
class Tfidf:
    """Unit-norm TF-IDF vectors of some documents, one CSR row each."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    vocabulary: list[str]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, len(self.vocabulary)

    def dense(self, rows: np.ndarray | None = None, width: int | None = None) -> np.ndarray:
        """The vectors of ``rows`` (all by default) as a dense float32 array.

        ``width`` pads the columns beyond the vocabulary (a torch product needs at least one).
        """
        rows = np.arange(self.shape[0]) if rows is None else np.asarray(rows, np.int64)
        out = np.zeros((len(rows), max(self.shape[1], width or 0)), dtype=np.float32)
        for k, r in enumerate(rows.tolist()):
            lo, hi = self.indptr[r], self.indptr[r + 1]
            out[k, self.indices[lo:hi]] = self.data[lo:hi]
        return out


def fit_tfidf(docs: Sequence[str], stop_words: bool = True) -> Tfidf:
    """Fit the encoder on ``docs`` and return their vectors (see the module docstring)."""
    counts = [Counter(tokens(d, stop_words)) for d in docs]
    vocabulary = sorted({w for c in counts for w in c})
    column = {w: i for i, w in enumerate(vocabulary)}
    df = np.zeros(len(vocabulary), dtype=np.float64)
    for c in counts:
        for w in c:
            df[column[w]] += 1
    idf = np.log((1.0 + len(docs)) / (1.0 + df)) + 1.0
    indptr = np.zeros(len(docs) + 1, dtype=np.int64)
    indices: list[int] = []
    values: list[float] = []
    for i, c in enumerate(counts):
        cols = sorted(column[w] for w in c)
        vec = np.array([c[vocabulary[j]] for j in cols], dtype=np.float64) * idf[cols]
        norm = float(np.sqrt((vec**2).sum()))
        indices.extend(cols)
        values.extend((vec / norm).tolist() if norm > 0 else vec.tolist())
        indptr[i + 1] = len(indices)
    return Tfidf(
        indptr=indptr,
        indices=np.asarray(indices, dtype=np.int64),
        data=np.asarray(values, dtype=np.float32),
        vocabulary=vocabulary,
    )


def cosine_matrix(docs: Sequence[str], stop_words: bool = True) -> np.ndarray:
    """Pairwise cosine similarity of a few documents (dense; for class-level use only)."""
    vectors = fit_tfidf(docs, stop_words).dense().astype(np.float64)
    return vectors @ vectors.T
