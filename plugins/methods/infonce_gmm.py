"""infonce_gmm: InfoNCE with NCR's loss-based clean/noisy split (a detection reference).

The noise-detection reference row of the leaderboard. After ``warmup_epochs`` of plain InfoNCE
on every pair, each epoch starts by computing every training pair's loss with the current
model (symmetric InfoNCE within random batches of the training batch size, in eval mode),
fitting a two-component Gaussian mixture to the losses (`rsbench.engine.gmm`: scikit-learn's
``GaussianMixture`` with NCR's settings, seeded by the training seed) and training only on the pairs whose clean probability exceeds ``p_threshold``.
The clean probabilities are the method's clean scores; ``p > p_threshold`` is its decision.

Version 2 fits scikit-learn's mixture, as NCR does (version 1 fitted a numpy EM of the same
model initialised at the quartiles, whose probabilities differed by up to 0.2).

This is NCR's *co-divide* step on one network (Huang et al., "Learning with Noisy
Correspondence for Cross-modal Matching", NeurIPS 2021), without NCR's second network and
label refurbishment: a loss-filtering baseline, not a re-implementation of NCR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rsbench.api import CleanEstimate, Uniform
from rsbench.engine import EngineState
from rsbench.engine.gmm import clean_probability, gmm_info
from rsbench_plugins.methods.infonce import InfoNCE, info_nce


class InfoNCEGMM(InfoNCE):
    """InfoNCE trained on the pairs a two-component GMM of per-pair losses calls clean (NCR-style)."""

    SEARCH_SPACES = {
        profile: {**space, "p_threshold": Uniform(0.3, 0.8)}
        for profile, space in InfoNCE.SEARCH_SPACES.items()
    }

    @dataclass
    class Options(InfoNCE.Options):
        warmup_epochs: int = 1
        p_threshold: float = 0.5

        def __post_init__(self):
            super().__post_init__()
            if not 0 <= self.warmup_epochs < self.epochs:
                raise ValueError("warmup_epochs must be in [0, epochs)")
            if not 0 < self.p_threshold < 1:
                raise ValueError("p_threshold must be in (0, 1)")

    @torch.no_grad()
    def per_pair_loss(self, state: EngineState) -> np.ndarray:
        images, texts = state.encode_rows()
        n = len(texts)
        batch = min(self.options.batch_size, n)
        order = torch.randperm(n, generator=state.generator).to(state.device)
        losses = torch.empty(n, device=state.device)
        for start in range(0, n, batch):
            rows = order[start : start + batch]
            losses[rows] = info_nce(
                images.emb[rows],
                texts.emb[rows],
                state.row_image[rows],
                state.model.logit_scale,
                self.options.mask_same_image,
                reduction="none",
            )
        return losses.cpu().numpy()

    def estimate_clean(self, state: EngineState) -> CleanEstimate:
        probability = clean_probability(self.per_pair_loss(state), seed=state.task.seed)
        state.buffers.setdefault("info", {})["gmm"] = gmm_info(state.task.seed)
        return CleanEstimate(probability, probability > self.options.p_threshold)

    def select_rows(self, state: EngineState) -> torch.Tensor | None:
        rows = super().select_rows(state)
        if rows is not None or state.epoch < self.options.warmup_epochs:
            return rows
        estimate = self.estimate_clean(state)
        self.report_clean_scores(state, estimate)
        keep = np.flatnonzero(estimate.decisions)
        minimum = 2 * self.options.batch_size
        if len(keep) < minimum:  # too few called clean to train on: keep the most likely ones
            keep = np.argsort(-estimate.scores, kind="stable")[:minimum]
        return torch.from_numpy(np.sort(keep)).to(state.device)
