"""`TrainableMethod`: the one training loop every engine method runs, and the hooks it calls.

In the manner of PyTorch Lightning, a method is a handful of hooks named for when they run;
the loop owns seeding, devices, data, precision, clipping, schedules, validation, checkpoint
selection and progress, so no method repeats them:

=====================  ==========================================================================
hook                   default
=====================  ==========================================================================
``build(task)``        (required) the `RetrievalModel`; every learnt loss parameter lives in it
``make_tokenizer``     (required) captions → `TextBatch` (built per fit: never kept on ``self``);
                       None for a method that reads no tokens (frozen text features)
``image_pipeline()``   decode sizes, training crop, normalisation from the options; None for a
                       method that reads no pixels (frozen image features)
``param_groups``       two groups by the ``weight_decay_rule`` (``all`` / ``matrices``)
``configure_optim…``   one optimiser (``adamw`` / ``adam``) with one `Schedule`
``on_fit_start``       nothing: work once per fit before the first epoch, with the state (a
                       prior matrix, frozen features, a trusted subset, per-row buffers), kept
                       in ``state.buffers``; a resumed fit runs it too, then loads its checkpoint
``forward``            ``{"image": encode_image(pixels), "text": encode_text(tokens)}``
``objective``          ``loss(image.emb, text.emb, batch)``; may return a `LossOutput` with per-
                       row values (kept for the epoch in ``state.epoch_rows``) and statistics
``training_step``      autocast forward + objective, finite check, backward, clip, step (override
                       for several optimisers or phases; ``state.step_optimizer`` helps)
``select_rows``        the rows an epoch trains on (None: all; ``oracle: clean`` keeps clean ones)
``on_epoch_end``       extra keys for the epoch's history record
``epoch_estimate``     this epoch's `CleanEstimate` of every training row (reported per epoch)
``estimate_clean``     the estimate at the selected checkpoint (default: that epoch's estimate)
=====================  ==========================================================================

Loop: seeded order each epoch; batches of ``batch_size`` with the ragged last one dropped (losses
need negatives; ``drop_last: false`` trains it too, unless it has a single row); the
learning-rate schedule runs over loader steps, the dropped batch included, as a
``drop_last=False`` loader that skips it would; after every epoch, validation R@K/mR through the
same scorer as the test; the best epoch's weights (the whole model, loss parameters included)
are restored at the end (``selection: last`` keeps the last epoch's instead, as official code
that reports its final epoch does). The test split is never seen. When the task
names a checkpoint path, the whole state is saved after every epoch and a fit that finds its
own checkpoint continues after that epoch (`rsbench.engine.checkpoint`).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from rsbench.engine import onednn
from rsbench.engine.checkpoint import Checkpoints
from rsbench.engine.models import RetrievalModel
from rsbench.engine.optim import (
    Schedule,
    decay_groups,
    make_optimizer,
    set_learning_rate,
)
from rsbench.engine.pipeline import ImagePipeline
from rsbench.engine.precision import Precision
from rsbench.engine.runtime import resolve_device, seed_everything
from rsbench.engine.scoring import ModelRetriever, distinct_rows
from rsbench.engine.state import Batch, EngineState, LossOutput, Optim
from rsbench.engine.text import Tokenizer
from rsbench.evaluate.retrieval import evaluate_retrieval
from rsbench.io import progress
from rsbench.io.errors import CellError
from rsbench.plugin.components import CleanEstimate, FitResult, Method, TrainTask
from rsbench.plugin.options import LOCAL


class TrainableMethod(Method):
    """Base of every method trained by the engine (see the module docstring)."""

    #: option presets per profile, applied under the user's options (first: the default)
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {"small": {}}
    #: whether text batches may drop all-padding columns (exact for masked / causal encoders)
    trim_text: ClassVar[bool] = True
    #: ``state.buffers`` keys that are caches, recomputed on demand: left out of checkpoints
    transient_buffers: ClassVar[frozenset[str]] = frozenset({"eval_pixels", "onednn"})

    @dataclass
    class Options:
        epochs: int = 6
        batch_size: int = 128
        lr: float = 2e-3
        optimizer: Literal["adamw", "adam"] = "adamw"
        betas: tuple[float, float] = (0.9, 0.999)
        eps: float = 1e-8
        weight_decay: float = 1e-4
        weight_decay_rule: Literal["all", "matrices"] = "all"
        schedule: Literal["cosine", "constant", "step"] = "cosine"
        warmup_steps: int | None = None  # None: warmup_fraction of all steps
        warmup_fraction: float = 0.05
        step_epochs: list[int] = field(default_factory=list)
        step_every: int = 0
        step_gamma: float = 1.0
        min_lr_factor: float = 0.0
        grad_clip: float = 2.0
        precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
        image_size: int = 48
        decode_size: int | None = None
        interpolation: Literal["bilinear", "bicubic"] = "bilinear"
        crop: Literal["none", "resized_crop", "random_crop"] = "none"
        crop_scale: tuple[float, float] = (0.8, 1.0)
        normalize: Literal["openai", "imagenet", "half", "none"] = "half"
        oracle: Literal["none", "clean"] = "none"
        #: train the ragged last batch of an epoch too (kept only when it has two rows or more)
        drop_last: bool = True
        #: the checkpoint kept: the epoch with the best validation mR, or the last epoch
        selection: Literal["best", "last"] = "best"
        profile: str = "small"
        weights_dir: str | None = field(default=None, metadata=LOCAL)

        def __post_init__(self):
            if self.epochs < 1:
                raise ValueError(f"epochs must be at least 1, got {self.epochs}")
            if self.batch_size < 2:
                raise ValueError(f"batch_size must be at least 2, got {self.batch_size}")
            if not (self.lr > 0 and math.isfinite(self.lr)):
                raise ValueError(f"lr must be a positive number, got {self.lr}")
            for name in ("weight_decay", "grad_clip", "eps", "step_every"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
            if self.warmup_steps is not None and self.warmup_steps < 0:
                raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
            if not 0 <= self.warmup_fraction < 1:
                raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
            if not self.step_gamma > 0:
                raise ValueError(f"step_gamma must be positive, got {self.step_gamma}")
            if not 0 <= self.min_lr_factor <= 1:
                raise ValueError(f"min_lr_factor must be in [0, 1], got {self.min_lr_factor}")
            if not all(0 <= b < 1 for b in self.betas):
                raise ValueError(f"betas must be in [0, 1), got {list(self.betas)}")
            ImagePipeline(**self._pipeline_kwargs())  # image options are checked up front

        def _pipeline_kwargs(self) -> dict[str, Any]:
            return {
                "size": self.image_size,
                "decode_size": self.decode_size,
                "interpolation": self.interpolation,
                "train": self.crop,
                "crop_scale": tuple(self.crop_scale),
                "normalize": self.normalize,
            }

    # ---- what subclasses provide ------------------------------------------------------------
    def build(self, task: TrainTask) -> RetrievalModel:
        raise NotImplementedError

    def make_tokenizer(self, task: TrainTask) -> Tokenizer:
        raise NotImplementedError

    def loss(self, image_emb: torch.Tensor, text_emb: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The loss of one batch from pooled embeddings (images × texts in the same row order)."""
        raise NotImplementedError

    def image_pipeline(self) -> ImagePipeline | None:
        return ImagePipeline(**self.options._pipeline_kwargs())

    def required_checkpoints(self) -> list[str]:
        """Checkpoints that must be found offline before this method trains."""
        return []

    def check_ready(self) -> None:
        """Fail now (one line) when a checkpoint is missing: the runner calls it before training."""
        if self.required_checkpoints():
            from rsbench.engine.hf import require_checkpoint

            for name in self.required_checkpoints():
                require_checkpoint(name, self.options.weights_dir)

    def param_groups(self, model: RetrievalModel) -> list[dict]:
        o = self.options
        return decay_groups(model.named_parameters(), o.weight_decay, o.weight_decay_rule)

    def make_schedule(self, loader_steps: int) -> Schedule:
        o = self.options
        total = loader_steps * o.epochs
        warmup = o.warmup_steps if o.warmup_steps is not None else int(o.warmup_fraction * total)
        return Schedule(
            kind=o.schedule,
            total_steps=total,
            warmup_steps=warmup,
            steps_per_epoch=loader_steps,
            milestones=list(o.step_epochs),
            step_every=o.step_every,
            gamma=o.step_gamma,
            min_factor=o.min_lr_factor,
        )

    def configure_optimizers(self, model: RetrievalModel, loader_steps: int) -> list[Optim]:
        o = self.options
        groups = self.param_groups(model)
        optimizer = make_optimizer(o.optimizer, groups, o.lr, tuple(o.betas), o.eps)
        params = [p for g in groups for p in g["params"]]
        return [Optim(optimizer, self.make_schedule(loader_steps), params)]

    def forward(self, state: EngineState, batch: Batch) -> dict[str, Any]:
        return {
            "image": state.model.encode_image(state.train_pixels(batch)),
            "text": state.model.encode_text(state.train_text(batch.rows)),
        }

    def objective(
        self, out: dict[str, Any], batch: Batch, model: RetrievalModel
    ) -> torch.Tensor | LossOutput:
        return self.loss(out["image"].emb.float(), out["text"].emb.float(), batch)

    def training_step(self, state: EngineState, batch: Batch) -> LossOutput:
        with state.precision.autocast():
            out = self.forward(state, batch)
            result = as_loss_output(self.objective(out, batch, state.model))
        check_finite(result.loss, batch)
        state.step_optimizer(result.loss)
        return result

    def select_rows(self, state: EngineState) -> torch.Tensor | None:
        """The training rows of this epoch (None: all). ``oracle: clean`` keeps the clean ones."""
        if getattr(self.options, "oracle", "none") == "clean":
            clean = torch.from_numpy(state.task.ground_truth_clean())
            return torch.nonzero(clean).squeeze(1).to(state.device)
        return None

    def on_fit_start(self, state: EngineState) -> None:
        """Once per fit, after the state and optimisers exist and before the first epoch."""

    def on_epoch_end(self, state: EngineState) -> dict[str, Any]:
        return {}

    def epoch_estimate(self, state: EngineState) -> CleanEstimate | None:
        return None

    def estimate_clean(self, state: EngineState) -> CleanEstimate | None:
        """The clean estimate at the selected checkpoint (default: that epoch's estimate)."""
        return state.buffers.get("best_estimate")

    def report_clean_scores(
        self, state: EngineState, scores: np.ndarray | CleanEstimate, decisions=None
    ) -> None:
        """Hand an estimate to the runner now (it scores it against the hidden ground truth)."""
        estimate = scores if isinstance(scores, CleanEstimate) else CleanEstimate(scores, decisions)
        state.task.report_clean_scores(state.epoch + 1, estimate)

    def make_retriever(self, state: EngineState) -> ModelRetriever:
        return ModelRetriever(
            state.model,
            state.tokenizer,
            state.pipeline,
            state.device,
            state.precision,
            trim_text=state.trim_text,
        )

    # ---- the loop ---------------------------------------------------------------------------
    def prepare(self, task: TrainTask, generator: torch.Generator) -> EngineState:
        """The model, tokenizer, pipeline, data on the device and optimisers of a fit."""
        o = self.options
        device = resolve_device(task.device)
        model = self.build(task).to(device)
        guard = onednn.protect(model, device)  # before any backward on the CPU: see the module
        tokenizer = self.make_tokenizer(task)
        pipeline = self.image_pipeline()
        pixels = (
            torch.from_numpy(np.array(pipeline.load_train(task.pairs.image_paths))).to(device)
            if pipeline is not None
            else None
        )
        state = EngineState(
            task=task,
            model=model,
            tokenizer=tokenizer,
            pipeline=pipeline,
            precision=Precision(o.precision, device),
            device=device,
            generator=generator,
            text=None if tokenizer is None else tokenizer(task.pairs.texts).to(device),
            row_image=torch.as_tensor(task.pairs.image, dtype=torch.long, device=device),
            pixels=pixels,
            grad_clip=o.grad_clip,
            trim_text=self.trim_text,
        )
        state.buffers["onednn"] = guard
        state.batch_size = min(o.batch_size, len(task.pairs))
        state.optimizers = self.configure_optimizers(model, self.loader_steps(len(task.pairs)))
        self.on_fit_start(state)
        return state

    def loader_steps(self, n_rows: int) -> int:
        """Batches per epoch as a loader without ``drop_last`` counts them."""
        return math.ceil(n_rows / min(self.options.batch_size, n_rows))

    def fit(self, task: TrainTask) -> FitResult:
        o = self.options
        generator = seed_everything(task.seed)
        n_rows = len(task.pairs)
        if n_rows < 2:
            raise CellError(f"{n_rows} training pairs: too few to train on")
        state = self.prepare(task, generator)
        model, pipeline = state.model, state.pipeline
        batch_size = state.batch_size
        loader_steps = self.loader_steps(n_rows)
        retriever = self.make_retriever(state)
        validation = Validation(retriever, task, pipeline)
        total_updates = self.steps_per_epoch(n_rows, batch_size) * o.epochs
        bar = (
            task.progress(total=total_updates, desc="train", unit="step") if task.progress else None
        )
        history: list[dict[str, Any]] = []
        stopped: int | None = None
        best: dict[str, Any] = {"score": -math.inf, "epoch": None, "state": None}
        checkpoints = Checkpoints.for_fit(self, state)
        first_epoch = checkpoints.restore(state, history, best) if checkpoints else 0
        if first_epoch:
            progress.say(f"rsbench: resuming after epoch {first_epoch} from {checkpoints.path}")
            if bar is not None:
                bar.update(min(state.step, total_updates))
        try:
            for epoch in range(first_epoch, o.epochs):
                started = time.perf_counter()
                state.epoch = epoch
                rows = self.select_rows(state)
                model.train()
                record = self.train_epoch(state, rows, batch_size, loader_steps, bar)
                record.update(self.on_epoch_end(state))
                estimate = self.epoch_estimate(state)
                if estimate is not None:
                    self.report_clean_scores(state, estimate)
                val = validation.metrics()
                record.update(val_mR=val["mR"], seconds=round(time.perf_counter() - started, 3))
                history.append({"epoch": epoch + 1, **record})
                if bar is not None:
                    bar.set_postfix(
                        epoch=epoch + 1,
                        loss=f"{record['train_loss']:.3f}",
                        val_mR=f"{val['mR']:.1f}",
                    )
                if o.selection == "last":
                    best.update(score=val["mR"], epoch=epoch + 1)
                    state.buffers["best_estimate"] = estimate
                elif val["mR"] > best["score"]:
                    best.update(score=val["mR"], epoch=epoch + 1, state=_snapshot(model))
                    state.buffers["best_estimate"] = estimate
                if checkpoints is not None:
                    checkpoints.save(state, history, best)
                if task.on_epoch is not None and task.on_epoch(epoch + 1, val["mR"]):
                    stopped = epoch + 1  # pruned: the best epoch so far is the model
                    break
        finally:
            if bar is not None:
                bar.close()
        if best["state"] is not None:
            model.load_state_dict(best["state"])
        model.eval()
        state.epoch = (best["epoch"] or o.epochs) - 1
        estimate = self.estimate_clean(state)
        info = self.fit_info(state)
        if stopped is not None:
            info["stopped_after_epoch"] = stopped
        return FitResult(
            retriever=retriever,
            best_epoch=best["epoch"],
            history=history,
            clean_scores=None if estimate is None else estimate.scores,
            clean_decisions=None if estimate is None else estimate.decisions,
            clean_estimate=estimate,
            info=info,
        )

    def fit_info(self, state: EngineState) -> dict[str, Any]:
        """Facts for the record: the tokenizer, the image pipeline, the precision used."""
        return {
            "tokenizer": None if state.tokenizer is None else state.tokenizer.identity(),
            "image_pipeline": None if state.pipeline is None else state.pipeline.identity(),
            "precision": state.precision.mode,
            "effective_batch_size": state.batch_size,
            "onednn": state.buffers.get("onednn"),
            **state.buffers.get("info", {}),
        }

    def steps_per_epoch(self, rows: int, batch_size: int) -> int:
        """Updates in an epoch of ``rows`` rows: the ragged last batch counts unless dropped."""
        full, rest = divmod(rows, batch_size)
        return full + (0 if self.options.drop_last or rest < 2 else 1)

    def train_epoch(
        self,
        state: EngineState,
        rows: torch.Tensor | None,
        batch_size: int,
        loader_steps: int,
        bar,
    ) -> dict[str, Any]:
        """One epoch: ``rows`` (None: all) in a seeded order, batch by batch through
        `training_step`, with the schedules set before each step; the epoch's history record.

        The override point for an epoch that is not one pass over batches (NCR trains each of
        its two networks on the other's division); ``steps_per_epoch`` must then count its
        updates, so that progress and schedules agree."""
        o = self.options
        n_rows = state.n_rows
        if rows is None:
            order = torch.randperm(n_rows, generator=state.generator).to(state.device)
        else:
            order = rows[torch.randperm(len(rows), generator=state.generator).to(state.device)]
        steps = self.steps_per_epoch(len(order), batch_size)
        # the schedule advances over loader steps (ceil), the dropped ragged batch included
        stride = loader_steps / max(1, math.ceil(len(order) / batch_size))
        state.epoch_rows = {}
        losses: list[float] = []
        stats: dict[str, list[float]] = {}
        for i in range(steps):
            batch_rows = order[i * batch_size : (i + 1) * batch_size]
            batch = Batch(
                batch_rows,
                state.row_image[batch_rows],
                state.epoch,
                state.step,
                steps * o.epochs,
            )
            position = state.epoch * loader_steps + i * stride
            for optim in state.optimizers:
                set_learning_rate(optim.optimizer, optim.schedule.factor(position))
            result = self.training_step(state, batch)
            state.precision.update()
            losses.append(float(result.loss.detach()))
            for name, values in result.per_row.items():
                buffer = state.epoch_rows.get(name)
                if buffer is None:
                    buffer = state.epoch_rows[name] = torch.full(
                        (n_rows,), math.nan, device=state.device
                    )
                buffer[batch_rows] = values.detach().float()
            for name, value in result.stats.items():
                stats.setdefault(name, []).append(float(value))
            state.step += 1
            if bar is not None:
                bar.update(1)
        expected = self.steps_per_epoch(n_rows, batch_size)
        if bar is not None and steps < expected:
            bar.update(expected - steps)  # a filtered epoch is shorter
        lr = state.optimizers[0].optimizer.param_groups[0]["lr"] if state.optimizers else None
        return {
            "train_rows": int(len(order)),
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": lr,
            **{name: float(np.mean(values)) for name, values in stats.items()},
        }


