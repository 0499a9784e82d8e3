"""Training precision: fp32, bf16 autocast, or fp16 autocast with a gradient scaler.

``auto`` keeps the engine's long-standing choice: bf16 autocast on CUDA, fp32 on the CPU
(where autocast is slower). ``fp16`` is what open_clip and RRSITR train with: autocast to
half precision and a `GradScaler` that scales the loss, unscales the gradients before clipping
and skips a step whose gradients overflowed. Evaluation runs in fp32 after fp16 training (as
RRSITR's does) and in bf16 after bf16 training.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from typing import Literal

import torch
from torch import nn

PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast contexts for training and evaluation, and the scaled backward/step."""

    def __init__(self, mode: str, device: str):
        if mode not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"unknown precision {mode!r}; valid: auto, fp32, bf16, fp16")
        self.device_type = "cuda" if device.startswith("cuda") else "cpu"
        if mode == "auto":
            mode = "bf16" if self.device_type == "cuda" else "fp32"
        self.mode = mode
        self.scaler = torch.amp.GradScaler(self.device_type) if mode == "fp16" else None

    def autocast(self):
        if self.mode == "fp32":
            return nullcontext()
        return torch.autocast(self.device_type, dtype=_DTYPES[self.mode])

    def eval_autocast(self):
        return self.autocast() if self.mode == "bf16" else nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(
        self,
        optimizer: torch.optim.Optimizer,
        parameters: Iterable[nn.Parameter] | None = None,
        clip: float = 0.0,
    ) -> None:
        """Unscale (fp16), clip the gradient norm to ``clip`` (0: no clipping), step."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        if clip > 0:
            params = (
                parameters
                if parameters is not None
                else [p for g in optimizer.param_groups for p in g["params"]]
            )
            nn.utils.clip_grad_norm_(params, clip)
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def update(self) -> None:
        """Once per training step, after every optimiser stepped (adapts the fp16 loss scale)."""
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> dict:
        return {
            "mode": self.mode,
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
        }
