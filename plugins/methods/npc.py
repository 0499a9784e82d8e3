"""npc: Negative Pre-aware Cross-modal matching (Zhang et al., AAAI 2024) on the CLIP encoder.

Ported from ZhangXu0963/NPC at commit 823d781 (``main_NPC.py``: ``train``, the whole step;
``clip/criterions.py``; ``get_memorybank.py``; ``scheduler.py``); the loss terms are in
`npc_losses`. NPC fine-tunes CLIP end to end and, before each update, measures how the update
would change the loss of each pair's *memory-bank* pairs (clean pairs near it) with a siamese
copy of the model, and weights the pair by it.

**Memory bank** (once per fit, before the first step; ``get_memorybank.py``, which does not
run as shipped and is built from a model the README does not name: here the pretrained model
the fit starts from): every training pair's ``mbank`` loss (CE image→text and text→image within
random batches of the batch size, averaged) under the model as built, in eval mode without
crops; a two-component GMM on the raw losses (scikit-learn, ``max_iter=100, tol=1e-2,
reg_covar=5e-4``, seeded); the pairs whose low-loss posterior exceeds 0.9 form the bank. Each
training pair's image-bank pair is the bank pair whose *unnormalised* projected image feature
has the largest dot product with the pair's normalised image feature (quirk: the official bank
features are not normalised; ``bank_normalise: true`` normalises them), its text-bank pair the
same with text features. Should no pair pass 0.9, the bank is the batch-size pairs of highest
posterior (the record says how many pairs the bank holds).

**The step**: copy the model's weights into the siamese model; under ``no_grad`` (siamese in
eval mode) the per-pair losses L^I_ori, L^T_ori of the batch's image-bank and text-bank pairs;
one siamese AdamW step on CE_i2t + CE_t2i of the batch (its gradient doubled by two backward
passes, quirk 3; ``siamese_backward: once``); recompute L^I_new, L^T_new; w = (L^I_ori /
L^I_new + L^T_ori / L^T_new) / 2, wei = tanh(w) if w < 1 else 1; the loss mean(L^I_ori +
L^T_ori) + mean(wei · (CE_i2t + CE_t2i) / 2), where the official CE terms are *batch means*, so
the weights collapse to their mean (quirk 1; ``weighting: per_pair`` weights each pair's CE);
backward, clip 10 on the model only, AdamW step. The siamese optimiser keeps its moments from
step to step, as the official one does, while its weights are reset to the model's.

**Learning rate** (``scheduler.cosine_lr``): linear warm-up over ``warmup_steps`` then cosine,
indexed officially by ``samples × epoch + batch`` over ``samples × epochs`` steps (quirk 5: a
staircase across epochs, ``lr_steps: samples``); ``lr_steps: batches`` indexes by batches.

**Detection**: each pair's w in the epoch it was trained is its clean score (higher: its update
helped its clean neighbours), ``w ≥ 1`` (weight 1) its decision; pairs not trained in an epoch
(the dropped ragged batch) have no score.

What the port changes: the backbone is the engine's CLIP dual encoder (ViT-B/32 in the paper
profile as in NPC, the small CLIP in the small profile) with the engine's image pipeline
(crops in training, where NPC feeds CLIP's eval transform); the bank is built by rsbench in the
fit (NPC reads precomputed index files); quirk 4 (w = 1 ± 1e-9 at the README's lr and fp16
rounding) is reproduced only as far as the precision option reproduces fp16.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from rsbench.api import Choice, CleanEstimate, LogUniform
from rsbench.engine import (
    Batch,
    DualEncoderMethod,
    EngineState,
    Features,
    LossOutput,
    Optim,
    check_finite,
)
from rsbench.engine.dual_encoder import CLIP_SEARCH_SPACES, PAPER_CLIP_RECIPE, SMALL_CLIP_RECIPE
from rsbench.engine.gmm import clean_probability, gmm_info
from rsbench.engine.models import CLIPDualEncoder, RetrievalModel, same_in_eval_mode
from rsbench.engine.optim import Schedule, decay_groups, make_optimizer
from rsbench_plugins.methods import npc_losses as L

#: NPC's memory-bank mixture (get_memorybank.py)
BANK_GMM = {"max_iter": 100, "tol": 1e-2, "reg_covar": 5e-4}
BANK_THRESHOLD = 0.9


class NPCModel(RetrievalModel):
    """The model and its siamese copy; retrieval uses the model only."""

    def __init__(self, main: CLIPDualEncoder, siamese: CLIPDualEncoder):
        super().__init__()
        self.main, self.siamese = main, siamese
        self.eval_equals_train = same_in_eval_mode(main)

    def encode_image(self, pixels: torch.Tensor) -> Features:
        return self.main.encode_image(pixels)

    def encode_text(self, text) -> Features:
        return self.main.encode_text(text)


def logits(net: CLIPDualEncoder, pixels: torch.Tensor, text) -> torch.Tensor:
    """exp(logit_scale) · cos, images × texts: CLIP's ``logits_per_image``."""
    image = net.encode_image(pixels).emb
    texts = net.encode_text(text).emb
    return net.clip.logit_scale.exp() * image @ texts.T


