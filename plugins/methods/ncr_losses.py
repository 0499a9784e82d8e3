"""NCR's loss terms on an images × texts score matrix (positives on the diagonal).

Read from ``NCR/model.py`` (``ContrastiveLoss``) and ``NCR/co_train.py`` of
XLearning-SCU/2021-NeurIPS-NCR at 60256ba. Each function is one mode of the official
``ContrastiveLoss``; the quirks it keeps are named where they happen:

- ``cost_s[i, j] = margin + s_ij − s_ii`` (image anchor i, negative text j) and
  ``cost_im[i, j] = margin + s_ij − s_jj`` (text anchor j, negative image i), clamped at 0, with
  the diagonal (and, with ``exclude``, other rows of the same image) set to 0;
- a margin may be a number, a ``B × 1`` column (row i's label for every entry of row i, so the
  text-anchor cost of column j reads the label of the *negative image's* row) or a ``B × B``
  matrix (NCR's labeled targets: entry (i, j) = w_i + (1 − w_i)·p_j);
- means run over all B columns, the zeroed diagonal included (÷ B, not B − 1).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

SoftMargin = Literal["linear", "exponential", "sin"]


def soft_margin(labels: torch.Tensor, margin: float, kind: SoftMargin) -> torch.Tensor:
    """NCR's adaptive margin α·s(y): ``linear`` y, ``exponential`` (10^y − 1)/9 (the default),
    ``sin`` sin(πy − π/2)/2 + 1/2."""
    if kind == "linear":
        return margin * labels
    if kind == "exponential":
        return margin * (torch.pow(10, labels) - 1) / 9
    if kind == "sin":
        return margin * (torch.sin(math.pi * labels - math.pi / 2) / 2 + 0.5)
    raise ValueError(f"unknown soft margin {kind!r}; valid: linear, exponential, sin")


def costs(
    scores: torch.Tensor,
    margin: float | torch.Tensor,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cost_s, cost_im)``: the hinge of every negative, per anchor, zero on the positives."""
    positive = scores.diag().view(-1, 1)
    cost_s = (margin + scores - positive).clamp(min=0)
    cost_im = (margin + scores - positive.t()).clamp(min=0)
    zero = torch.eye(len(scores), dtype=torch.bool, device=scores.device)
    if exclude is not None:
        zero = zero | exclude
    return cost_s.masked_fill(zero, 0), cost_im.masked_fill(zero, 0)


def warmup_loss(
    scores: torch.Tensor, margin: float = 0.2, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Mode ``warmup``: the sum over anchors of the *mean* hinge at a fixed margin."""
    cost_s, cost_im = costs(scores, margin, exclude)
    return cost_s.mean(1).sum() + cost_im.mean(0).sum()


def train_loss(
    scores: torch.Tensor,
    margin: float | torch.Tensor,
    hard_negative: bool = True,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mode ``train``: the sum over anchors of the hardest (or mean) hinge at ``margin``."""
    cost_s, cost_im = costs(scores, margin, exclude)
    if hard_negative:
        return cost_s.max(1).values.sum() + cost_im.max(0).values.sum()
    return cost_s.mean(1).sum() + cost_im.mean(0).sum()


def eval_loss(
    scores: torch.Tensor, margin: float = 0.2, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Mode ``eval_loss``: each pair's mean hinge, both directions summed (the GMM's input)."""
    cost_s, cost_im = costs(scores, margin, exclude)
    return cost_s.mean(1) + cost_im.mean(0)


def predict(
    scores: torch.Tensor, margin: float = 0.2, exclude: torch.Tensor | None = None
) -> tuple[torch.Tensor, bool]:
    """Mode ``predict`` then ``SGRAF.predict``'s clamp: each pair's predicted label in [0, 1].

    p = margin − (mean hinge of both directions)/2, clamped to [0, margin], divided by the mean
    of its top ⌊B/10⌋ + 1 values, clamped to [0, 1]. When every p is 0 that mean is 0 and the
    official code returns NaN (which then makes the loss NaN); here the labels stay 0 and the
    second value says it happened.
    """
    cost_s, cost_im = costs(scores, margin, exclude)
    p = (margin - (cost_s.mean(1) + cost_im.mean(0)) / 2).clamp(min=0, max=margin)
    top = torch.sort(p).values[-(len(scores) // 10 + 1) :]
    scale = top.mean()
    if not scale > 0:
        return torch.zeros_like(p), True
    return (p / scale).clamp(0, 1), False


def labeled_targets(
    probability: torch.Tensor, predicted: torch.Tensor, per_anchor: bool = False
) -> torch.Tensor:
    """NCR's refurbished labels of a labeled batch: w·1 + (1 − w)·p.

    Officially ``B × 1`` probabilities times ``B × 1`` ones plus ``B × 1`` times ``B`` predictions
    broadcast to ``B × B``: entry (i, j) = w_i + (1 − w_i)·p_j (quirk 1). ``per_anchor`` gives the
    paper's reading, one label per pair: w_i + (1 − w_i)·p_i.
    """
    w = probability.view(-1, 1)
    if per_anchor:
        return w + (1 - w) * predicted.view(-1, 1)
    return w + (1 - w) * predicted.view(1, -1)


def train_loss_per_anchor(
    scores: torch.Tensor,
    margin_column: torch.Tensor,
    hard_negative: bool = True,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mode ``train`` with each anchor's own margin (the paper's reading): image anchor i uses
    ``margin_column[i]``, text anchor j uses ``margin_column[j]``."""
    m = margin_column.view(-1, 1)
    positive = scores.diag().view(-1, 1)
    cost_s = (m + scores - positive).clamp(min=0)
    cost_im = (m.t() + scores - positive.t()).clamp(min=0)
    zero = torch.eye(len(scores), dtype=torch.bool, device=scores.device)
    if exclude is not None:
        zero = zero | exclude
    cost_s, cost_im = cost_s.masked_fill(zero, 0), cost_im.masked_fill(zero, 0)
    if hard_negative:
        return cost_s.max(1).values.sum() + cost_im.max(0).values.sum()
    return cost_s.mean(1).sum() + cost_im.mean(0).sum()
