"""Optimisers, weight-decay parameter groups and learning-rate schedules, from a few named options.

As in open_clip and timm, a method names its recipe instead of writing a loop:

- `decay_groups`: parameters split into a decayed and an undecayed group by a rule
  (``all``: every parameter, torch's default; ``matrices``: only tensors of two or more
  dimensions, so biases, norms, temperatures and embeddings' 1-D parts are not decayed; a
  method may pass its own predicate, e.g. RRSITR's exact-name rule);
- `make_optimizer`: AdamW or Adam (Adam's ``weight_decay`` is the coupled L2 term, as in torch);
- `Schedule`: the factor applied to every group's base learning rate at a (fractional) step:
  ``cosine`` (linear warm-up, then cosine to zero, per step), ``constant`` (after an optional
  warm-up), ``step`` (× ``gamma`` at each milestone epoch, or every ``step_every`` epochs,
  never below ``min_factor``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

OptimizerName = Literal["adamw", "adam"]
ScheduleName = Literal["cosine", "constant", "step"]
DecayRule = Literal["all", "matrices"]


def no_decay_rule(rule: str) -> Callable[[str, nn.Parameter], bool]:
    """A predicate (name, parameter) → True when the parameter gets no weight decay."""
    if rule == "all":
        return lambda name, p: False
    if rule == "matrices":
        return lambda name, p: p.ndim < 2
    raise ValueError(f"unknown weight-decay rule {rule!r}; valid: all, matrices")


def decay_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    weight_decay: float,
    no_decay: Callable[[str, nn.Parameter], bool] | str = "matrices",
) -> list[dict]:
    """Two parameter groups: decayed (``weight_decay``) and undecayed (0); frozen ones left out."""
    rule = no_decay_rule(no_decay) if isinstance(no_decay, str) else no_decay
    decayed, plain = [], []
    for name, p in named_parameters:
        if not p.requires_grad:
            continue
        (plain if rule(name, p) else decayed).append(p)
    groups = []
    if decayed:
        groups.append({"params": decayed, "weight_decay": weight_decay})
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    return groups


def make_optimizer(
    name: str,
    groups: list[dict],
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=tuple(betas), eps=eps)
    raise ValueError(f"unknown optimizer {name!r}; valid: adamw, adam")


@dataclass
class Schedule:
    """The learning-rate factor at a step. ``steps_per_epoch`` counts loader steps (see engine)."""

    kind: str = "cosine"
    total_steps: int = 1
    warmup_steps: int = 0
    steps_per_epoch: int = 1
    milestones: list[int] = field(default_factory=list)  # epochs where ``step`` multiplies
    step_every: int = 0  # ``step``: multiply every this many epochs (0: use milestones)
    gamma: float = 1.0
    min_factor: float = 0.0

    def __post_init__(self):
        if self.kind not in ("cosine", "constant", "step"):
            raise ValueError(f"unknown schedule {self.kind!r}; valid: cosine, constant, step")

    def factor(self, step: float) -> float:
        if self.warmup_steps and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            progress = min(1.0, (step - self.warmup_steps) / span)
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.kind == "constant":
            return 1.0
        epoch = int(step // max(1, self.steps_per_epoch))
        if self.step_every:
            count = epoch // self.step_every
        else:
            count = sum(1 for m in self.milestones if epoch >= m)
        return max(self.gamma**count, self.min_factor)


def set_learning_rate(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Every group's learning rate to its base rate × ``factor``."""
    for group in optimizer.param_groups:
        group.setdefault("base_lr", group["lr"])
        group["lr"] = group["base_lr"] * factor
