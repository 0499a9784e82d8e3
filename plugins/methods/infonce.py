"""InfoNCE: the symmetric contrastive loss of CLIP on a dual encoder.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision"
(ICML 2021): cross-entropy over the in-batch similarity matrix, image→text and text→image,
averaged; similarities are scaled by 1 / temperature. It has no defence against noisy pairs,
so it is the lower-bound reference row of every noisy-correspondence table: with the CLIP
backbone it is the "plain fine-tune" row of RRSITR's tables.

Choices (options):
- ``temperature``: 0.05, fixed, with the CLIP backbone (RRSITR trains at the fixed scale
  e^2.996 ≈ 20.0, i.e. a temperature of 0.04999); 0.07 and learnable (``learn_temperature``),
  its inverse clamped to at most 100, with the from-scratch encoders. A learnt temperature is
  a parameter of the model, so the selected epoch's weights come with that epoch's temperature;
- ``mask_same_image``: rows of a batch that share an image are not each other's negatives
  (on by default; two captions of one image are both right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rsbench.api import LogUniform
from rsbench.engine import Batch, DualEncoderMethod
from rsbench.engine.dual_encoder import (
    CLIP_SEARCH_SPACES,
    PAPER_CLIP_RECIPE,
    SCRATCH_RECIPE,
    SMALL_CLIP_RECIPE,
)
from rsbench.engine.losses import same_image_mask

MAX_LOG_SCALE = math.log(100.0)


def info_nce(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    image: torch.Tensor,
    log_scale: torch.Tensor,
    mask_same_image: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Symmetric InfoNCE of a batch (rows pair ``image_emb[i]`` with ``text_emb[i]``).

    ``reduction="none"`` gives each pair's loss: the mean of its two cross-entropies.
    """
    logits = log_scale.clamp(max=MAX_LOG_SCALE).exp() * image_emb @ text_emb.T  # images × texts
    if mask_same_image:
        logits = logits.masked_fill(same_image_mask(image), float("-inf"))
    target = torch.arange(len(logits), device=logits.device)
    both = F.cross_entropy(logits, target, reduction="none") + F.cross_entropy(
        logits.T, target, reduction="none"
    )
    return 0.5 * (both.mean() if reduction == "mean" else both)


class InfoNCE(DualEncoderMethod):
    """Symmetric contrastive (CLIP-style) loss with a temperature."""

    PROFILES = {
        "small": {**SMALL_CLIP_RECIPE, "temperature": 0.05, "learn_temperature": False},
        "paper": {**PAPER_CLIP_RECIPE, "temperature": 0.05, "learn_temperature": False},
    }
    SEARCH_SPACES = {
        profile: {**space, "temperature": LogUniform(0.01, 0.1)}
        for profile, space in CLIP_SEARCH_SPACES.items()
    }
    BACKBONE_RECIPES = {
        ("small", "scratch"): {**SCRATCH_RECIPE, "temperature": 0.07, "learn_temperature": True}
    }

    @dataclass
    class Options(DualEncoderMethod.Options):
        temperature: float = 0.05
        learn_temperature: bool = False
        mask_same_image: bool = True

        def __post_init__(self):
            super().__post_init__()
            if not self.temperature > 0:
                raise ValueError(f"temperature must be positive, got {self.temperature}")

    def build(self, task):
        model = super().build(task)
        model.register_parameter(
            "logit_scale",
            nn.Parameter(
                torch.tensor(math.log(1.0 / self.options.temperature)),
                requires_grad=self.options.learn_temperature,
            ),
        )
        return model

    def objective(self, out, batch: Batch, model):
        return info_nce(
            out["image"].emb.float(),
            out["text"].emb.float(),
            batch.image,
            model.logit_scale,
            self.options.mask_same_image,
        )
