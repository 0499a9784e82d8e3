"""Pretrained word vectors for a word vocabulary, from a GloVe-format text file given by path.

Word-level text encoders (AMFMN's GRU, the from-scratch encoders) may start their embedding
table from published vectors instead of random values. rsbench downloads nothing, so the file
is the user's: one word per line followed by its numbers, separated by spaces (GloVe's
``glove.*.txt``; a word2vec text file's first ``count dim`` line is skipped). Words of the
vocabulary missing from the file keep their random initialisation; the count found is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from rsbench.io.errors import RsbenchError


@dataclass
class WordVectors:
    """Rows for a vocabulary (``len(vocab) × dim``), which of them the file had, and its hash."""

    vectors: torch.Tensor
    found: torch.Tensor  # bool, one per vocabulary entry
    sha256: str

    def info(self) -> dict:
        return {
            "found": int(self.found.sum()),
            "vocabulary": len(self.found),
            "sha256": self.sha256,
        }


def check_word_vectors_file(path: str | Path) -> Path:
    """The file, or one clear error when it is not a readable file (called before training)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise RsbenchError(
            f"word vectors file {str(file)!r} not found: give a GloVe-format text file "
            "(a word and its numbers per line)"
        )
    return file


def load_word_vectors(path: str | Path, vocabulary: Sequence[str], dim: int) -> WordVectors:
    """The vectors of ``vocabulary``'s words found in the file at ``path`` (others zero)."""
    file = check_word_vectors_file(path)
    index = {word: i for i, word in enumerate(vocabulary)}
    vectors = torch.zeros(len(vocabulary), dim)
    found = torch.zeros(len(vocabulary), dtype=torch.bool)
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            digest.update(raw)
            parts = raw.decode("utf-8", "replace").rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec text header: "count dim"
            if len(parts) < 2:
                continue
            word = parts[0]
            row = index.get(word)
            if row is None or found[row]:
                continue
            if len(parts) - 1 != dim:
                raise RsbenchError(
                    f"word vectors file {str(file)!r}, line {number}: {len(parts) - 1} numbers, "
                    f"but the word embeddings have {dim} (set the embedding size to the file's)"
                )
            try:
                vectors[row] = torch.tensor([float(x) for x in parts[1:]])
            except ValueError:
                raise RsbenchError(
                    f"word vectors file {str(file)!r}, line {number}: not a word followed by numbers"
                ) from None
            found[row] = True
    return WordVectors(vectors, found, digest.hexdigest())
