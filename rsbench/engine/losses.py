"""Loss helpers shared by methods."""

from __future__ import annotations

import torch


def same_image_mask(image: torch.Tensor) -> torch.Tensor:
    """True where two different rows of a batch are paired with the same image.

    Such rows are both right for that image, so contrastive losses should not push them
    apart as negatives.
    """
    same = image[:, None] == image[None, :]
    return same & ~torch.eye(len(image), dtype=torch.bool, device=image.device)
