"""Embedding a dual encoder's images and captions for scoring, in batches, on any device."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from rsbench.components import Retriever
from rsbench.data import ImageItem
from rsbench.engine.vocab import PAD
from rsbench.images import load_images
from rsbench.metrics import EmbeddingScorer


def autocast(device: str):
    """bf16 autocast on CUDA; nothing on the CPU (where it would be slower)."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def trim_padding(tokens: torch.Tensor) -> torch.Tensor:
    """Drop the all-padding columns at the end of a batch of token ids (most of the text cost)."""
    used = int((tokens != PAD).any(dim=0).nonzero().max().item()) + 1 if tokens.numel() else 0
    return tokens[:, : max(used, 1)]


class EmbeddingRetriever(Retriever):
    """Wraps a trained dual encoder: embeds images and captions, scores by dot product."""

    def __init__(
        self,
        model: nn.Module,
        tokenize: Callable[[list[str]], torch.Tensor],
        image_size: int,
        device: str,
        batch_size: int = 256,
    ):
        self.model, self.tokenize = model, tokenize
        self.image_size, self.device, self.batch_size = image_size, device, batch_size

    @torch.no_grad()
    def embed_images(self, images: Sequence[ImageItem] | np.ndarray) -> np.ndarray:
        """Embeddings of image items, or of an ``N × H × W × 3`` uint8 array of pixels."""
        if not isinstance(images, np.ndarray):
            images = load_images([i.path for i in images], self.image_size)
        self.model.eval()
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = torch.from_numpy(np.array(images[start : start + self.batch_size]))
            with autocast(self.device):
                out.append(self.model.encode_image(chunk.to(self.device)).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.model.eval()
        tokens = self.tokenize(list(texts))
        out = []
        for start in range(0, len(tokens), self.batch_size):
            chunk = trim_padding(tokens[start : start + self.batch_size]).to(self.device)
            with autocast(self.device):
                out.append(self.model.encode_text(chunk).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)

    def scorer(self, images: Sequence[ImageItem], texts: Sequence[str]) -> EmbeddingScorer:
        return EmbeddingScorer(self.embed_images(images), self.embed_texts(texts))
