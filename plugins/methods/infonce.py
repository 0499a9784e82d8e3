"""InfoNCE: the symmetric contrastive loss of CLIP on a dual encoder.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision"
(ICML 2021): cross-entropy over the in-batch similarity matrix, image→text and text→image,
averaged; similarities are scaled by 1 / temperature. It has no defence against noisy pairs,
so it is the lower-bound reference row of every noisy-correspondence table.

Choices (options):
- ``temperature`` 0.07, learnable (``learn_temperature``) as in CLIP, its inverse clamped to
  at most 100;
- ``mask_same_image``: rows of a batch that share an image are not each other's negatives
  (on by default; two captions of one image are both right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rsbench.engine import Batch, DualEncoderMethod
from rsbench.engine.losses import same_image_mask


class InfoNCE(DualEncoderMethod):
    """Symmetric contrastive (CLIP-style) loss with a temperature."""

    @dataclass
    class Options(DualEncoderMethod.Options):
        temperature: float = 0.07
        learn_temperature: bool = True
        mask_same_image: bool = True

        def __post_init__(self):
            super().__post_init__()
            if self.temperature <= 0:
                raise ValueError("temperature must be positive")

    def build(self, task):
        model = super().build(task)
        self.log_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / self.options.temperature)),
            requires_grad=self.options.learn_temperature,
        )
        return model

    def extra_parameters(self):
        return [self.log_scale] if self.options.learn_temperature else []

    def loss(self, image_emb, text_emb, batch: Batch):
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * image_emb @ text_emb.T  # images × texts
        if self.options.mask_same_image:
            logits = logits.masked_fill(same_image_mask(batch.image), float("-inf"))
        target = torch.arange(len(logits), device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
