"""`DualEncoderMethod`: the shared training engine of every dual-encoder method.

A method subclass supplies its loss (and, for other backbones, its model and tokeniser);
the engine does the rest the same way for all of them:

- seeding (training seed), device selection, mixed precision (bf16 autocast) on CUDA;
- epochs over the noisy training rows in a seeded random order, AdamW, linear warm-up then
  cosine decay, gradient clipping, a NaN/inf loss stops the cell with a clear error;
- after each epoch, R@K/mR on the validation set (clean by default); the best epoch's
  weights are restored at the end (checkpoint selection never looks at the test split);
- progress through ``task.progress`` (a tqdm factory) and a per-epoch history.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rsbench.components import FitResult, Method, Retriever, TrainTask
from rsbench.data import EvalSet, ImageItem
from rsbench.engine.encoders import DualEncoder, SmallImageEncoder, SmallTextEncoder
from rsbench.engine.runtime import resolve_device, seed_everything
from rsbench.engine.vocab import PAD, Vocabulary
from rsbench.errors import CellError
from rsbench.images import load_images
from rsbench.metrics import EmbeddingScorer, retrieval_metrics


@dataclass
class Batch:
    """One training step's rows, handed to `DualEncoderMethod.loss`."""

    rows: torch.Tensor  # indices of the training rows in this batch
    image: torch.Tensor  # the image index each row is paired with (noisy)
    epoch: int  # 0-based
    step: int  # global step, 0-based
    total_steps: int


