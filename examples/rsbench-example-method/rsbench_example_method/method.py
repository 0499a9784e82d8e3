"""example-method: what the method does, in one line.

Cite its paper (authors, title, venue, year), the official code it follows and where it departs
from it.

The starting point is a symmetric contrastive (InfoNCE) loss on rsbench's dual encoder (the
small pretrained CLIP in the ``small`` profile, OpenAI's CLIP ViT-B/32 in ``paper``): replace
``loss`` with yours, or override ``objective`` / ``training_step`` / ``select_rows``
(docs/plugins.md in rsbench lists every hook).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from rsbench.engine import Batch, DualEncoderMethod
from rsbench.engine.losses import same_image_mask


class ExampleMethod(DualEncoderMethod):
    """ExampleMethod: describe the method in one line"""

    @dataclass
    class Options(DualEncoderMethod.Options):
        # Every setting is an option: recorded with each result and part of its cell id.
        temperature: float = 0.05

        def __post_init__(self):
            super().__post_init__()
            if not self.temperature > 0:
                raise ValueError(f"temperature must be positive, got {self.temperature}")

    def loss(self, image_emb: torch.Tensor, text_emb: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Symmetric InfoNCE of a batch: row i pairs ``image_emb[i]`` with ``text_emb[i]``."""
        logits = image_emb @ text_emb.T / self.options.temperature
        # two captions of one image are both right: neither is the other's negative
        logits = logits.masked_fill(same_image_mask(batch.image), float("-inf"))
        target = torch.arange(len(logits), device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
