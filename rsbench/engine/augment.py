"""Image augmentations that run on batches of decoded pixels, on the training device.

The decoded-image cache hands the engine uint8 tensors; augmenting them there (on the GPU
when there is one) keeps the data path free of per-epoch image decoding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_resized_crop(
    images: torch.Tensor, min_scale: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Crop a random square of ``min_scale``..1 of each image's area and resize it back.

    ``images``: ``B × H × W × 3`` (uint8 or float); returns float pixels in 0..255, same shape.
    """
    b = images.shape[0]
    device = images.device
    area = torch.empty(b).uniform_(min_scale, 1.0, generator=generator)
    side = area.sqrt()  # crop side as a fraction of the image side
    centre = (torch.rand(b, 2, generator=generator) * 2 - 1) * (1 - side[:, None])
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = side
    theta[:, 1, 1] = side
    theta[:, :, 2] = centre
    x = images.permute(0, 3, 1, 2).float()
    grid = F.affine_grid(theta.to(device), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.permute(0, 2, 3, 1)
