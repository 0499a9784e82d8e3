"""NPC's loss terms (ZhangXu0963/NPC @ 823d781: ``clip/criterions.py`` and the step inline in
``main_NPC.train``) on logits = exp(logit_scale) · cosine, images × texts, positives on the
diagonal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ce(logits: torch.Tensor) -> torch.Tensor:
    """Per row: −log softmax of the row at its diagonal entry (``criterions.ce``)."""
    return -torch.diag(F.log_softmax(logits, dim=-1))


def pair_losses(logits: torch.Tensor) -> torch.Tensor:
    """``TotalLoss`` mode ``mbank``: each pair's (CE image→text + CE text→image) / 2."""
    return (ce(logits) + ce(logits.t())) / 2


def batch_losses(logits: torch.Tensor, reduce: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``TotalLoss`` mode ``batch``: the two directions' CE, averaged over the batch (as
    officially) or per pair (``reduce=False``)."""
    i2t, t2i = ce(logits), ce(logits.t())
    return (i2t.mean(), t2i.mean()) if reduce else (i2t, t2i)


def impact_weights(
    before_image: torch.Tensor,
    after_image: torch.Tensor,
    before_text: torch.Tensor,
    after_text: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, wei): w = (L^I_ori / L^I_new + L^T_ori / L^T_new) / 2 per pair (its memory-bank
    pairs' loss before over after the siamese step: above 1 when the step on this batch helped
    them), wei = tanh(w) below 1, else 1 (a jump from 0.7616 to 1 at w = 1; 0/0 gives NaN
    and then 1, as ``torch.where`` does officially)."""
    w = (before_image / after_image + before_text / after_text) / 2
    wei = torch.where(w < 1, torch.tanh(w), torch.ones_like(w))
    return w, wei


def npc_loss(
    bank_before: torch.Tensor,
    wei: torch.Tensor,
    ce_i2t: torch.Tensor,
    ce_t2i: torch.Tensor,
) -> torch.Tensor:
    """mean(L^I_ori + L^T_ori) + mean(wei · (CE_i2t + CE_t2i) / 2).

    With the official batch means for the CE terms the weighted term is mean(wei) times one
    scalar (quirk 1); with per-pair CE it weights each pair. The memory-bank term is computed
    without gradient: it shifts the value only (quirk 2)."""
    return bank_before.mean() + (wei * (ce_i2t + ce_t2i) / 2).mean()
