"""ncr: Noisy Correspondence Rectifier (Huang et al., NeurIPS 2021) on the CLIP dual encoder.

Ported from XLearning-SCU/2021-NeurIPS-NCR at commit 60256ba (``NCR/co_train.py``,
``NCR/model.py``); the loss terms are in `ncr_losses`. What the official code does, and so
what this plugin does by default:

1. **Warm-up** (``warmup_epochs``): each of the two networks trains on every pair with the
   ``warmup`` loss (the sum over anchors of the mean hinge at margin 0.2), network A's pass
   first, then B's, each in its own data order.
2. **Co-divide**, at the start of every later epoch: each network scores every training pair
   (``eval_loss``: the mean hinge in both directions, in random batches of the batch size, in
   eval mode, without crops), the scores are min-max normalised and a two-component GMM
   (scikit-learn, ``max_iter=10, tol=1e-2, reg_covar=5e-4``, seeded by the training seed)
   gives each pair the posterior of the low-loss component; ``p > p_threshold`` (0.5) is
   labeled, the rest unlabeled (when no pair falls below the threshold, the 1 % least likely
   are made unlabeled, as ``split_prob`` does).
3. **Co-teaching**: network A trains on B's division, then B on A's. Per labeled batch, the
   training network predicts labels p (``predict``), the targets are w + (1 − w)·p with w the
   other network's clean probability (broadcast to B × B: quirk 1), and the loss is the
   hardest-negative triplet with the soft margin α·(10^y − 1)/9; from co-training epoch
   ``n // 2`` on (n co-training epochs), an unlabeled batch (cycling through the unlabeled
   pairs) is trained too, with the targets (p_A + p_B)/2 of both networks as a B × 1 column
   (quirk 2). The labeled and the unlabeled loss each get their own backward, clip and step.
4. **Evaluation** averages the two networks' similarity matrices (``evaluation: ensemble``, as
   the paper reports); ``evaluation: single`` scores with network A alone (NCR's users note
   the ensemble inflates comparisons with single-network methods). The other is recorded as a
   diagnostic score (``single`` / ``ensemble``).

Quirks kept, each with the option that departs from it:
- targets broadcast to B × B and the unlabeled B × 1 column read across both directions
  (quirks 1, 2): ``labels: per_anchor`` gives each anchor its own label;
- hinge means over all B columns including the zeroed diagonal (quirk 3): kept, no option;
- ``predict``'s 0/0 when every p is 0 (the official code returns NaN, which makes the loss NaN):
  the labels stay 0 instead, and the epoch record counts it (``degenerate_predictions``);
- two optimiser steps per batch (quirk 5), the warm-up's mean-hinge sum (quirk 6): kept;
- an unlabeled set of fewer than 2 pairs trains no unlabeled batch (the official loop would
  stop the epoch at a 1-pair batch); a ragged 1-pair unlabeled batch starts a new cycle.

What the port changes (the card says so too): the backbone is the engine's CLIP dual encoder
(cosine similarities of the pooled embeddings stand in for SGRAF's similarity head); both
networks start from the same pretrained checkpoint, so they differ only by their data order
and crops (the official networks start from different random initialisations); the optimiser
and its schedule are the bench's CLIP fine-tuning recipe (NCR's Adam at 2e-4 ×0.1 every 30
epochs trained SGRAF heads on frozen region features: ``optimizer: adam``, ``lr``,
``schedule: step`` and ``step_epochs`` restore it); the clip norm is NCR's 2.0; rows of a batch
that share an image stay each other's negatives, as in the official code
(``mask_same_image: true`` excludes them). The labeled batch's predicted labels are read from
the training forward pass (the CLIP towers have no dropout or batch-norm, so eval mode gives
the same similarities; a model with either gets a separate eval-mode pass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rsbench.api import Choice, CleanEstimate, IntRange, Uniform
from rsbench.engine import (
    Batch,
    DualEncoderMethod,
    EngineState,
    Features,
    Optim,
    RetrievalModel,
    check_finite,
)
from rsbench.engine.dual_encoder import CLIP_SEARCH_SPACES, PAPER_CLIP_RECIPE, SMALL_CLIP_RECIPE
from rsbench.engine.gmm import clean_probability, gmm_info
from rsbench.engine.losses import same_image_mask
from rsbench.engine.models import same_in_eval_mode
from rsbench.engine.optim import decay_groups, make_optimizer, set_learning_rate
from rsbench_plugins.methods import ncr_losses as L

SQRT2 = math.sqrt(2.0)


class NCRModel(RetrievalModel):
    """Two dual encoders; features are both networks' embeddings side by side, scaled by 1/√2,
    so that their dot product is the mean of the two cosine similarities (NCR's ensemble)."""

    def __init__(self, net_a: RetrievalModel, net_b: RetrievalModel, evaluation: str):
        super().__init__()
        self.nets = nn.ModuleList([net_a, net_b])
        self.evaluation = evaluation
        self.score_variants = ("single",) if evaluation == "ensemble" else ("ensemble",)
        self.eval_equals_train = same_in_eval_mode(net_a)

    def encode_image(self, pixels: torch.Tensor) -> Features:
        parts = [net.encode_image(pixels).emb.float() for net in self.nets]
        return Features(emb=torch.cat(parts, dim=1) / SQRT2)

    def encode_text(self, text) -> Features:
        parts = [net.encode_text(text).emb.float() for net in self.nets]
        return Features(emb=torch.cat(parts, dim=1) / SQRT2)

    def score(self, image: Features, text: Features, variant: str | None = None) -> torch.Tensor:
        if (variant or self.evaluation) == "ensemble":
            return text.emb @ image.emb.T  # (s_A + s_B) / 2
        d = image.emb.shape[1] // 2
        return 2 * text.emb[:, :d] @ image.emb[:, :d].T  # network A alone


def split_prob(probability: np.ndarray, threshold: float) -> np.ndarray:
    """NCR's ``split_prob``: labeled where p > threshold; if every p exceeds it, the threshold
    becomes the (N // 100)-th smallest p, so about 1 % of the pairs are unlabeled."""
    if len(probability) and probability.min() > threshold:
        threshold = np.sort(probability)[len(probability) // 100]
    return probability > threshold


class NCR(DualEncoderMethod):
    """NCR: co-divided (2-GMM per network) and co-taught soft-margin triplet, two networks."""

    PROFILES = {
        # one warm-up epoch, two co-training epochs (the unlabeled loss from the second)
        "small": {**SMALL_CLIP_RECIPE, "epochs": 3, "warmup_epochs": 1, "grad_clip": 2.0},
        # NCR's 10 warm-up + 40 co-training epochs (F30K) at the bench's CLIP recipe
        "paper": {**PAPER_CLIP_RECIPE, "epochs": 50, "warmup_epochs": 10, "grad_clip": 2.0},
    }
    SEARCH_SPACES = {
        profile: {
            **space,
            "margin": Uniform(0.1, 0.4),
            "p_threshold": Uniform(0.3, 0.8),
            # at least one co-training epoch after the longest warm-up
            "epochs": IntRange(3, 6) if profile == "small" else IntRange(15, 50),
            "warmup_epochs": IntRange(1, 2) if profile == "small" else IntRange(5, 10),
            "soft_margin": Choice(["exponential", "linear", "sin"]),
        }
        for profile, space in CLIP_SEARCH_SPACES.items()
    }
    BACKBONE_RECIPES: dict = {}

    @dataclass
    class Options(DualEncoderMethod.Options):
        backbone: Literal["clip"] = "clip"
        warmup_epochs: int = 1
        margin: float = 0.2
        soft_margin: Literal["exponential", "linear", "sin"] = "exponential"
        p_threshold: float = 0.5
        labels: Literal["official", "per_anchor"] = "official"
        evaluation: Literal["ensemble", "single"] = "ensemble"
        mask_same_image: bool = False

        def __post_init__(self):
            super().__post_init__()
            if not 0 <= self.warmup_epochs < self.epochs:
                raise ValueError(
                    f"warmup_epochs must be in [0, epochs): {self.warmup_epochs} with "
                    f"{self.epochs} epochs leaves no co-training epoch"
                )
            if not self.margin > 0:
                raise ValueError(f"margin must be positive, got {self.margin}")
            if not 0 < self.p_threshold < 1:
                raise ValueError(f"p_threshold must be in (0, 1), got {self.p_threshold}")

    # ---- model and optimisers ---------------------------------------------------------------
    def build(self, task) -> NCRModel:
        return NCRModel(super().build(task), super().build(task), self.options.evaluation)

    def configure_optimizers(self, model: NCRModel, loader_steps: int) -> list[Optim]:
        """One optimiser per network, each with its own schedule (NCR: one Adam per SGRAF)."""
        o = self.options
        optims = []
        for net in model.nets:
            groups = decay_groups(net.named_parameters(), o.weight_decay, o.weight_decay_rule)
            optimizer = make_optimizer(o.optimizer, groups, o.lr, tuple(o.betas), o.eps)
            params = [p for g in groups for p in g["params"]]
            optims.append(Optim(optimizer, self.make_schedule(loader_steps), params))
        return optims

    def steps_per_epoch(self, rows: int, batch_size: int) -> int:
        """Two passes per epoch, one per network (a co-training pass covers its labeled part)."""
        return 2 * super().steps_per_epoch(rows, batch_size)

    def on_fit_start(self, state: EngineState) -> None:
        state.buffers.setdefault("info", {})["gmm"] = gmm_info(state.task.seed)

    # ---- co-divide ----------------------------------------------------------------------------
    def co_training_epoch(self, state: EngineState) -> int | None:
        """The 0-based co-training epoch, None during the warm-up."""
        e = state.epoch - self.options.warmup_epochs
        return e if e >= 0 else None

    @torch.no_grad()
    def per_pair_losses(self, state: EngineState) -> list[np.ndarray]:
        """Each network's ``eval_loss`` of every training pair, in random batches (eval mode)."""
        o = self.options
        images, texts = state.encode_rows()
        d = images.emb.shape[1] // 2
        n = len(texts)
        batch = min(o.batch_size, n)
        order = torch.randperm(n, generator=state.generator).to(state.device)
        losses = [torch.empty(n, device=state.device) for _ in range(2)]
        for start in range(0, n, batch):
            rows = order[start : start + batch]
            exclude = same_image_mask(state.row_image[rows]) if o.mask_same_image else None
            for k, half in enumerate((slice(0, d), slice(d, 2 * d))):
                sims = 2 * images.emb[rows, half] @ texts.emb[rows, half].T  # images × texts
                losses[k][rows] = L.eval_loss(sims, o.margin, exclude)
        return [loss.cpu().numpy() for loss in losses]

    def co_divide(self, state: EngineState) -> dict[str, np.ndarray]:
        o = self.options
        losses = self.per_pair_losses(state)
        prob = [clean_probability(loss, seed=state.task.seed) for loss in losses]
        pred = [split_prob(p, o.p_threshold) for p in prob]
        return {"prob_a": prob[0], "prob_b": prob[1], "pred_a": pred[0], "pred_b": pred[1]}

    def epoch_estimate(self, state: EngineState) -> CleanEstimate | None:
        """The division this epoch trained on: the two networks' mean clean probability, and
        ``p > p_threshold`` on it as the method's decision."""
        division = state.buffers.get("division")
        if self.co_training_epoch(state) is None or division is None:
            return None
        scores = (division["prob_a"] + division["prob_b"]) / 2
        return CleanEstimate(scores, scores > self.options.p_threshold)

    # ---- one epoch: two passes ----------------------------------------------------------------
    def train_epoch(self, state, rows, batch_size, loader_steps, bar) -> dict[str, Any]:
        universe = (torch.arange(state.n_rows, device=state.device) if rows is None else rows).cpu()
        co_epoch = self.co_training_epoch(state)
        passes = []
        if co_epoch is None:
            for k in (0, 1):
                passes.append(
                    self._pass(state, k, universe, None, None, batch_size, loader_steps, bar)
                )
        else:
            division = self.co_divide(state)
            state.buffers["division"] = division
            co_epochs = self.options.epochs - self.options.warmup_epochs
            train_unlabeled = co_epoch >= co_epochs // 2
            for k, teacher in ((0, "b"), (1, "a")):
                pred = torch.from_numpy(division[f"pred_{teacher}"])[universe]
                prob = torch.from_numpy(division[f"prob_{teacher}"]).float().to(state.device)
                unlabeled = universe[~pred] if train_unlabeled else None
                passes.append(
                    self._pass(
                        state, k, universe[pred], prob, unlabeled, batch_size, loader_steps, bar
                    )
                )
        record: dict[str, Any] = {
            "train_rows": int(sum(p["rows"] for p in passes)),
            "train_loss": float(
                np.mean([x for p in passes for x in p["losses"]])
                if any(p["losses"] for p in passes)
                else math.nan
            ),
            "lr": state.optimizers[0].optimizer.param_groups[0]["lr"],
            "degenerate_predictions": int(sum(p["degenerate"] for p in passes)),
        }
        if co_epoch is not None:
            record["labeled_rows_a"] = int(passes[0]["rows"])
            record["labeled_rows_b"] = int(passes[1]["rows"])
            unlabeled_losses = [x for p in passes for x in p["unlabeled_losses"]]
            if unlabeled_losses:
                record["unlabeled_loss"] = float(np.mean(unlabeled_losses))
        return record

    def _pass(self, state, k, labeled, probability, unlabeled, batch_size, loader_steps, bar):
        """Network ``k`` trains one pass over ``labeled`` (all rows in the warm-up)."""
        device = state.device
        order = labeled[torch.randperm(len(labeled), generator=state.generator)].to(device)
        steps = super().steps_per_epoch(len(order), batch_size)
        stride = loader_steps / max(1, math.ceil(len(order) / batch_size))
        cycle = UnlabeledCycle(unlabeled, batch_size, state.generator, device)
        out = {"rows": len(order), "losses": [], "unlabeled_losses": [], "degenerate": 0}
        optim = state.optimizers[k]
        for i in range(steps):
            batch_rows = order[i * batch_size : (i + 1) * batch_size]
            batch = Batch(batch_rows, state.row_image[batch_rows], state.epoch, state.step, 0)
            set_learning_rate(
                optim.optimizer, optim.schedule.factor(state.epoch * loader_steps + i * stride)
            )
            if probability is None:
                loss = self.warmup_step(state, k, batch)
                out["losses"].append(loss)
            else:
                loss, loss_u, degenerate = self.co_training_step(
                    state, k, batch, probability[batch_rows], cycle.next()
                )
                out["losses"].append(loss)
                if loss_u is not None:
                    out["unlabeled_losses"].append(loss_u)
                out["degenerate"] += degenerate
            state.step += 1
            if bar is not None:
                bar.update(1)
        expected = super().steps_per_epoch(state.n_rows, batch_size)
        if bar is not None and steps < expected:
            bar.update(expected - steps)  # a labeled pass is shorter than a full one
        return out

    # ---- the steps ----------------------------------------------------------------------------
    def similarities(self, state: EngineState, k: int, rows: torch.Tensor, pixels=None):
        """Images × texts cosine similarities of network ``k`` on the batch's rows (with crops)."""
        net = state.model.nets[k]
        if pixels is None:
            pixels = state.pipeline.train_batch(
                state.pixels[state.row_image[rows]], state.generator
            )
        with state.precision.autocast():
            image = net.encode_image(pixels).emb.float()
            text = net.encode_text(state.train_text(rows)).emb.float()
        return image @ text.T

    def exclude(self, state: EngineState, rows: torch.Tensor) -> torch.Tensor | None:
        return same_image_mask(state.row_image[rows]) if self.options.mask_same_image else None

    def step(self, state: EngineState, k: int, loss: torch.Tensor, batch: Batch) -> float:
        check_finite(loss, batch)
        state.model.nets[k].train()
        state.step_optimizer(loss, index=k)
        state.precision.update()
        return float(loss.detach())

    def warmup_step(self, state: EngineState, k: int, batch: Batch) -> float:
        state.model.nets[k].train()
        sims = self.similarities(state, k, batch.rows)
        loss = L.warmup_loss(sims, self.options.margin, self.exclude(state, batch.rows))
        return self.step(state, k, loss, batch)

    @torch.no_grad()
    def predicted(self, state, k, rows, pixels=None) -> tuple[torch.Tensor, bool]:
        """Network ``k``'s ``predict`` labels of a batch, in eval mode."""
        net = state.model.nets[k]
        mode = net.training
        net.eval()
        try:
            sims = self.similarities(state, k, rows, pixels)
        finally:
            net.train(mode)
        return L.predict(sims, self.options.margin, self.exclude(state, rows))

    def margins(self, labels: torch.Tensor) -> torch.Tensor:
        return L.soft_margin(labels, self.options.margin, self.options.soft_margin)

    def triplet(self, sims, labels, exclude) -> torch.Tensor:
        if self.options.labels == "per_anchor":
            return L.train_loss_per_anchor(sims, self.margins(labels.view(-1, 1)), True, exclude)
        return L.train_loss(sims, self.margins(labels), True, exclude)

    def co_training_step(self, state, k, batch, probability, unlabeled_rows):
        """One labeled (and, in the second half, one unlabeled) update of network ``k``."""
        o = self.options
        net = state.model.nets[k]
        other = 1 - k
        exclude = self.exclude(state, batch.rows)
        pixels = state.pipeline.train_batch(state.pixels[batch.image], state.generator)
        net.train()
        sims = self.similarities(state, k, batch.rows, pixels)
        if state.model.eval_equals_train:
            with torch.no_grad():
                p_l, degenerate = L.predict(sims.detach(), o.margin, exclude)
        else:
            p_l, degenerate = self.predicted(state, k, batch.rows, pixels)
        targets_l = L.labeled_targets(probability, p_l, per_anchor=o.labels == "per_anchor")
        u_pixels = targets_u = None
        if unlabeled_rows is not None:  # predicted before the labeled update, as NCR does
            u_image = state.row_image[unlabeled_rows]
            u_pixels = state.pipeline.train_batch(state.pixels[u_image], state.generator)
            p1, d1 = self.predicted(state, k, unlabeled_rows, u_pixels)
            p2, d2 = self.predicted(state, other, unlabeled_rows, u_pixels)
            targets_u = ((p1 + p2) / 2).view(-1, 1)
            degenerate = degenerate or d1 or d2
        loss_l = self.step(state, k, self.triplet(sims, targets_l, exclude), batch)
        loss_u = None
        if unlabeled_rows is not None:
            sims_u = self.similarities(state, k, unlabeled_rows, u_pixels)
            u_batch = Batch(
                unlabeled_rows, state.row_image[unlabeled_rows], batch.epoch, batch.step, 0
            )
            loss_u = self.step(
                state,
                k,
                self.triplet(sims_u, targets_u, self.exclude(state, unlabeled_rows)),
                u_batch,
            )
        return loss_l, loss_u, int(degenerate)


class UnlabeledCycle:
    """Batches of the unlabeled rows in a shuffled order, reshuffled when used up (a DataLoader
    iterator started again, as NCR's ``train`` does); a ragged batch of one row starts the next
    cycle. None throughout when there are fewer than two unlabeled rows."""

    def __init__(self, rows, batch_size: int, generator: torch.Generator, device):
        self.rows = None if rows is None or len(rows) < 2 else rows
        self.batch_size, self.generator, self.device = batch_size, generator, device
        self.order, self.position = None, 0

    def next(self) -> torch.Tensor | None:
        if self.rows is None:
            return None
        if self.order is None or len(self.order) - self.position < 2:
            self.order = self.rows[torch.randperm(len(self.rows), generator=self.generator)]
            self.position = 0
        batch = self.order[self.position : self.position + self.batch_size]
        self.position += len(batch)
        return batch.to(self.device)
