"""rcl: RCL's complementary contrastive loss on rsbench's dual encoder.

Hu, Huang, Peng, Zhu, Peng, "Cross-Modal Retrieval with Partially Mismatched Pairs", IEEE
TPAMI 2023; official code github.com/penghu-cs/RCL (``RCL-SGRAF/model.py``, class ``CCL``).

A noisy pair makes a contrastive loss pull a wrong image and caption together. RCL learns
from *complementary* labels instead: "caption j does not belong to image i", which stay true
for almost every j even when the pair (i, i) is wrong. With ``p_ij`` the softmax over a row
of ``exp(s_ij / tau)`` (image to text, and the same over columns, text to image), the loss
pushes down the probability of the complementary pairs and never pulls a positive directly:

    L = mean_i sum_{j in C_i} h(p_ij)  (image to text)  +  the same on the transposed scores

with ``h`` one of RCL's robust criteria: ``log`` -log(1 - p) (the paper's default), ``tan``
tan(p), ``abs`` p, ``exp`` exp(-(1 - p)), ``gce`` (1 - (1 - p)^q) / q; ``infoNCE`` (the
positive's -log p_ii, RCL's ablation) is kept for comparison.

As in the official code:

- the scores are a batch's images × captions in row order (row i pairs image i with caption
  i), ``tau`` = 0.05, ``eps`` = 1e-10 inside the normaliser and the log;
- ``C_i`` is every other column of the row (``ratio`` ≤ 0 or ≥ 1, the default) or, with
  ``0 < ratio < 1``, ``int(ratio · n)`` columns drawn at random per row, the diagonal never;
  the same drawn mask is applied to both directions (image-to-text rows and text-to-image
  rows), as the official ``CCL.forward`` does;
- captions of the same image in a batch are complementary labels of each other (the official
  data never masks them); ``mask_same_image: true`` drops them from ``C_i``, an rsbench option;
- ``q`` is the official ``--margin`` (0.2 in its training scripts), used by ``gce`` only.

Departures: the network is rsbench's dual encoder with its recipes (``small``: the small
pretrained CLIP; ``paper``: OpenAI's CLIP ViT-B/32 under RRSITR's fine-tuning recipe), not
SGRAF on region features, and the optimiser and schedule are those recipes' (the official
code trains SGRAF with Adam, lr 2e-4, ×0.1 after 15 of 30 epochs). RCL estimates no clean
pairs, so it reports no clean scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from rsbench.engine import Batch, DualEncoderMethod, same_image_mask

EPS = 1e-10
Criterion = Literal["log", "tan", "abs", "exp", "gce", "infoNCE"]


def complementary_mask(n: int, ratio: float, device=None) -> torch.Tensor:
    """Which columns of each row are complementary labels (float 0/1, ``n × n``).

    Every off-diagonal column when ``ratio`` ≤ 0 or ≥ 1; otherwise ``int(ratio · n)`` of them,
    drawn per row from the global torch generator (seeded by the training seed), as the
    official code draws them: uniform scores, the diagonal set below its row's minimum, top-k.
    """
    eye = torch.eye(n, device=device, dtype=torch.bool)
    if ratio <= 0 or ratio >= 1:
        return (~eye).float()
    draw = torch.rand(n, n, device=device)
    draw[eye] = draw.min(dim=1).values - 1
    chosen = draw.topk(int(ratio * n), dim=1).indices
    mask = torch.zeros(n, n, device=device)
    mask[torch.arange(n, device=device).unsqueeze(1), chosen] = 1.0
    return mask


def complementary_contrastive_loss(
    scores: torch.Tensor,
    mask: torch.Tensor,
    tau: float = 0.05,
    criterion: Criterion = "log",
    q: float = 0.2,
) -> torch.Tensor:
    """RCL's loss of an ``images × captions`` score matrix (see the module docstring)."""
    scores = (scores / tau).exp()
    i2t = scores / (scores.sum(1, keepdim=True) + EPS)
    t2i = scores.t() / (scores.t().sum(1, keepdim=True) + EPS)

    def h(p: torch.Tensor) -> torch.Tensor:
        if criterion == "log":
            return -((1.0 - p + EPS).log() * mask).sum(1).mean()
        if criterion == "tan":
            return (p.tan() * mask).sum(1).mean()
        if criterion == "abs":
            return (p * mask).sum(1).mean()
        if criterion == "exp":
            return ((-(1.0 - p)).exp() * mask).sum(1).mean()
        if criterion == "gce":
            return ((1.0 - (1.0 - p + EPS) ** q) / q * mask).sum(1).mean()
        return -p.diag().log().mean()  # infoNCE

    return h(i2t) + h(t2i)


class RCL(DualEncoderMethod):
    """RCL (TPAMI 2023): complementary contrastive loss, robust to mismatched pairs."""

    @dataclass
    class Options(DualEncoderMethod.Options):
        tau: float = 0.05
        criterion: Criterion = "log"
        q: float = 0.2
        ratio: float = 0.0
        mask_same_image: bool = False

        def __post_init__(self):
            super().__post_init__()
            if not self.tau > 0:
                raise ValueError(f"tau must be positive, got {self.tau}")
            if not 0 < self.q <= 1:
                raise ValueError(f"q must be in (0, 1], got {self.q}")

    def loss(self, image_emb: torch.Tensor, text_emb: torch.Tensor, batch: Batch) -> torch.Tensor:
        o = self.options
        mask = complementary_mask(len(image_emb), o.ratio, device=image_emb.device)
        if o.mask_same_image:
            mask = mask.masked_fill(same_image_mask(batch.image), 0.0)
        scores = (image_emb @ text_emb.T).float()  # exp(s / tau) reaches e^20: keep it in fp32
        return complementary_contrastive_loss(scores, mask, o.tau, o.criterion, o.q)
