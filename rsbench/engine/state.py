"""The state of one fit, and the types the training loop's hooks pass around.

Kept apart from the loop (`rsbench.engine.trainer`) so that the checkpoint code, which saves
and restores a state, does not import the loop that saves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rsbench.engine.features import Features
from rsbench.engine.models import RetrievalModel
from rsbench.engine.optim import Schedule
from rsbench.engine.pipeline import ImagePipeline
from rsbench.engine.precision import Precision
from rsbench.engine.text import TextBatch, Tokenizer
from rsbench.plugin.components import TrainTask


@dataclass
class Batch:
    """One training step's rows."""

    rows: torch.Tensor  # indices of the training rows in this batch
    image: torch.Tensor  # the image index each row is paired with (noisy)
    epoch: int  # 0-based
    step: int  # update count so far, 0-based
    total_steps: int


@dataclass
class LossOutput:
    """What `objective` / `training_step` may return instead of a bare loss."""

    loss: torch.Tensor
    per_row: dict[str, torch.Tensor] = field(default_factory=dict)  # each: one value per row
    stats: dict[str, float] = field(default_factory=dict)  # averaged into the epoch record


@dataclass
class Optim:
    """An optimiser, its schedule and the parameters it clips."""

    optimizer: torch.optim.Optimizer
    schedule: Schedule
    parameters: list[nn.Parameter]


@dataclass
class EngineState:
    """What the hooks of a method can use during a fit."""

    task: TrainTask
    model: RetrievalModel
    tokenizer: Tokenizer
    pipeline: ImagePipeline | None
    precision: Precision
    device: str
    generator: torch.Generator  # data order and crops (CPU)
    text: TextBatch | None  # every training row, tokenized once (on the device); None: no tokenizer
    row_image: torch.Tensor  # rows: image index (device)
    pixels: torch.Tensor | None  # training images, uint8, at the training decode size (device)
    optimizers: list[Optim] = field(default_factory=list)
    grad_clip: float = 0.0
    trim_text: bool = True
    epoch: int = 0
    step: int = 0
    #: per-row values of the current epoch (``LossOutput.per_row``), NaN where not seen yet
    epoch_rows: dict[str, torch.Tensor] = field(default_factory=dict)
    #: anything a method keeps across epochs (e.g. CHNR's code matrix). It goes into the
    #: per-epoch checkpoint, so its values must be checkpointable (tensors, numpy arrays,
    #: `CleanEstimate`, numbers, strings, and lists, tuples, dicts of them, or objects with
    #: ``state_dict`` / ``load_state_dict`` that ``on_fit_start`` builds again; see
    #: `rsbench.engine.checkpoint`); caches recomputed on demand are named in the method's
    #: ``transient_buffers``. Per-fit state kept on the method object itself is not saved.
    buffers: dict[str, Any] = field(default_factory=dict)
    #: rows per optimiser step (the options' batch size, capped at the number of rows)
    batch_size: int = 0

    @property
    def n_rows(self) -> int:
        return len(self.row_image)

    def train_pixels(self, batch: Batch) -> torch.Tensor:
        """The batch's images through the pipeline's training crop and normalisation."""
        if self.pipeline is None or self.pixels is None:
            raise RuntimeError("this method has no image pipeline")
        return self.pipeline.train_batch(self.pixels[batch.image], self.generator)

    def train_text(self, rows: torch.Tensor) -> TextBatch:
        text = self.text[rows]
        return text.trim() if self.trim_text else text

    def step_optimizer(self, loss: torch.Tensor, index: int = 0, zero_grad: bool = True) -> None:
        """Backward ``loss`` (scaled under fp16), clip and step optimiser ``index``."""
        optim = self.optimizers[index]
        if zero_grad:
            optim.optimizer.zero_grad(set_to_none=True)
        self.precision.backward(loss)
        self.precision.step(optim.optimizer, optim.parameters, self.grad_clip)

    @torch.no_grad()
    def encode_rows(self, batch_size: int = 512) -> tuple[Features, Features]:
        """Image and text features of every training row (eval mode, no crop), on the device."""
        self.model.eval()
        images, texts = [], []
        for start in range(0, self.n_rows, batch_size):
            rows = torch.arange(start, min(start + batch_size, self.n_rows), device=self.device)
            pixels = self.pipeline.eval_batch(
                self.eval_pixels[self.row_image[rows].cpu()].to(self.device)
            )
            with self.precision.eval_autocast():
                images.append(self.model.encode_image(pixels).float())
                texts.append(self.model.encode_text(self.train_text(rows)).float())
        return Features.cat(images), _cat_texts(texts)

    @property
    def eval_pixels(self) -> torch.Tensor:
        """The training images at the evaluation size (decoded once, on first use)."""
        if "eval_pixels" not in self.buffers:
            paths = self.task.pairs.image_paths
            self.buffers["eval_pixels"] = torch.from_numpy(np.array(self.pipeline.load_eval(paths)))
        return self.buffers["eval_pixels"]


def _cat_texts(parts: list[Features]) -> Features:
    from rsbench.engine.scoring import _pad_cat

    return _pad_cat(parts)
