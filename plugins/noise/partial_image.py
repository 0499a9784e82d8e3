"""partial_image: corrupt exactly ``j`` of the captions of each chosen image.

Source: the "partial vs complete" correspondence noise of RCAR (FITEE 2023), and the gap
between the two standard protocols (``../shared/specs/peers-and-protocols.md`` §A.2, D.3):
the caption-level shuffle of NCR / RRSITR leaves most images with some correct captions, the
image-level shuffle of DECL leaves none. Fixing ``j`` per chosen image interpolates between
them: ``j = 1`` is sparse, partial noise; ``j = k`` (all five) is complete, image-level noise.

Ratio mapping: ``n = round(N · ratio)`` caption rows are asked for, so
``round(n / j)`` images are chosen uniformly among those with at least ``j`` captions, and
``j`` of each one's rows, chosen uniformly, are corrupted. The effective rate is
``j · images / N``, within ``j / 2N`` of the ratio, as long as enough images exist: with k
captions per image the most this model can reach is ``j / k`` (``j = 2`` of 5: 40 %). Beyond
that every eligible image is chosen and the rest is reported as ``shortfall_rows``.

Each corrupted row takes the caption of a row drawn uniformly from the whole split whose text
is not one of the image's own captions (drawn with replacement), so every corrupted row is
noisy and the image's other ``k - j`` captions stay clean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsbench.api import RsbenchError, Split
from rsbench_plugins.noise.rows import RowEdits, RowNoise, choose
from rsbench_plugins.noise.texts import donor_captions


class PartialImage(RowNoise):
    """Corrupt exactly j of the k captions of a chosen set of images (RCAR partial noise)."""

    name = "partial_image"
    level = "image"

    @dataclass
    class Options:
        #: captions corrupted per chosen image (an image with fewer captions is never chosen)
        j: int = 2

        def __post_init__(self) -> None:
            if self.j < 1:
                raise ValueError(f"partial_image option j must be at least 1, got {self.j}")

    def eligible(self, split: Split) -> np.ndarray:
        counts = np.diff(split.first_row)
        return counts[split.caption_image] >= self.options.j

    def select_rows(
        self, split: Split, n: int, available: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        j = self.options.j
        if n and not self.eligible(split).any():  # would silently corrupt nothing
            most = int(np.diff(split.first_row).max(initial=0))
            raise RsbenchError(
                f"partial_image option j={j}: no image of the {split.name} split has {j} "
                f"captions; valid here: j from 1 to {most}"
            )
        free = available & self.eligible(split)
        per_image = np.bincount(split.caption_image[free], minlength=len(split.images))
        images = np.flatnonzero(per_image >= j)
        chosen = choose(images, int(round(n / j)), rng)
        rows = []
        for image in chosen.tolist():
            own = np.arange(split.first_row[image], split.first_row[image + 1])
            rows.append(rng.choice(own[free[own]], size=j, replace=False))
        return np.sort(np.concatenate(rows)) if rows else np.zeros(0, np.int64)

    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        everyone = {"all": np.arange(len(split.texts), dtype=np.int64)}
        return RowEdits(
            caption=donor_captions(split, rows, ["all"] * len(rows), everyone, rng),
            info={
                "j": self.options.j,
                "chosen_images": int(len(np.unique(split.caption_image[rows]))),
            },
        )
