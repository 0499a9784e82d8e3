"""MSA's three losses, as its official code computes them (yr666666/MSA, ``retrieval.py``).

``L = L_tri + 15 · L_MSCMA + 10 · L_CSMMC`` (weights are options of the method):

- `triplet_loss` (L_tri): a hinge with the hardest negative in both directions, margin 0.5,
  **summed** over the batch, on the cosine of the retrieval embeddings. The negatives are
  mined without gradient as the code does it with ``scipy.spatial.distance.cdist(…,
  'cosine')``: cosine distances in float64 (cosine clipped to [−1, 1], as scipy does), the
  diagonal **multiplied by 1e6** rather than excluded, then argmin (first index on ties).
  A positive pair at distance exactly 0 therefore stays 0 and is picked as its own hardest
  negative (``diagonal="scale"``, the default); ``diagonal="exclude"`` takes the diagonal out.
  Mining runs on the device (the code copies to the CPU each step).
- `mscma_loss` (L_MSCMA): per scale, cross-entropy over each **row** (an image classifies the
  B texts; no text→image term) with MSCMAT's sigmoid scores as the logits and no temperature,
  summed over the scales. Since the logits lie in (0, 1) a row's loss can never go below
  ``log(1 + (B − 1)/e)`` (`mscma_floor`).
- `csmmc_loss` (L_CSMMC): for scales 1–3, a KL divergence between column softmaxes (each text's
  distribution over the images) at temperature τ = 2 against the detached scale-4 teacher, as
  the code writes it: ``F.kl_div(teacher.log(), student, reduction='mean')``, i.e. the
  **student is the target** (KL(student ‖ teacher), gradient through the target) and the sum
  is divided by B², not B. ``target="teacher"`` is the usual distillation reading,
  KL(teacher ‖ student), with the same reduction.

``exclude`` masks (rows of a batch sharing an image: ``mask_same_image``) take such pairs out
of the negatives of L_tri and L_MSCMA; the official code does not (they are negatives there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: what the official mining multiplies the positive pair's cosine distance by
DIAGONAL_SCALE = 1e6


def mining_distances(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    diagonal: str = "scale",
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """The images × texts distances hard negatives are mined on (float64, no gradient)."""
    if diagonal not in ("scale", "exclude"):
        raise ValueError(f"unknown diagonal rule {diagonal!r}; valid: scale, exclude")
    u, v = image_emb.detach().double(), text_emb.detach().double()
    cosine = (u @ v.T) / (u.norm(dim=1)[:, None] * v.norm(dim=1)[None, :])
    distance = 1.0 - cosine.clamp(-1.0, 1.0)
    eye = torch.eye(len(distance), dtype=torch.bool, device=distance.device)
    if diagonal == "scale":
        distance = torch.where(eye, distance * DIAGONAL_SCALE, distance)
    else:
        distance = distance.masked_fill(eye, math.inf)
    if exclude is not None:
        distance = distance.masked_fill(exclude, math.inf)
    return distance


def triplet_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    margin: float = 0.5,
    diagonal: str = "scale",
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_tri on L2-normalised embeddings (row i of each is a positive pair); summed."""
    distance = mining_distances(image_emb, text_emb, diagonal, exclude)
    hardest_text = distance.argmin(dim=1)  # n(i): the hardest text for image i
    hardest_image = distance.argmin(dim=0)  # m(j): the hardest image for text j
    sim = image_emb @ text_emb.T
    rows = torch.arange(len(sim), device=sim.device)
    positive = sim.diagonal()
    cost_image = (margin - positive + sim[rows, hardest_text]).clamp(min=0)
    cost_text = (margin - positive + sim[hardest_image, rows]).clamp(min=0)
    if exclude is not None:  # a row whose other pairs are all excluded has no negative
        blocked = exclude | torch.eye(len(sim), dtype=torch.bool, device=sim.device)
        cost_image = cost_image * ~blocked.all(dim=1)
        cost_text = cost_text * ~blocked.all(dim=0)
    return cost_image.sum() + cost_text.sum()


def mscma_loss(maps: Sequence[torch.Tensor], exclude: torch.Tensor | None = None) -> torch.Tensor:
    """L_MSCMA: Σ_k CE over rows of M_k (images × texts scores in (0, 1)), mean over rows."""
    target = torch.arange(len(maps[0]), device=maps[0].device)
    total = maps[0].new_zeros(())
    for scores in maps:
        scores = scores.float()
        if exclude is not None:
            scores = scores.masked_fill(exclude, -math.inf)
        total = total + F.cross_entropy(scores, target)
    return total


def mscma_floor(batch_size: int) -> float:
    """The least value of one scale's L_MSCMA: ``log(1 + (B − 1)/e)`` (scores 1 on, 0 off the diagonal)."""
    return math.log1p((batch_size - 1) / math.e)


def csmmc_loss(
    maps: Sequence[torch.Tensor], temperature: float = 2.0, target: str = "student"
) -> torch.Tensor:
    """L_CSMMC: each of the first scales against the detached last one (see module docstring)."""
    if target not in ("student", "teacher"):
        raise ValueError(f"unknown CSMMC target {target!r}; valid: student, teacher")
    *students, teacher = [m.float() for m in maps]
    # each text's distribution over the images: softmax down a column, then as a row
    log_q = F.log_softmax(teacher.detach() / temperature, dim=0).T
    total = teacher.new_zeros(())
    for student in students:
        log_p = F.log_softmax(student / temperature, dim=0).T
        if target == "student":  # the code: kl_div(log Q, P) = mean of P (log P − log Q)
            total = total + (log_p.exp() * (log_p - log_q)).mean()
        else:  # kl_div(log P, Q) = mean of Q (log Q − log P)
            total = total + (log_q.exp() * (log_q - log_p)).mean()
    return total
