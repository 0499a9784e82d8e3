"""wrong_class: CHNR's wrong-caption noise, per image, from a different scene class.

Source: CHNR / DUCH-NR (Mikriukov, Ravanbakhsh, Demir, ICIP 2022), ``--noise-wrong-caption``;
``../shared/specs/rrsitr-chnr.md`` §B.5 (``DatasetQuadrupletAugmentedTxtImgNoiseWrongCaption``):

- each training image, with probability ``p``, gets the caption of a random training image of
  a *different* scene class (drawn with replacement);
- a protected subset of ``int(protected · M)`` images always keeps its true caption, even
  when a replacement was drawn for it. CHNR hard-codes 20 %; here it is the option
  ``protected`` (default 0.2). The subset depends on the noise seed only, not on the ratio,
  as CHNR's fixed seed-42 subset;
- train split only.

Ratio mapping (``ratio_is``): ``p`` (default, CHNR's convention) takes ``p = ratio``, so the
effective rate is about ``(1 − protected) · ratio`` (0.8 · p by default) with binomial spread
over the images. ``rate`` takes ``p = ratio / (1 − protected)`` so that the effective rate is
about the ratio, and refuses a ratio above ``1 − protected``.

Captions per image (``captions``): CHNR keeps one randomly selected caption per image and never
uses the other four; rsbench trains on all of them. ``all`` (default) keeps rsbench's rows:
every caption row of a noisy image takes a caption of the one donor image (its captions in
order, cycled), the captions of clean images are untouched, and ratio 0 changes nothing.
``one`` is the faithful variant: each image is represented by one caption, selected per noise
seed (not per ratio) and written on all of its rows; a noisy image's rows carry the donor's
selected caption. Its pairs differ from the clean split even at ratio 0 (only the selected
captions are trained), while the clean flags stay right, since a selected caption is one of
the image's own.

As a part of ``compound``, the model works on the rows it is given: each takes a caption of
a row of another class (no per-image draw, no protected subset).

Images without a class (RSICD's numeric names) are never noisy; a donor whose caption happens
to be one of the image's own captions leaves that row clean (the core decides by text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rsbench.api import Corruption, RsbenchError, Split
from rsbench_plugins.noise.classes import image_classes, rows_by_class
from rsbench_plugins.noise.rows import RowEdits, RowNoise, ratio_rng
from rsbench_plugins.noise.texts import donor_captions

#: generator streams that do not depend on the ratio (ratio keys are below 1,000,000)
_PROTECTED_STREAM, _SELECTED_STREAM = 2_000_001, 2_000_002


class WrongClass(RowNoise):
    """CHNR: per image with probability p, captions of a random image of another class."""

    name = "wrong_class"
    level = "image"

    @dataclass
    class Options:
        #: share of training images that always keep their true captions (CHNR: 0.2)
        protected: float = 0.2
        #: "p": p = ratio (CHNR); "rate": p = ratio / (1 - protected), so the rate ≈ ratio
        ratio_is: Literal["p", "rate"] = "p"
        #: "all" captions of each image (rsbench), or "one" selected caption per image (CHNR)
        captions: Literal["all", "one"] = "all"

        def __post_init__(self) -> None:
            if not 0.0 <= self.protected < 1.0:
                raise ValueError(
                    f"wrong_class option protected must be in [0, 1), got {self.protected}"
                )

    def corrupt(self, split: Split, ratio: float, seed: int) -> Corruption:
        keys = image_classes(split, self.name)
        m, protected_share = len(split.images), self.options.protected
        p = ratio if self.options.ratio_is == "p" else ratio / (1.0 - protected_share)
        if p > 1.0:
            raise RsbenchError(
                f"wrong_class with ratio_is=rate reaches at most {1 - protected_share:g} "
                f"(1 - protected); got ratio {ratio:g}"
            )
        protected = np.zeros(m, dtype=bool)
        guard = np.random.default_rng([seed, _PROTECTED_STREAM])
        protected[guard.choice(m, size=int(protected_share * m), replace=False)] = True
        rng = ratio_rng(seed, ratio)
        drawn = rng.random(m) < p
        first, counts = split.first_row, np.diff(split.first_row)
        donors = _other_class_images(keys, counts, rng)
        noisy = drawn & ~protected & (donors >= 0)
        if self.options.captions == "one":
            pick = np.random.default_rng([seed, _SELECTED_STREAM]).integers(np.maximum(counts, 1))
            source_image = np.where(noisy, donors, np.arange(m))
            per_image = first[source_image] + pick[source_image]
            caption = per_image[split.caption_image]
        else:
            caption = np.arange(len(split.texts), dtype=np.int64)
            for image in np.flatnonzero(noisy).tolist():
                donor, k = donors[image], counts[image]
                caption[first[image] : first[image] + k] = (
                    first[donor] + np.arange(k) % counts[donor]
                )
        changed = int((caption != np.arange(len(split.texts))).sum())
        return Corruption(
            image=split.caption_image.copy(),
            caption=caption.astype(np.int64),
            info={
                "p": float(p),
                "protected_images": int(protected.sum()),
                "drawn_images": int(drawn.sum()),
                "noisy_images": int(noisy.sum()),
                "images_without_class": int(sum(k is None for k in keys)),
                "changed_rows": changed,
            },
        )

    # --- as a part of `compound`: the given rows each take a caption of another class ---

    def eligible(self, split: Split) -> np.ndarray:
        keys = image_classes(split, self.name)
        if len({k for k in keys if k is not None}) < 2:
            return np.zeros(len(split.texts), dtype=bool)
        has_class = np.array([k is not None for k in keys], dtype=bool)
        return has_class[split.caption_image]

    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        keys = image_classes(split, self.name)
        by_class = rows_by_class(split, keys)
        pools = {
            k: np.sort(np.concatenate([own for other, own in by_class.items() if other != k]))
            for k in by_class
        }
        classes = [keys[i] for i in split.caption_image[rows].tolist()]
        return RowEdits(caption=donor_captions(split, rows, classes, pools, rng))


def _other_class_images(
    keys: list[str | None], counts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For every image, a uniformly drawn image of another class (-1 where there is none).

    Only images with a class and at least one caption take part, as targets or donors.
    """
    m = len(keys)
    donors = np.full(m, -1, dtype=np.int64)
    classed = [i for i in range(m) if keys[i] is not None and counts[i] > 0]
    order = sorted(classed, key=lambda i: (keys[i], i))  # each class a contiguous block
    block: dict[str, tuple[int, int]] = {}
    for pos, i in enumerate(order):
        start, _ = block.get(keys[i], (pos, pos))
        block[keys[i]] = (start, pos + 1)
    draws = rng.random(m)  # one draw per image, so the stream does not depend on the classes
    for i in classed:
        start, end = block[keys[i]]
        others = len(order) - (end - start)
        if others == 0:
            continue
        u = min(int(draws[i] * others), others - 1)
        donors[i] = order[u if u < start else u + (end - start)]
    return donors
