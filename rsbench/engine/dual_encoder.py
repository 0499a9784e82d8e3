"""`DualEncoderMethod`: the shared training engine of every dual-encoder method.

A method subclass supplies its loss (and, for other backbones, its model and tokeniser);
the engine does the rest the same way for all of them:

- seeding (training seed), device selection, mixed precision (bf16 autocast) on CUDA;
- epochs over the noisy training rows in a seeded random order, AdamW, linear warm-up then
  cosine decay, gradient clipping; a NaN/inf loss stops the cell with a clear error;
- optional augmentation of the cached pixels on the device (``augment: resized_crop``);
- after each epoch, R@K/mR on the validation set (clean by default); the best epoch's weights
  are restored at the end (checkpoint selection never looks at the test split);
- progress through ``task.progress`` and a per-epoch history.

Hooks for robust methods: `select_rows` picks the rows an epoch trains on (a noise filter, or
the ``oracle: clean`` reference that trains on ground-truth clean rows only), and
`report_clean_scores` hands per-row clean estimates to the runner, which scores them against
the ground truth the method never sees.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rsbench.components import FitResult, Method, TrainTask
from rsbench.data import EvalSet
from rsbench.engine.augment import random_resized_crop
from rsbench.engine.encoders import DualEncoder, SmallImageEncoder, SmallTextEncoder
from rsbench.engine.retriever import EmbeddingRetriever, autocast, trim_padding
from rsbench.engine.runtime import resolve_device, seed_everything
from rsbench.engine.vocab import Vocabulary
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


@dataclass
class EngineState:
    """What the hooks of a method can use: the model and the training data on the device."""

    task: TrainTask
    model: nn.Module
    pixels: torch.Tensor  # images × H × W × 3, uint8
    tokens: torch.Tensor  # rows × words
    row_image: torch.Tensor  # rows: image index
    device: str
    generator: torch.Generator
    epoch: int = 0

    @torch.no_grad()
    def embed_rows(self, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """Image and text embeddings of every training row (eval mode), on the device."""
        self.model.eval()
        images, texts = [], []
        for start in range(0, len(self.tokens), batch_size):
            rows = slice(start, start + batch_size)
            with autocast(self.device):
                images.append(self.model.encode_image(self.pixels[self.row_image[rows]]).float())
                texts.append(self.model.encode_text(trim_padding(self.tokens[rows])).float())
        return torch.cat(images), torch.cat(texts)


def lr_factor(step: float, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return (step + 1) / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


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
        augment: Literal["none", "resized_crop"] = "none"
        crop_min_scale: float = 0.8
        oracle: Literal["none", "clean"] = "none"
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
            if not 0 < self.crop_min_scale <= 1:
                raise ValueError("crop_min_scale must be in (0, 1]")

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

    def select_rows(self, state: EngineState) -> torch.Tensor | None:
        """The training rows of this epoch (None: all). ``oracle: clean`` keeps the clean ones."""
        if self.options.oracle == "clean":
            clean = torch.from_numpy(state.task.ground_truth_clean())
            return torch.nonzero(clean).squeeze(1).to(state.device)
        return None

    def estimate_clean(self, state: EngineState) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Per-row clean scores (higher = cleaner) and clean/noisy decisions of the current model.

        None for methods that do not estimate it. The engine calls it once more on the selected
        checkpoint; methods that filter rows call it in `select_rows` and hand each epoch's
        estimate to `report_clean_scores`.
        """
        return None

    def report_clean_scores(
        self, state: EngineState, scores: np.ndarray, decisions: np.ndarray | None
    ) -> None:
        """Hand this epoch's estimate to the runner (which scores it against the ground truth)."""
        state.task.report_clean_scores(state.epoch + 1, scores, decisions)

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
        n_rows = len(pairs)
        if n_rows < 2:
            raise CellError(f"{n_rows} training pairs: too few to train on")
        state = EngineState(
            task=task,
            model=model,
            pixels=torch.from_numpy(
                np.array(load_images(pairs.image_paths, o.image_size))  # into memory, writable
            ).to(device),
            tokens=self.tokenize(pairs.texts).to(device),
            row_image=torch.as_tensor(pairs.image, dtype=torch.long, device=device),
            device=device,
            generator=generator,
        )
        batch_size = min(o.batch_size, n_rows)
        full_steps = n_rows // batch_size  # the ragged last batch is dropped: losses need negatives
        total_steps = full_steps * o.epochs
        warmup_steps = int(o.warmup_fraction * total_steps)
        optimizer = torch.optim.AdamW(
            [{"params": model.parameters()}, {"params": extra, "weight_decay": 0.0}],
            lr=o.lr,
            weight_decay=o.weight_decay,
        )
        retriever = EmbeddingRetriever(model, self.tokenize, o.image_size, device)
        val_pixels = load_images([i.path for i in task.val.images], o.image_size)

        bar = task.progress(total=total_steps, desc="train", unit="step") if task.progress else None
        history: list[dict[str, Any]] = []
        best: dict[str, Any] = {
            "score": -math.inf,
            "epoch": None,
            "state": None,
        }
        step = 0
        try:
            for epoch in range(o.epochs):
                started = time.perf_counter()
                state.epoch = epoch
                rows = self.select_rows(state)
                model.train()
                if rows is None:
                    order = torch.randperm(n_rows, generator=generator).to(device)
                else:
                    order = rows[torch.randperm(len(rows), generator=generator).to(device)]
                steps = len(order) // batch_size
                losses = []
                for i in range(steps):
                    batch_rows = order[i * batch_size : (i + 1) * batch_size]
                    batch = Batch(batch_rows, state.row_image[batch_rows], epoch, step, total_steps)
                    nominal = epoch * full_steps + i * full_steps / max(steps, 1)
                    for group in optimizer.param_groups:
                        group["lr"] = o.lr * lr_factor(nominal, total_steps, warmup_steps)
                    images = state.pixels[batch.image]
                    if o.augment == "resized_crop":
                        images = random_resized_crop(images, o.crop_min_scale, generator)
                    with autocast(device):
                        image_emb = model.encode_image(images)
                        text_emb = model.encode_text(trim_padding(state.tokens[batch_rows]))
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
                    losses.append(loss.item())
                    step += 1
                    if bar is not None:
                        bar.update(1)
                if bar is not None and steps < full_steps:
                    bar.update(full_steps - steps)  # a filtered epoch is shorter
                val = self.validate(retriever, task.val, val_pixels)
                record = {
                    "epoch": epoch + 1,
                    "train_rows": int(n_rows if rows is None else len(rows)),
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
                if val["mR"] > best["score"]:
                    best.update(
                        score=val["mR"], epoch=epoch + 1, state=copy.deepcopy(model.state_dict())
                    )
        finally:
            if bar is not None:
                bar.close()
        if best["state"] is not None:
            model.load_state_dict(best["state"])
        model.eval()
        estimate = self.estimate_clean(state)
        scores, decisions = estimate if estimate is not None else (None, None)
        return FitResult(
            retriever=retriever,
            best_epoch=best["epoch"],
            history=history,
            clean_scores=scores,
            clean_decisions=decisions,
        )

    def validate(
        self, retriever: EmbeddingRetriever, val: EvalSet, pixels: np.ndarray
    ) -> dict[str, float]:
        scorer = EmbeddingScorer(retriever.embed_images(pixels), retriever.embed_texts(val.texts))
        return retrieval_metrics(scorer, val.caption_image)