def projected(
    net: CLIPDualEncoder, pixels: torch.Tensor, text
) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP's projected image and text features before normalisation (``encode_image``)."""
    clip = net.clip
    image = clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)
    mask = text.mask.long() if net.text_padding_mask else None
    texts = clip.text_projection(
        clip.text_model(input_ids=text.ids, attention_mask=mask).pooler_output
    )
    return image.float(), texts.float()


class SampleIndexedSchedule(Schedule):
    """``cosine_lr`` at NPC's step index: samples × epoch + batch (quirk 5)."""

    def __init__(self, base: Schedule, rows: int, epochs: int):
        super().__init__(
            kind="cosine",
            total_steps=rows * epochs,
            warmup_steps=base.warmup_steps,
            steps_per_epoch=base.steps_per_epoch,
        )
        self.rows = rows

    def factor(self, step: float) -> float:
        epoch = int(step // max(1, self.steps_per_epoch))
        return super().factor(self.rows * epoch + (step - epoch * self.steps_per_epoch))


class NPC(DualEncoderMethod):
    """NPC: CLIP fine-tuned with each pair weighted by its siamese step's effect on clean neighbours."""

    _NPC = {
        "betas": (0.9, 0.98),
        "eps": 1e-6,
        "weight_decay": 0.2,
        "weight_decay_rule": "all",
        "grad_clip": 10.0,
    }
    PROFILES = {
        "small": {**SMALL_CLIP_RECIPE, **_NPC},
        # NPC's defaults (params.py): 10 epochs, lr 1e-6, batch 256, 500 warm-up steps, fp16
        "paper": {
            **PAPER_CLIP_RECIPE,
            **_NPC,
            "epochs": 10,
            "lr": 1e-6,
            "batch_size": 256,
            "warmup_steps": 500,
            "precision": "fp16",
        },
    }
    SEARCH_SPACES = {
        profile: {
            **space,
            "lr": LogUniform(5e-5, 2e-3) if profile == "small" else LogUniform(1e-7, 1e-5),
            "weighting": Choice(["batch_mean", "per_pair"]),
        }
        for profile, space in CLIP_SEARCH_SPACES.items()
    }
    BACKBONE_RECIPES: dict = {}

    @dataclass
    class Options(DualEncoderMethod.Options):
        backbone: Literal["clip"] = "clip"
        weighting: Literal["batch_mean", "per_pair"] = "batch_mean"
        siamese_backward: Literal["twice", "once"] = "twice"
        lr_steps: Literal["samples", "batches"] = "samples"
        bank_normalise: bool = False

    # ---- model, optimisers, schedule ----------------------------------------------------------
    def build(self, task) -> NPCModel:
        main = super().build(task)
        return NPCModel(main, copy.deepcopy(main))

    def configure_optimizers(self, model: NPCModel, loader_steps: int) -> list[Optim]:
        """The model's AdamW, then the siamese copy's (same settings, own moments, no clip)."""
        o = self.options
        optims = []
        for net in (model.main, model.siamese):
            groups = decay_groups(net.named_parameters(), o.weight_decay, o.weight_decay_rule)
            optimizer = make_optimizer(o.optimizer, groups, o.lr, tuple(o.betas), o.eps)
            params = [p for g in groups for p in g["params"]]
            optims.append(Optim(optimizer, self.make_schedule(loader_steps), params))
        return optims

    def on_fit_start(self, state: EngineState) -> None:
        o = self.options
        if o.lr_steps == "samples":
            for optim in state.optimizers:
                optim.schedule = SampleIndexedSchedule(optim.schedule, state.n_rows, o.epochs)
        if "bank_image" not in state.buffers:  # (a resumed fit has it from its checkpoint)
            self.build_bank(state)

    # ---- the memory bank ----------------------------------------------------------------------
    @torch.no_grad()
    def build_bank(self, state: EngineState) -> None:
        o = self.options
        net = state.model.main
        net.eval()
        n = state.n_rows
        batch = min(o.batch_size, n)
        order = torch.randperm(n, generator=state.generator).to(state.device)
        losses = torch.empty(n, device=state.device)
        image_features = torch.empty(n, net.clip.config.projection_dim, device=state.device)
        text_features = torch.empty_like(image_features)
        for start in range(0, n, batch):
            rows = order[start : start + batch]
            pixels = state.pipeline.eval_batch(
                state.eval_pixels[state.row_image[rows].cpu()].to(state.device)
            )
            text = state.train_text(rows)
            with state.precision.eval_autocast():
                image, texts = projected(net, pixels, text)
            image_features[rows], text_features[rows] = image, texts
            scale = net.clip.logit_scale.exp()
            losses[rows] = L.pair_losses(
                scale * F.normalize(image, dim=-1) @ F.normalize(texts, dim=-1).T
            )
        probability = clean_probability(
            losses.cpu().numpy(), seed=state.task.seed, normalise=False, **BANK_GMM
        )
        clean = np.flatnonzero(probability > BANK_THRESHOLD)
        if len(clean) == 0:
            clean = np.sort(np.argsort(-probability, kind="stable")[:batch])
        state.buffers["bank_image"] = self.nearest(image_features, clean, state.device)
        state.buffers["bank_text"] = self.nearest(text_features, clean, state.device)
        state.buffers.setdefault("info", {})["memory_bank"] = {
            "built_from": "the pretrained model at the start of the fit",
            "pairs": int(len(clean)),
            "threshold": BANK_THRESHOLD,
            "gmm": gmm_info(state.task.seed, **BANK_GMM, normalised=False),
            "bank_normalised": o.bank_normalise,
        }

    def nearest(self, features: torch.Tensor, clean: np.ndarray, device) -> np.ndarray:
        """Per row: the bank row with the largest dot(normalised query, bank feature)."""
        bank = features[torch.from_numpy(clean).to(device)]
        if self.options.bank_normalise:
            bank = F.normalize(bank, dim=-1)
        queries = F.normalize(features, dim=-1)
        best = torch.cat([(chunk @ bank.T).argmax(dim=1) for chunk in queries.split(1024)])
        return clean[best.cpu().numpy()]

    # ---- the step -----------------------------------------------------------------------------
    def bank_batch(self, state: EngineState, rows: np.ndarray):
        """The pixels (one crop each, reused before and after the siamese step) and tokens of
        bank rows."""
        rows = torch.from_numpy(rows).to(state.device)
        pixels = state.pipeline.train_batch(state.pixels[state.row_image[rows]], state.generator)
        return pixels, state.train_text(rows)

    @torch.no_grad()
    def bank_losses(self, state: EngineState, bank) -> torch.Tensor:
        with state.precision.autocast():
            return L.pair_losses(logits(state.model.siamese, *bank).float())

    def training_step(self, state: EngineState, batch: Batch) -> LossOutput:
        o = self.options
        model: NPCModel = state.model
        rows = batch.rows.cpu().numpy()
        bank_i = self.bank_batch(state, state.buffers["bank_image"][rows])
        bank_t = self.bank_batch(state, state.buffers["bank_text"][rows])
        pixels = state.train_pixels(batch)
        text = state.train_text(batch.rows)
        model.siamese.load_state_dict(model.main.state_dict())
        model.siamese.eval()
        before_i, before_t = self.bank_losses(state, bank_i), self.bank_losses(state, bank_t)
        twice = 2.0 if o.siamese_backward == "twice" else 1.0
        main_optim, siamese_optim = state.optimizers
        if self.shared_backward(state):
            # One forward and backward serve both models: the siamese copy has the model's
            # weights and (no dropout, no batch-norm) computes the same batch loss, and with
            # batch-mean CE the model's gradient is mean(wei)/2 times that same gradient.
            model.main.train()
            with state.precision.autocast():
                i2t, t2i = L.batch_losses(logits(model.main, pixels, text).float())
            batch_loss = i2t + t2i
            check_finite(batch_loss, batch)
            main_optim.optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            for siamese_p, main_p in zip(
                model.siamese.parameters(), model.main.parameters(), strict=True
            ):
                siamese_p.grad = None if main_p.grad is None else main_p.grad * twice
            state.precision.step(siamese_optim.optimizer, siamese_optim.parameters, 0.0)
            after_i, after_t = self.bank_losses(state, bank_i), self.bank_losses(state, bank_t)
            w, wei = L.impact_weights(before_i, after_i, before_t, after_t)
            scale = float(wei.mean()) / 2
            for p in main_optim.parameters:
                if p.grad is not None:
                    p.grad.mul_(scale)
            loss = L.npc_loss(before_i + before_t, wei, i2t.detach(), t2i.detach())
            state.precision.step(main_optim.optimizer, main_optim.parameters, state.grad_clip)
            siamese_loss = batch_loss.detach()
        else:
            with state.precision.autocast():
                siamese_logits = logits(model.siamese, pixels, text).float()
            siamese_loss = sum(L.batch_losses(siamese_logits))
            check_finite(siamese_loss, batch)
            siamese_optim.optimizer.zero_grad(set_to_none=True)
            # backward(retain_graph=True) then backward(): the gradient of twice the loss
            state.precision.backward(siamese_loss * twice)
            state.precision.step(siamese_optim.optimizer, siamese_optim.parameters, 0.0)
            state.precision.update()
            after_i, after_t = self.bank_losses(state, bank_i), self.bank_losses(state, bank_t)
            w, wei = L.impact_weights(before_i, after_i, before_t, after_t)
            model.main.train()
            with state.precision.autocast():
                main_logits = logits(model.main, pixels, text).float()
            ce_i2t, ce_t2i = L.batch_losses(main_logits, reduce=o.weighting == "batch_mean")
            loss = L.npc_loss(before_i + before_t, wei, ce_i2t, ce_t2i)
            check_finite(loss, batch)
            state.step_optimizer(loss, index=0)
        return LossOutput(
            loss=loss,
            per_row={"npc_w": w.float()},
            stats={
                "siamese_loss": float(siamese_loss.detach()),
                "bank_loss": float((before_i + before_t).mean()),
                "mean_weight": float(wei.mean()),
            },
        )

    def shared_backward(self, state: EngineState) -> bool:
        """Whether one backward pass can serve the siamese and the model (exactly): the batch-
        mean weighting (the official), no fp16 loss scaling, the same forward in both modes."""
        return (
            self.options.weighting == "batch_mean"
            and state.precision.scaler is None
            and state.model.eval_equals_train
        )

    def epoch_estimate(self, state: EngineState) -> CleanEstimate | None:
        w = state.epoch_rows.get("npc_w")
        if w is None:
            return None
        # NaN: not trained this epoch, or 0/0; +inf (x/0) stays the largest score
        scores = np.nan_to_num(w.cpu().numpy().astype(np.float64), nan=np.nan, posinf=1e6)
        return CleanEstimate(scores, ~(scores < 1))
