"""The shared shape of the row-level noise models: choose rows, then corrupt exactly those.

The models of this package other than the two shuffles are `RowNoise`s: each says which
caption rows it *can* corrupt (`eligible`), how it picks ``n`` of them (`select_rows`) and
what it does to a given set of rows (`corrupt_rows`). Splitting the choice from the
corruption is what lets `compound` hand disjoint row sets to several models at one total
ratio.

Conventions shared by all of them:

- the image of a row never changes; a corrupted row takes the text of another row
  (``RowEdits.caption``) or an edited text (``RowEdits.texts``);
- ``n = round(N · ratio)`` rows are targeted, drawn from the eligible rows; when fewer are
  eligible, or a row finds no replacement that is really wrong for its image, the missing
  rows are the ``shortfall_rows`` of ``Corruption.info`` and the effective rate is lower;
- randomness comes from ``np.random.default_rng([seed, ratio_key(ratio)])`` only, so each
  ratio is drawn independently of the others.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rsbench.api import Corruption, NoiseModel, Split
from rsbench_plugins.noise.caption_shuffle import ratio_key


def target_rows(n_rows: int, ratio: float) -> int:
    """How many rows a nominal ``ratio`` asks for: ``round(n_rows · ratio)``."""
    return int(round(n_rows * ratio))


def ratio_rng(seed: int, ratio: float, *stream: int) -> np.random.Generator:
    """The generator of one (seed, ratio) cell; ``stream`` separates independent draws."""
    return np.random.default_rng([seed, ratio_key(ratio), *stream])


@dataclass
class RowEdits:
    """What a model does to the rows it was given.

    ``caption[row]`` is the row whose caption text the row now uses; ``texts[row]`` is an
    edited text. Rows a model could not corrupt are simply absent (and counted in
    ``info["shortfall_rows"]`` by `RowNoise.corrupt`).
    """

    caption: dict[int, int] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> set[int]:
        return set(self.caption) | set(self.texts)


def choose(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` of ``candidates`` without replacement (all of them when there are fewer), sorted."""
    if n >= len(candidates):
        return np.sort(candidates)
    return np.sort(rng.choice(candidates, size=n, replace=False))


def apply_edits(split: Split, edits: RowEdits) -> Corruption:
    """The `Corruption` of a split where only ``edits`` differ from the clean pairing."""
    caption = np.arange(len(split.texts), dtype=np.int64)
    for row, source in edits.caption.items():
        caption[row] = source
    return Corruption(
        image=split.caption_image.copy(),
        caption=caption,
        texts=dict(edits.texts),
        info=dict(edits.info),
    )


class RowNoise(NoiseModel):
    """A noise model that corrupts a chosen set of caption rows (see the module docstring)."""

    version = "1"
    level = "caption"

    def eligible(self, split: Split) -> np.ndarray:
        """A boolean mask of the rows this model can corrupt (all of them by default)."""
        return np.ones(len(split.texts), dtype=bool)

    def select_rows(
        self, split: Split, n: int, available: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """``n`` rows among the ``available`` eligible ones, uniformly (fewer if short)."""
        candidates = np.flatnonzero(available & self.eligible(split))
        return choose(candidates, n, rng)

    @abstractmethod
    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        """Make each of ``rows`` wrong for its image, where possible."""

    def corrupt(self, split: Split, ratio: float, seed: int) -> Corruption:
        rng = ratio_rng(seed, ratio)
        n = target_rows(len(split.texts), ratio)
        available = np.ones(len(split.texts), dtype=bool)
        rows = self.select_rows(split, n, available, rng) if n else np.zeros(0, np.int64)
        edits = self.corrupt_rows(split, rows, rng) if len(rows) else RowEdits()
        edits.info = {**row_counts(n, len(rows), edits), **edits.info}
        return apply_edits(split, edits)


def row_counts(target: int, selected: int, edits: RowEdits) -> dict[str, int]:
    """The bookkeeping every row model reports in ``Corruption.info``."""
    changed = len(edits.rows)
    return {
        "target_rows": int(target),
        "selected_rows": int(selected),
        "changed_rows": int(changed),
        "shortfall_rows": int(target - changed),
    }
