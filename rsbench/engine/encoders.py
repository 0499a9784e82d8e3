"""Small encoders trained from scratch (``backbone: scratch``): fast on two CPU cores.

The image encoder keeps the spatial layout until its last layer (captions of remote-sensing
scenes talk about positions: "on the left", "in the corner"), so it ends in a flatten and a
linear map rather than global pooling. Both encoders return L2-normalised embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rsbench.engine.text import TextBatch
from rsbench.engine.vocab import PAD


def _conv_block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class SmallImageEncoder(nn.Module):
    """Patchify stem (4×4), three 3×3 conv blocks, flatten, linear."""

    def __init__(self, embed_dim: int = 256, width: int = 32, image_size: int = 64):
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 4, 4, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            *_conv_block(width, 2 * width, 2),
            *_conv_block(2 * width, 4 * width, 2),
            *_conv_block(4 * width, 4 * width, 1),
        )
        side = image_size // 16
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.1), nn.Linear(4 * width * side * side, embed_dim)
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``pixels``: ``B × 3 × H × W``, normalised by the image pipeline."""
        return F.normalize(self.head(self.features(pixels)).float(), dim=-1)


class SmallTextEncoder(nn.Module):
    """Word embeddings, then a 1-D convolution (``cnn``) or a bidirectional GRU (``gru``), pooled."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 256,
        word_dim: int = 128,
        hidden: int = 256,
        kind: str = "cnn",
    ):
        super().__init__()
        self.kind = kind
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=PAD)
        if kind == "cnn":
            self.conv = nn.Conv1d(word_dim, hidden, 3, padding=1)
        elif kind == "gru":
            self.gru = nn.GRU(word_dim, hidden // 2, batch_first=True, bidirectional=True)
        else:
            raise ValueError(f"unknown text encoder {kind!r}; valid: cnn, gru")
        self.head = nn.Linear(hidden, embed_dim)

    def forward(self, text: TextBatch) -> torch.Tensor:
        tokens = text.ids
        mask = text.mask.unsqueeze(-1)  # B × L × 1
        x = self.embed(tokens)
        if self.kind == "cnn":
            h = F.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        else:
            lengths = mask.squeeze(-1).sum(1).clamp(min=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=True, enforce_sorted=False
            )
            h, _ = nn.utils.rnn.pad_packed_sequence(
                self.gru(packed)[0], batch_first=True, total_length=tokens.shape[1]
            )
        h = h.masked_fill(~mask, float("-inf"))
        pooled = h.max(dim=1).values
        return F.normalize(self.head(pooled).float(), dim=-1)
