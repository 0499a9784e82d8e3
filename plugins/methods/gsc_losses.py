"""GSC's loss terms and target update (MediaBrain-SJTU/GSC @ 2759ba0, ``GSC/model/RINCE.py``:
``info_nce_loss``, ``train_batch``, ``split_batch``).

Inputs are sigmoid scores: ``S`` images × texts (cross-modal), ``sigma_image`` images × images
and ``sigma_text`` texts × texts (intra-modal), and each pair's current target t (its weight).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rsbench.engine.gmm import clean_probability


def info_nce(scores: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: −log(e^{s_ii/T} / Σ_j e^{s_ij/T}) and that softmax probability (``preds``).

    The official code exponentiates without subtracting the row maximum; this is the same value
    wherever that is finite (the topology scores, sums over the batch at temperature 1, overflow
    float32 there from about 88)."""
    logits = scores / temperature
    loss = torch.logsumexp(logits, dim=1) - logits.diagonal()
    return loss, torch.exp(-loss)


def structure_terms(
    s: torch.Tensor,
    sigma_image: torch.Tensor,
    sigma_text: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 0.07,
) -> dict[str, torch.Tensor]:
    """``train_batch``'s per-pair terms.

    - ``loss_cl``: t_i · ½(CE_row(S/T)_i + CE_col(S/T)_i);
    - ``preds``: ½(softmax_row + softmax_col) at the positive;
    - ``loss_topo``: t_i · CE_row(M)_i at temperature 1 with M = (σI ⊙ t) (σC ⊙ t)ᵀ, the targets
      multiplying the *columns*, so M_ij = Σ_k t_k² σI_ik σC_jk;
    - ``topos``: cos((σI ⊙ t)_i, (σC ⊙ t)_i), the structure consistency of pair i (detached).
    """
    loss_row, pred_row = info_nce(s, temperature)
    loss_col, pred_col = info_nce(s.t(), temperature)
    image = sigma_image * targets  # (B × B) · (B,): column k scaled by t_k
    text = sigma_text * targets
    loss_topo, _ = info_nce(image @ text.t(), 1.0)
    return {
        "loss_cl": (loss_row + loss_col) * 0.5 * targets,
        "preds": ((pred_row + pred_col) * 0.5).detach(),
        "loss_topo": loss_topo * targets,
        "topos": F.cosine_similarity(image, text, dim=1).detach(),
    }


def update_targets(
    topos: np.ndarray,
    preds: np.ndarray,
    topo_targets: np.ndarray,
    preds_targets: np.ndarray,
    beta: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """``split_batch``: a GMM on the min-max normalised structure scores of every row (clean =
    the *higher*-mean component), then exponential moving averages of its posterior and of the
    predictions; the targets are their minimum."""
    prob = clean_probability(topos, seed=seed, clean="higher")
    topo_targets = beta * prob + (1 - beta) * topo_targets
    preds_targets = beta * preds + (1 - beta) * preds_targets
    return {
        "prob": prob,
        "topo_targets": topo_targets,
        "preds_targets": preds_targets,
        "targets": np.minimum(preds_targets, topo_targets),
    }
