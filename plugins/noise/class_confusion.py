"""class_confusion: give a caption of an image of a *confusable* scene class.

Source: pair-flip (asymmetric) label noise carried over to image-text pairs, catalogue item
D.4 of ``../shared/specs/peers-and-protocols.md``. A random shuffle lands in the same or a
look-alike class only a few percent of the time (3.5 % same-class on RSITMD, §A.2), so it is
mostly easy noise; real annotation mistakes confuse dense with medium residential, river with
pond, parking with industrial. This model makes only such mistakes.

Which classes are confusable:

- a shipped map (``data/confusion/<dataset>.json``: groups of look-alike classes for synthrs,
  RSITMD, RSICD, NWPU, UCM and Sydney). ``confusion_map: auto`` takes the map that knows the
  most of the split's classes (ties: the highest Jaccard of the class sets, so synthrs gets
  its own map rather than RSITMD's superset); name one to force it, or ``none`` to use
  caption similarity only;
- for a class the map does not cover, or whose look-alikes are absent from the split
  (``fallback: similarity``): the ``similar_k`` classes whose joined training captions are
  closest under TF-IDF cosine (`rsbench_plugins.noise.tfidf`). ``fallback: skip`` leaves such
  classes clean instead.

Ratio mapping: ``round(N · ratio)`` rows are drawn uniformly among the eligible rows (an image
with a class that has a confusable class in the split); each takes the caption of a row drawn
uniformly from all images of its confusable classes, whose text is not one of its image's own
captions (with replacement). Every chosen row is noisy, so the effective rate equals the ratio
up to rounding; ``shortfall_rows`` counts rows that could not be reached (images without a
class, e.g. RSICD's numeric names, are never chosen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rsbench.api import Split
from rsbench_plugins.noise.classes import (
    choose_map,
    confusion_maps,
    image_classes,
    rows_by_class,
    rows_without_class,
    similar_classes,
)
from rsbench_plugins.noise.rows import RowEdits, RowNoise
from rsbench_plugins.noise.texts import donor_captions


class ClassConfusion(RowNoise):
    """Replace captions by those of images of a confusable scene class (pair-flip noise)."""

    name = "class_confusion"

    @dataclass
    class Options:
        #: "auto" (closest shipped map), "none" (similarity only) or a shipped map's dataset
        confusion_map: str = "auto"
        #: for classes the map does not cover: "similarity" (nearest classes) or "skip"
        fallback: Literal["similarity", "skip"] = "similarity"
        #: how many nearest classes the similarity fallback uses
        similar_k: int = 2

        def __post_init__(self) -> None:
            valid = ["auto", "none", *sorted(confusion_maps())]
            if self.confusion_map not in valid:
                raise ValueError(
                    f"class_confusion option confusion_map={self.confusion_map!r} is not one "
                    f"of: {', '.join(valid)}"
                )
            if self.similar_k < 1:
                raise ValueError(
                    f"class_confusion option similar_k must be >= 1, got {self.similar_k}"
                )

    _memo: tuple[Split, dict[str, Any]] | None = None

    def confusable(self, split: Split) -> dict[str, Any]:
        """The confusable classes of each class present, and how they were found."""
        if self._memo is not None and self._memo[0] is split:
            return self._memo[1]
        keys = image_classes(split, self.name)
        present = {k for k in keys if k is not None}
        chosen = choose_map(self.options.confusion_map, present)
        partners: dict[str, list[str]] = {}
        by_similarity: list[str] = []
        similar = None
        for key in sorted(present):
            found = sorted(chosen.partners(key) & present) if chosen else []
            if not found and self.options.fallback == "similarity":
                similar = similar or similar_classes(split, keys, self.options.similar_k)
                found = similar[key]
                by_similarity.extend([key] if found else [])
            if found:
                partners[key] = found
        result = {
            "keys": keys,
            "partners": partners,
            "map": chosen.name if chosen else None,
            "by_similarity": by_similarity,
        }
        self._memo = (split, result)
        return result

    def eligible(self, split: Split) -> np.ndarray:
        found = self.confusable(split)
        ok = np.array([k in found["partners"] for k in found["keys"]], dtype=bool)
        return ok[split.caption_image] if len(ok) else np.zeros(0, bool)

    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        found = self.confusable(split)
        keys, partners = found["keys"], found["partners"]
        by_class = rows_by_class(split, keys)
        pools = {
            k: np.sort(np.concatenate([by_class[p] for p in ps])) for k, ps in partners.items()
        }
        classes = [keys[i] for i in split.caption_image[rows].tolist()]
        return RowEdits(
            caption=donor_captions(split, rows, classes, pools, rng),
            info={
                "confusion_map": found["map"],
                "confusable_by_similarity": {k: partners[k] for k in found["by_similarity"]},
                "rows_without_class": rows_without_class(split, keys),
            },
        )