class Validation:
    """Per-epoch validation through the test's scorer.

    For a `ModelRetriever` with an image pipeline, the validation pixels are decoded and the
    captions tokenized once, and each epoch only encodes them; any other retriever (a method
    that scores cached features, say) is asked for its scorer every epoch.
    """

    def __init__(self, retriever, task: TrainTask, pipeline: ImagePipeline | None):
        self.retriever, self.val = retriever, task.val
        self.prepared = isinstance(retriever, ModelRetriever) and pipeline is not None
        if self.prepared:
            self.pixels = pipeline.load_eval([i.path for i in task.val.images])
            self.text, self.index = distinct_rows(retriever.tokenizer(list(task.val.texts)))

    def metrics(self) -> dict[str, float]:
        from rsbench.engine.scoring import ModelScorer

        r = self.retriever
        if not self.prepared:
            scorer = r.scorer(self.val.images, self.val.texts)
        else:
            scorer = ModelScorer(
                r.model,
                r.encode_pixels(self.pixels),
                r.encode_tokens(self.text),
                self.index,
                r.device,
                r.precision,
            )
        return evaluate_retrieval(scorer, self.val.caption_image)["plain"]


def as_loss_output(value: torch.Tensor | LossOutput) -> LossOutput:
    return value if isinstance(value, LossOutput) else LossOutput(loss=value)


def check_finite(loss: torch.Tensor, batch: Batch) -> None:
    if not torch.isfinite(loss.detach()):
        raise CellError(
            f"loss became {loss.item()} at epoch {batch.epoch + 1}, step {batch.step + 1}"
        )


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return copy.deepcopy(model.state_dict())
