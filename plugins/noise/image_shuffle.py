"""image_shuffle: the image-level protocol of DECL, RCL and L2RM.

Choose ``int(M · ratio)`` of the M training images and permute them, so that every caption
of a chosen image is paired with another chosen image. At the same nominal ratio this is
harder than `caption_shuffle`: no chosen image keeps a correct caption. Fixed points of the
permutation stay clean, so the effective rate is a little below the ratio.

The draw uses a generator seeded by the noise seed and the ratio (each ratio independent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsbench.api import Corruption, NoiseModel, Split
from rsbench_plugins.noise.caption_shuffle import ratio_key


class ImageShuffle(NoiseModel):
    """Permute a random ratio of images, so all captions of a chosen image go wrong (DECL)."""

    version = "1"
    level = "image"

    @dataclass
    class Options:
        pass

    def corrupt(self, split: Split, ratio: float, seed: int) -> Corruption:
        m = len(split.images)
        rng = np.random.default_rng([seed, ratio_key(ratio)])
        chosen = rng.choice(m, size=int(m * ratio), replace=False)
        image_map = np.arange(m, dtype=np.int64)
        image_map[chosen] = rng.permutation(chosen)
        return Corruption(
            image=image_map[split.caption_image],
            caption=np.arange(len(split.texts), dtype=np.int64),
            info={"selected_images": int(len(chosen))},
        )
