"""caption_shuffle: the caption-level protocol of NCR, NPC and RRSITR.

Choose ``int(N · ratio)`` of the N training caption rows without replacement and permute
their captions among themselves; images and row order stay. A permutation can send a caption
back to its own row or to another row of the same image, so the effective noise rate is a
little below the nominal ratio (the noise file records both).

Two modes:

- ``independent`` (default): each ratio draws from its own generator, seeded by the noise
  seed and the ratio, so the 40 % pairing does not depend on which other ratios were asked.
- ``rrsitr``: RRSITR's ``precomp/noise_correspondence.py``. One legacy numpy stream
  (``np.random.seed(seed)``) runs through the ratios 0.2, 0.4, 0.6, 0.8 in that order
  (``rrsitr_ratios``), each drawing ``choice`` then ``shuffle`` from the same stream, so
  the 40 % pairing is the second draw. With seed 42 on RRSITR's RSITMD training file this
  reproduces the published ``RSITMD-NC-02/04/06/08.csv`` exactly. Only ratios of that
  schedule (and 0) are valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rsbench.api import Corruption, NoiseModel, RsbenchError, Split


def ratio_key(ratio: float) -> int:
    """An integer spelling of a ratio, for seeding (0.2 -> 200000)."""
    return int(round(ratio * 1_000_000))


class CaptionShuffle(NoiseModel):
    """Permute the captions of a random ratio of caption rows among themselves (NCR / RRSITR)."""

    version = "1"
    level = "caption"

    @dataclass
    class Options:
        mode: Literal["independent", "rrsitr"] = "independent"
        rrsitr_ratios: list[float] = field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8])

    def corrupt(self, split: Split, ratio: float, seed: int) -> Corruption:
        n = len(split.texts)
        caption = np.arange(n, dtype=np.int64)
        if self.options.mode == "rrsitr":
            selected, sources = self._rrsitr_draw(n, ratio, seed)
        else:
            rng = np.random.default_rng([seed, ratio_key(ratio)])
            selected = rng.choice(n, size=int(n * ratio), replace=False)
            sources = rng.permutation(selected)
        caption[selected] = sources
        return Corruption(
            image=split.caption_image.copy(),
            caption=caption,
            info={"selected_rows": int(len(selected))},
        )

    def _rrsitr_draw(self, n: int, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        empty = np.zeros(0, dtype=np.int64)
        if ratio == 0:
            return empty, empty
        schedule = self.options.rrsitr_ratios
        if not any(abs(r - ratio) < 1e-9 for r in schedule):
            valid = ", ".join(f"{r:g}" for r in [0, *schedule])
            raise RsbenchError(
                f"caption_shuffle in rrsitr mode supports ratios {valid}; got {ratio:g}"
            )
        stream = np.random.RandomState(seed)
        for r in schedule:
            selected = stream.choice(n, size=int(n * r), replace=False)
            sources = selected.copy()
            stream.shuffle(sources)  # same draws as shuffling the selected titles
            if abs(r - ratio) < 1e-9:
                return selected, sources
        raise AssertionError("unreachable")
