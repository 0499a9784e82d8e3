"""within_class: give a caption of another image of the *same* scene class.

Source: the weak mismatches ("pseudo-matched pairs") of PMPGuard (AAAI 2026) and catalogue
item D.6 of ``../shared/specs/peers-and-protocols.md``. RS captions are generic ("many
buildings and green trees"), so a caption of another image of the same class is often nearly
right: this model tests whether a method over-rejects near-correct pairs, the opposite failure
to missing the easy cross-class noise of a random shuffle (which stays in class only ~3.5 % of
the time on RSITMD).

Ratio mapping: ``round(N · ratio)`` rows are drawn uniformly among the eligible rows (those of
an image with a class that has at least one other image); each takes the caption of a row
drawn uniformly from the other images of its class whose text is not one of its image's own
captions (with replacement). So every chosen row is noisy and the effective rate equals the
ratio up to rounding; ``shortfall_rows`` counts what could not be reached (rows without a
class, e.g. RSICD's numeric names, or classes whose captions are all identical).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from rsbench.api import Split
from rsbench_plugins.noise.classes import image_classes, rows_by_class, rows_without_class
from rsbench_plugins.noise.rows import RowEdits, RowNoise
from rsbench_plugins.noise.texts import donor_captions


class WithinClass(RowNoise):
    """Replace captions by those of other images of the same scene class (weak mismatch)."""

    name = "within_class"

    @dataclass
    class Options:
        pass

    def eligible(self, split: Split) -> np.ndarray:
        keys = image_classes(split, self.name)
        images_per_class = Counter(k for k in keys if k is not None)
        ok = np.array([images_per_class[k] > 1 for k in keys], dtype=bool)
        return ok[split.caption_image] if len(keys) else np.zeros(0, bool)

    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        keys = image_classes(split, self.name)
        classes = [keys[i] for i in split.caption_image[rows].tolist()]
        return RowEdits(
            caption=donor_captions(split, rows, classes, rows_by_class(split, keys), rng),
            info={"rows_without_class": rows_without_class(split, keys)},
        )
