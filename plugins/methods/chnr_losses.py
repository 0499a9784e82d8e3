"""CHNR's loss terms and pair operations, as functions of tensors (`chnr` trains with them).

Each follows the official code (comrados/noisy_captions @ 4ca24bf; ``../shared/specs/
rrsitr-chnr.md`` §B.3-B.4) and says where rsbench computes the same value another way:

- `weighted_nt_xent`: ``NTXentLossWeighted.forward_orig``, SimCLR's NT-Xent over the 2B
  normalised codes of a batch, each anchor's loss weighted by its pair's weight, **summed**;
- `quantization_loss`: Σ over the views of ‖B_i − h_i‖² (``calc_quantization_loss``);
- `detector_bce`, `gradient_penalty`: the noise detector's real-vs-fake loss and its penalty
  (``train_discriminator_step``);
- `different_class_partners`: the "feature mixer" (``generate_fake_pairs``);
- `pair_weights`: the weight variants (``generate_pair_weights``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

#: the official loss's ``eps``: a floor for the sum of negatives, and a term of the denominator
NT_XENT_EPS = 1e-6


def nt_xent_terms(
    a: torch.Tensor, b: torch.Tensor, temperature: float = 1.0, eps: float = NT_XENT_EPS
) -> torch.Tensor:
    """The loss of each of the 2B anchors of NT-Xent (the codes of ``a`` then those of ``b``).

    With ``z`` the 2B L2-normalised codes and ``a⁺`` an anchor's partner in the other half:
    ℓ_a = −log( exp(z_a·z_a⁺ / τ) / (max(Σ_{b≠a} exp(z_a·z_b / τ), eps) + eps) ).

    The official code sums every column and subtracts e for the anchor's own term, which is
    exp(1/τ) only at τ = 1 (its only setting); here the own term is left out of the sum, which
    is the same at τ = 1 up to rounding and right at any τ. The sums are taken in log space
    (equal wherever the direct form is finite, and finite at small τ where it overflows).
    """
    z = F.normalize(torch.cat([a, b]).float(), dim=-1)
    logits = z @ z.T / temperature
    n = len(a)
    own = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    log_sum = torch.logsumexp(logits.masked_fill(own, float("-inf")), dim=1)
    log_eps = math.log(eps)
    log_denominator = torch.logaddexp(log_sum.clamp(min=log_eps), torch.full_like(log_sum, log_eps))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    positive = logits[torch.arange(2 * n, device=z.device), partner]
    return log_denominator - positive


def weighted_nt_xent(
    a: torch.Tensor,
    b: torch.Tensor,
    weights: torch.Tensor | float = 1.0,
    temperature: float = 1.0,
    eps: float = NT_XENT_EPS,
) -> torch.Tensor:
    """Σ over the 2B anchors of w(pair) · ℓ_anchor (a pair's weight counts for both anchors).

    A sum, not a mean, as the official code: the loss grows with the batch size.
    """
    terms = nt_xent_terms(a, b, temperature, eps)
    if isinstance(weights, torch.Tensor):
        weights = torch.cat([weights, weights]).to(terms.dtype)
    return (terms * weights).sum()


def quantization_loss(codes: torch.Tensor, *views: torch.Tensor) -> torch.Tensor:
    """Σ_views Σ_i ‖B_i − h_i‖²: the continuous codes of each view pulled to the binary ones."""
    return sum(((codes - h.float()) ** 2).sum() for h in views)


def detector_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """−mean log σ(D(real)) − mean log(1 − σ(D(fake))), in the stable softplus form.

    The official code takes ``log`` of ``sigmoid`` (and of ``1 − sigmoid``), which is −inf in
    float32 once a fake logit reaches about 17 (σ rounds to 1) or a real one falls below about
    −88; ``softplus`` gives the same value wherever that is finite, and a finite one beyond.
    """
    return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()


def gradient_penalty(
    detector: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    interpolation: str = "element",
    weight: float = 10.0,
) -> torch.Tensor:
    """weight · mean_b (‖∇_x D(x̂_b)‖₂ − 1)², x̂ = u ⊙ real + (1 − u) ⊙ fake (WGAN-GP's penalty).

    ``interpolation``: ``element`` draws u per element of x̂ (the official code's
    ``torch.rand(batch_size, noise_dim)``); ``sample`` draws one u per pair, as WGAN-GP does.
    The gradient is taken with ``create_graph`` so that the penalty trains the detector.
    """
    shape = real.shape if interpolation == "element" else (real.shape[0], 1)
    u = torch.rand(shape, device=real.device, dtype=real.dtype)
    mixed = (u * real.detach() + (1 - u) * fake.detach()).requires_grad_(True)
    out = detector(mixed)
    (grad,) = torch.autograd.grad(out, mixed, torch.ones_like(out), create_graph=True)
    return weight * ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def different_class_partners(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For each row, a uniformly drawn other row of a different class (CHNR's feature mixer).

    Labels are class ids, -1 for a row without a class, which counts as a class of its own. The
    official code draws by rejection and never ends when a batch holds one class only; a row
    with no other-class row in its batch takes any other row instead.
    """
    labels = labels.cpu()
    n = len(labels)
    unknown = labels < 0
    allowed = (labels[:, None] != labels[None, :]) | unknown[:, None] | unknown[None, :]
    allowed.fill_diagonal_(False)
    stuck = ~allowed.any(dim=1)
    if stuck.any():
        allowed[stuck] = ~torch.eye(n, dtype=torch.bool)[stuck]
    draws = torch.rand(n, n, generator=generator)
    return draws.masked_fill(~allowed, -1.0).argmax(dim=1)


def pair_weights(probability: torch.Tensor, variant: str, threshold: float = 0.5) -> torch.Tensor:
    """A pair's weight from the detector's clean probability σ(D(pair)).

    ``normal``: the probability; ``exp``: |p³|; ``dis``: 1 where p exceeds ``threshold`` (midway
    between the mean σ(D) of real and of fake pairs in the last meta epoch), else 0; ``ones``: 1.
    """
    if variant == "normal":
        return probability
    if variant == "exp":
        return probability.pow(3).abs()
    if variant == "dis":
        return (probability > threshold).to(probability.dtype)
    if variant == "ones":
        return torch.ones_like(probability)
    raise ValueError(f"unknown pair-weight variant {variant!r}; valid: normal, exp, dis, ones")
