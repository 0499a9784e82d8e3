"""`Features`: what a model's encoders return, for training losses and for scoring.

One small dataclass serves every method: a pooled embedding (what a dual encoder compares),
plus, where a method needs them, token features with their mask (RRSITR's 49 patches and 77
text positions, MSA's BERT token states), per-scale features (MSA's ResNet stages, AMFMN's
multi-scale maps) and anything else under ``extra``. Every tensor has the items on its first
axis, so a batch of features can be indexed, moved and concatenated as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch


@dataclass
class Features:
    """Batched features of images or texts (items on the first axis of every tensor)."""

    emb: torch.Tensor  # N × D: the pooled (global) embedding
    tokens: torch.Tensor | None = None  # N × L × D: token / patch features
    mask: torch.Tensor | None = None  # N × L: True where a token is real
    scales: tuple[torch.Tensor, ...] = ()  # per-scale features, each N × ...
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.emb)

    def _map(self, fn) -> Features:
        return Features(
            emb=fn(self.emb),
            tokens=None if self.tokens is None else fn(self.tokens),
            mask=None if self.mask is None else fn(self.mask),
            scales=tuple(fn(s) for s in self.scales),
            extra={k: fn(v) for k, v in self.extra.items()},
        )

    def __getitem__(self, rows: Any) -> Features:
        return self._map(lambda t: t[rows])

    def to(self, device: Any = None, dtype: torch.dtype | None = None) -> Features:
        """Moved (and, for floating-point tensors, cast) as a whole; masks keep their dtype."""

        def move(t: torch.Tensor) -> torch.Tensor:
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return self._map(move)

    def float(self) -> Features:
        return self.to(dtype=torch.float32)

    def detach(self) -> Features:
        return self._map(lambda t: t.detach())

    @staticmethod
    def cat(parts: list[Features]) -> Features:
        """Concatenate batches along the item axis (all parts must carry the same fields)."""
        if not parts:
            raise ValueError("no features to concatenate")
        first = parts[0]
        for name in (f.name for f in fields(Features)):
            present = [getattr(p, name) is not None for p in parts]
            if name in ("tokens", "mask") and any(present) and not all(present):
                raise ValueError(f"features disagree on {name!r}")
        return Features(
            emb=torch.cat([p.emb for p in parts]),
            tokens=None if first.tokens is None else torch.cat([p.tokens for p in parts]),
            mask=None if first.mask is None else torch.cat([p.mask for p in parts]),
            scales=tuple(torch.cat([p.scales[k] for p in parts]) for k in range(len(first.scales))),
            extra={k: torch.cat([p.extra[k] for p in parts]) for k in first.extra},
        )
