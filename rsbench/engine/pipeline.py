"""The image pipeline of a method: decode sizes, training crops and normalisation.

Images are decoded and resized **once** into the decoded-image cache (uint8 pixels, one file
per image list, size and interpolation: `rsbench.data.images.load_images`); everything per step runs
on the training device from those pixels, so no epoch opens an image file:

- evaluation: the cached pixels at ``size`` (a direct resize, equal to "resize the shorter side,
  centre-crop" for the square images of every supported dataset), normalised;
- training, ``train``:
  - ``none``: as evaluation;
  - ``resized_crop``: torchvision's ``RandomResizedCrop`` sampling (area in ``crop_scale``,
    log-uniform aspect ratio in ``crop_ratio``, ten attempts, then a centre crop) from pixels
    decoded at ``decode_size``, resampled to ``size`` with ``interpolation`` in one batched
    ``grid_sample`` (no antialiasing: the crops shrink by at most ~1.2×; see `crop_and_resize`);
  - ``random_crop``: a ``size`` square at a random integer offset of pixels decoded at
    ``decode_size`` (AMFMN: Resize 278, RandomCrop 256).
- normalisation presets: ``openai`` (CLIP's mean/std), ``imagenet``, ``half`` (mean 0.5,
  std 0.25: the from-scratch encoders), ``none`` (pixels in 0..1, as ``ToTensor`` alone).

The random draws come from a CPU generator seeded by the training seed, so crops are the same
on every device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

NORMALISATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "openai": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "half": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
Interpolation = Literal["bilinear", "bicubic"]
TrainCrop = Literal["none", "resized_crop", "random_crop"]
Normalisation = Literal["openai", "imagenet", "half", "none"]


@dataclass(frozen=True)
class ImagePipeline:
    """How a method's images are decoded, cropped and normalised (see the module docstring)."""

    size: int
    decode_size: int | None = None  # training decode size; None: ``size``
    interpolation: Interpolation = "bilinear"
    train: TrainCrop = "none"
    crop_scale: tuple[float, float] = (1.0, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    normalize: Normalisation = "half"

    def __post_init__(self):
        if self.size < 8:
            raise ValueError(f"image size must be at least 8, got {self.size}")
        if self.train_decode_size < self.size and self.train == "random_crop":
            raise ValueError(
                f"random_crop needs decode_size >= size, got {self.decode_size} < {self.size}"
            )
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {self.crop_scale}")
        if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ValueError(f"crop_ratio must be increasing and positive, got {self.crop_ratio}")
        if self.normalize not in NORMALISATIONS:
            raise ValueError(
                f"unknown normalisation {self.normalize!r}; valid: {', '.join(NORMALISATIONS)}"
            )

    @property
    def train_decode_size(self) -> int:
        if self.train == "none":
            return self.size
        return self.decode_size or self.size

    def identity(self) -> dict[str, Any]:
        """What the pixels a model sees depend on: recorded, and part of feature-cache keys."""
        out = asdict(self)
        out["crop_scale"], out["crop_ratio"] = list(self.crop_scale), list(self.crop_ratio)
        out["decode_size"] = self.train_decode_size
        return out

    # ---- decoding (through the decoded-image cache) -------------------------------------------
    def load_train(self, paths: Sequence[Path]) -> np.ndarray:
        from rsbench.data.images import load_images

        return load_images(paths, self.train_decode_size, self.interpolation)

    def load_eval(self, paths: Sequence[Path]) -> np.ndarray:
        from rsbench.data.images import load_images

        return load_images(paths, self.size, self.interpolation)

    # ---- per batch, on the device ---------------------------------------------------------
    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """``B × H × W × 3`` pixels in 0..255 → ``B × 3 × H × W`` float, normalised."""
        return self.normalise_planar(pixels.permute(0, 3, 1, 2).float())

    def normalise_planar(self, x: torch.Tensor) -> torch.Tensor:
        """``B × 3 × H × W`` float pixels in 0..255 → normalised (one fused affine map)."""
        mean, std = NORMALISATIONS[self.normalize]
        scale = torch.tensor([1 / (255.0 * s) for s in std], device=x.device).view(1, 3, 1, 1)
        shift = torch.tensor([m / s for m, s in zip(mean, std, strict=True)], device=x.device)
        return torch.addcmul(-shift.view(1, 3, 1, 1), x, scale)

    def eval_batch(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.shape[1] != self.size or pixels.shape[2] != self.size:
            raise ValueError(
                f"evaluation pixels are {tuple(pixels.shape[1:3])}, expected {self.size} px"
            )
        return self.normalise(pixels)

    def train_batch(
        self, pixels: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.train == "none":
            return self.eval_batch(pixels)
        if self.train == "random_crop":
            return self.normalise(random_crop(pixels, self.size, generator))
        boxes = resized_crop_boxes(
            len(pixels),
            pixels.shape[1],
            pixels.shape[2],
            self.crop_scale,
            self.crop_ratio,
            generator,
        )
        planar = crop_and_resize(pixels, boxes, self.size, self.interpolation, planar=True)
        return self.normalise_planar(planar)


def resized_crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator | None = None,
    attempts: int = 10,
) -> torch.Tensor:
    """``n × 4`` crop boxes (top, left, height, width) drawn as torchvision's RandomResizedCrop.

    Per image: up to ``attempts`` draws of an area fraction in ``scale`` and a log-uniform
    aspect ratio in ``ratio``; the first box that fits is taken; if none fits, the largest
    centre crop whose aspect ratio lies in ``ratio``.
    """
    area = height * width
    target = area * torch.empty(n, attempts).uniform_(scale[0], scale[1], generator=generator)
    log_ratio = torch.empty(n, attempts).uniform_(
        math.log(ratio[0]), math.log(ratio[1]), generator=generator
    )
    aspect = log_ratio.exp()
    w = torch.sqrt(target * aspect).round().long()
    h = torch.sqrt(target / aspect).round().long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    offsets = torch.rand(n, attempts, 2, generator=generator)
    first = fits.int().argmax(dim=1)  # the first attempt that fits (0 when none does)
    pick = torch.arange(n)
    bh, bw = h[pick, first], w[pick, first]
    top = (offsets[pick, first, 0] * (height - bh + 1)).long()
    left = (offsets[pick, first, 1] * (width - bw + 1)).long()
    none = ~fits.any(dim=1)
    if none.any():  # fallback: centre crop at the nearest allowed aspect ratio
        in_ratio = width / height
        if in_ratio < ratio[0]:
            cw, ch = width, round(width / ratio[0])
        elif in_ratio > ratio[1]:
            ch, cw = height, round(height * ratio[1])
        else:
            cw, ch = width, height
        bh[none], bw[none] = ch, cw
        top[none], left[none] = (height - ch) // 2, (width - cw) // 2
    return torch.stack([top, left, bh, bw], dim=1)


def crop_and_resize(
    pixels: torch.Tensor,
    boxes: torch.Tensor,
    size: int,
    interpolation: str = "bilinear",
    planar: bool = False,
) -> torch.Tensor:
    """Each image's box resampled to ``size`` × ``size`` in one batched ``grid_sample``
    (``B × H × W × 3`` in; float 0..255 out, ``B × 3 × size × size`` when ``planar``).

    Output pixel centres map onto the box as a crop-then-resize maps them; near the box's edge
    the interpolation kernel reads the image's pixels just outside the box, where a separate
    crop would repeat the edge, and there is no antialiasing (the crops here shrink by at most
    about 1.2×).
    """
    b, height, width = pixels.shape[:3]
    boxes = boxes.to(torch.float32)
    top, left, bh, bw = boxes.unbind(1)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = bw / width
    theta[:, 1, 1] = bh / height
    theta[:, 0, 2] = (2 * left + bw) / width - 1
    theta[:, 1, 2] = (2 * top + bh) / height - 1
    x = pixels.permute(0, 3, 1, 2).float()
    grid = F.affine_grid(theta.to(x.device), [b, 3, size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode=interpolation, padding_mode="border", align_corners=False)
    out = out.clamp_(0, 255)
    return out if planar else out.permute(0, 2, 3, 1)


def random_crop(
    pixels: torch.Tensor, size: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A ``size`` square of each image at a uniformly random integer offset."""
    b, height, width = pixels.shape[:3]
    tops = torch.randint(0, height - size + 1, (b,), generator=generator).tolist()
    lefts = torch.randint(0, width - size + 1, (b,), generator=generator).tolist()
    return torch.stack(
        [
            pixels[k, t : t + size, s : s + size]
            for k, (t, s) in enumerate(zip(tops, lefts, strict=True))
        ]
    )
