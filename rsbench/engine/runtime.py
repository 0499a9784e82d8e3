"""Seeding and device selection."""

from __future__ import annotations

import random

import numpy as np
import torch

from rsbench.io.errors import RsbenchError
from rsbench.plugin.devices import device_name


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when present; asking for CUDA without it is a clear error."""
    device = device_name(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RsbenchError(
            f"device {device!r} requested but CUDA is not available here; use --device cpu or auto"
        )
    return device
