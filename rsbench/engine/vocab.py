"""A word vocabulary built from the training captions, and caption tokenisation."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

PAD, UNK = 0, 1
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class Vocabulary:
    """Words seen at least ``min_count`` times in the training captions; others map to <unk>.

    Words in ``exclude`` never get an id of their own (AMFMN's code maps stop-words to <unk>).
    """

    def __init__(self, texts: Iterable[str], min_count: int = 1, exclude: Iterable[str] = ()):
        counts = Counter(w for t in texts for w in words(t))
        excluded = set(exclude)
        kept = sorted(w for w, c in counts.items() if c >= min_count and w not in excluded)
        self.itos = ["<pad>", "<unk>", *kept]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, texts: Sequence[str], max_words: int) -> torch.Tensor:
        """Token ids, ``len(texts) × max_words``, padded with 0. An empty caption is one <unk>."""
        out = torch.full((len(texts), max_words), PAD, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.stoi.get(w, UNK) for w in words(text)[:max_words]] or [UNK]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out
