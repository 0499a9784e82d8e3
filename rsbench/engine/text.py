"""Text batches and the tokenizers behind them: one interface for word vocabularies and BPE / WordPiece.

Every tokenizer turns a list of captions into a `TextBatch`: token ids and a mask of the real
tokens, padded to a fixed length. The engine tokenizes the training captions once per fit and
indexes the batch per step; `TextBatch.trim` drops padding columns that no caption of a batch
uses, which is exact for encoders that mask padding (BERT, the word encoders) or never let a
real token see it (CLIP's causal text tower) and saves most of the text cost.

- `WordTokenizer`: a vocabulary of the training captions' words (the small from-scratch
  encoders, AMFMN's GRU), with a minimum count and stop-words mapped to ``<unk>`` as AMFMN's
  code does.
- `HFTokenizer`: a transformers tokenizer loaded from a checkpoint folder (CLIP's BPE, BERT's
  WordPiece), with the pad id as an option: OpenCLIP pads with 0 where transformers' CLIP
  tokenizer pads with ``<|endoftext|>``, which matters to a method that scores padding tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from rsbench.engine.vocab import PAD, UNK, Vocabulary, words


@dataclass
class TextBatch:
    """Token ids and the mask of real tokens, ``N × L`` each."""

    ids: torch.Tensor  # long
    mask: torch.Tensor  # bool

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, rows: Any) -> TextBatch:
        return TextBatch(self.ids[rows], self.mask[rows])

    def to(self, device: Any) -> TextBatch:
        return TextBatch(self.ids.to(device), self.mask.to(device))

    def trim(self) -> TextBatch:
        """Without the trailing columns that are padding in every row (at least one column kept)."""
        if self.ids.numel() == 0:
            return self
        used = self.mask.any(dim=0).nonzero()
        width = int(used.max().item()) + 1 if len(used) else 1
        return TextBatch(self.ids[:, :width], self.mask[:, :width])

    @staticmethod
    def cat(parts: list[TextBatch]) -> TextBatch:
        return TextBatch(torch.cat([p.ids for p in parts]), torch.cat([p.mask for p in parts]))


class Tokenizer(Protocol):
    """Captions in, a `TextBatch` out. ``identity`` describes it for cache keys and records."""

    def __call__(self, texts: Sequence[str]) -> TextBatch: ...

    def identity(self) -> dict[str, Any]: ...


class WordTokenizer:
    """Words of the training captions (lower-cased, letters and digits), padded with 0."""

    def __init__(
        self,
        texts: Iterable[str],
        max_words: int = 40,
        min_count: int = 1,
        unk_words: Iterable[str] = (),
    ):
        self.vocab = Vocabulary(texts, min_count=min_count, exclude=unk_words)
        self.max_words = max_words
        self.min_count = min_count

    def __len__(self) -> int:
        return len(self.vocab)

    def __call__(self, texts: Sequence[str]) -> TextBatch:
        ids = self.vocab.encode(texts, self.max_words)
        return TextBatch(ids, ids != PAD)

    def identity(self) -> dict[str, Any]:
        return {
            "kind": "words",
            "size": len(self.vocab),
            "max_words": self.max_words,
            "min_count": self.min_count,
        }


class HFTokenizer:
    """A transformers tokenizer, padded (and truncated) to ``max_length``.

    ``pad_id`` replaces the id written at padding positions (the mask still marks them); None
    keeps the tokenizer's own. ``ascii_only`` drops non-ASCII characters first, as RRSITR's
    training data loader does.
    """

    def __init__(
        self,
        tokenizer: Any,
        max_length: int,
        pad_id: int | None = None,
        ascii_only: bool = False,
        name: str = "",
    ):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = pad_id
        self.ascii_only = ascii_only
        self.name = name

    def __len__(self) -> int:
        return len(self.tokenizer)

    def __call__(self, texts: Sequence[str]) -> TextBatch:
        texts = [t.encode("ascii", "ignore").decode() if self.ascii_only else t for t in texts]
        if not texts:
            empty = torch.zeros((0, self.max_length), dtype=torch.long)
            return TextBatch(empty, empty.bool())
        out = self.tokenizer(
            list(texts),
            max_length=self.max_length,
            truncation=True,
            padding="max_length",
            return_tensors="pt",
        )
        ids = out["input_ids"].long()
        mask = out["attention_mask"].bool()
        if self.pad_id is not None:
            ids = ids.masked_fill(~mask, self.pad_id)
        return TextBatch(ids, mask)

    def identity(self) -> dict[str, Any]:
        return {
            "kind": "hf",
            "name": self.name,
            "class": type(self.tokenizer).__name__,
            "size": len(self.tokenizer),
            "max_length": self.max_length,
            "pad_id": self.pad_id,
            "ascii_only": self.ascii_only,
        }


__all__ = ["PAD", "UNK", "HFTokenizer", "TextBatch", "Tokenizer", "WordTokenizer", "words"]