class EmbeddingRetriever(Retriever):
    """Wraps a trained dual encoder: embeds images and captions, scores by dot product."""

    def __init__(
        self, model: nn.Module, tokenize, image_size: int, device: str, batch_size: int = 256
    ):
        self.model, self.tokenize = model, tokenize
        self.image_size, self.device, self.batch_size = image_size, device, batch_size

    @torch.no_grad()
    def embed_images(self, images: Sequence[ImageItem] | np.ndarray) -> np.ndarray:
        pixels = (
            images
            if isinstance(images, np.ndarray)
            else load_images([i.path for i in images], self.image_size)
        )
        self.model.eval()
        out = []
        for start in range(0, len(pixels), self.batch_size):
            chunk = torch.from_numpy(pixels[start : start + self.batch_size]).to(self.device)
            with _autocast(self.device):
                out.append(self.model.encode_image(chunk).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.model.eval()
        tokens = self.tokenize(list(texts))
        out = []
        for start in range(0, len(tokens), self.batch_size):
            chunk = trim_padding(tokens[start : start + self.batch_size]).to(self.device)
            with _autocast(self.device):
                out.append(self.model.encode_text(chunk).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)

    def scorer(self, images: Sequence[ImageItem], texts: Sequence[str]) -> EmbeddingScorer:
        return EmbeddingScorer(self.embed_images(images), self.embed_texts(texts))


def trim_padding(tokens: torch.Tensor) -> torch.Tensor:
    """Drop the all-padding columns at the end of a batch of token ids (saves most of the text cost)."""
    used = int((tokens != PAD).any(dim=0).nonzero().max().item()) + 1 if tokens.numel() else 0
    return tokens[:, : max(used, 1)]


def _autocast(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class DualEncoderMethod(Method):
    """Base of methods that train an image encoder and a text encoder (see module docstring)."""

    @dataclass
    class Options:
        epochs: int = 6
        batch_size: int = 128
        lr: float = 2e-3
        weight_decay: float = 1e-4
        warmup_fraction: float = 0.05
        grad_clip: float = 2.0
        image_size: int = 48
        embed_dim: int = 256
        width: int = 24
        text_encoder: Literal["cnn", "gru"] = "cnn"
        max_words: int = 40
        profile: Literal["small"] = "small"

        def __post_init__(self):
            if self.epochs < 1 or self.batch_size < 2:
                raise ValueError("epochs must be >= 1 and batch_size >= 2")
            if self.lr <= 0:
                raise ValueError("lr must be positive")
            if self.image_size < 16 or self.image_size % 16:
                raise ValueError(
                    f"image_size must be a positive multiple of 16, got {self.image_size}"
                )

    # ---- what subclasses provide -------------------------------------------------------
    def loss(self, image_emb: torch.Tensor, text_emb: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The training loss of one batch (a scalar)."""
        raise NotImplementedError

    def extra_parameters(self) -> list[nn.Parameter]:
        """Trainable loss parameters (e.g. a learnable temperature), created in `build`."""
        return []

    def build(self, task: TrainTask) -> nn.Module:
        """The model; by default the small encoders with a vocabulary from the training captions."""
        o = self.options
        self.vocab = Vocabulary(task.pairs.texts)
        return DualEncoder(
            SmallImageEncoder(o.embed_dim, o.width, o.image_size),
            SmallTextEncoder(len(self.vocab), o.embed_dim, kind=o.text_encoder),
        )

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.vocab.encode(texts, self.options.max_words)

    # ---- the engine --------------------------------------------------------------------
    def fit(self, task: TrainTask) -> FitResult:
        o = self.options
        device = resolve_device(task.device)
        generator = seed_everything(task.seed)
        model = self.build(task).to(device)
        extra = self.extra_parameters()
        for p in extra:
            p.data = p.data.to(device)
        pairs = task.pairs
        pixels = torch.from_numpy(load_images(pairs.image_paths, o.image_size)).to(device)
        tokens = self.tokenize(pairs.texts).to(device)
        row_image = torch.as_tensor(pairs.image, dtype=torch.long, device=device)
        n_rows = len(pairs)
        if n_rows < 2:
            raise CellError(f"{n_rows} training pairs: too few to train on")
        batch_size = min(o.batch_size, n_rows)
        steps_per_epoch = (
            n_rows // batch_size
        )  # drop the ragged last batch: contrastive losses need negatives
        total_steps = steps_per_epoch * o.epochs
        optimizer = torch.optim.AdamW(
            [{"params": model.parameters()}, {"params": extra, "weight_decay": 0.0}],
            lr=o.lr,
            weight_decay=o.weight_decay,
        )
        schedule = cosine_with_warmup(optimizer, total_steps, int(o.warmup_fraction * total_steps))
        retriever = EmbeddingRetriever(model, self.tokenize, o.image_size, device)
        val_pixels = load_images([i.path for i in task.val.images], o.image_size)

        bar = task.progress(total=total_steps, desc="train", unit="step") if task.progress else None
        history: list[dict[str, Any]] = []
        best_score, best_epoch, best_state = -math.inf, None, None
        step = 0
        try:
            for epoch in range(o.epochs):
                started = time.perf_counter()
                model.train()
                order = torch.randperm(n_rows, generator=generator).to(device)
                losses = []
                for i in range(steps_per_epoch):
                    rows = order[i * batch_size : (i + 1) * batch_size]
                    batch = Batch(rows, row_image[rows], epoch, step, total_steps)
                    with _autocast(device):
                        image_emb = model.encode_image(pixels[row_image[rows]])
                        text_emb = model.encode_text(trim_padding(tokens[rows]))
                        loss = self.loss(image_emb.float(), text_emb.float(), batch)
                    if not torch.isfinite(loss):
                        raise CellError(
                            f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}"
                        )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if o.grad_clip > 0:
                        nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
                    optimizer.step()
                    schedule.step()
                    losses.append(loss.item())
                    step += 1
                    if bar is not None:
                        bar.update(1)
                val = self.validate(retriever, task.val, val_pixels)
                record = {
                    "epoch": epoch + 1,
                    "train_loss": float(np.mean(losses)) if losses else float("nan"),
                    "val_mR": val["mR"],
                    "seconds": round(time.perf_counter() - started, 3),
                }
                history.append(record)
                if bar is not None:
                    bar.set_postfix(
                        epoch=epoch + 1,
                        loss=f"{record['train_loss']:.3f}",
                        val_mR=f"{val['mR']:.1f}",
                    )
                if val["mR"] > best_score:
                    best_score, best_epoch = val["mR"], epoch + 1
                    best_state = copy.deepcopy(model.state_dict())
        finally:
            if bar is not None:
                bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return FitResult(retriever=retriever, best_epoch=best_epoch, history=history)

    def validate(
        self, retriever: EmbeddingRetriever, val: EvalSet, pixels: np.ndarray
    ) -> dict[str, float]:
        scorer = EmbeddingScorer(retriever.embed_images(pixels), retriever.embed_texts(val.texts))
        return retrieval_metrics(scorer, val.caption_image)
