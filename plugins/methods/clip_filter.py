"""clip_filter: keep the pairs the frozen pretrained CLIP finds most similar, fine-tune on them.

The filtering baseline of large web and remote-sensing corpora (no official code: the recipe
every large RS caption corpus applies before training): before any update, every training pair
is scored by the cosine similarity of its image and caption under the pretrained encoders (eval
mode, no crop); the top fraction is kept and the model is fine-tuned with InfoNCE
(`infonce`'s loss and recipe) on the kept pairs only, every epoch. It costs one scoring pass,
then less than `infonce` (it trains on fewer pairs). A robust method that does not beat it
gains nothing from its machinery.

How much is kept (``keep_rule``):
- ``nominal`` (default): 1 − the cell's nominal noise ratio (``TrainTask.noise_ratio``: the
  protocol's setting, which the experimenter knows; which pairs are noisy stays hidden). The
  record says the ratio used;
- ``gmm``: the pairs whose posterior under the higher-mean component of a two-component GMM on
  the similarities exceeds 0.5 (`rsbench.engine.gmm`, NCR's settings, seeded): no knowledge of
  the ratio;
- ``fixed``: ``keep_fraction`` of the pairs.

At least one batch of pairs is always kept. The similarities are the method's clean scores and
the kept set its decision, reported for every epoch (they do not change).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from rsbench.api import CellError, Choice, CleanEstimate, Uniform
from rsbench.engine import EngineState
from rsbench.engine.gmm import clean_probability, gmm_info
from rsbench_plugins.methods.infonce import InfoNCE


def keep_top(scores: np.ndarray, count: int) -> np.ndarray:
    """A mask of the ``count`` highest scores (ties broken by row order, stably)."""
    keep = np.zeros(len(scores), dtype=bool)
    keep[np.argsort(-scores, kind="stable")[:count]] = True
    return keep


class CLIPFilter(InfoNCE):
    """InfoNCE on the pairs the frozen pretrained encoders score highest."""

    SEARCH_SPACES = {
        profile: {
            **space,
            "keep_rule": Choice(["nominal", "gmm", "fixed"]),
            "keep_fraction": Uniform(0.2, 0.9),
        }
        for profile, space in InfoNCE.SEARCH_SPACES.items()
    }
    BACKBONE_RECIPES: dict = {}

    @dataclass
    class Options(InfoNCE.Options):
        backbone: Literal["clip"] = "clip"  # it scores pairs with the pretrained CLIP
        keep_rule: Literal["nominal", "gmm", "fixed"] = "nominal"
        keep_fraction: float = 0.5  # with keep_rule: fixed

        def __post_init__(self):
            super().__post_init__()
            if not 0 < self.keep_fraction <= 1:
                raise ValueError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")

    @torch.no_grad()
    def pretrained_similarities(self, state: EngineState) -> np.ndarray:
        """Each training pair's cosine similarity under the model as built (before any step)."""
        images, texts = state.encode_rows()
        return (images.emb * texts.emb).sum(dim=1).cpu().numpy()

    def kept(self, scores: np.ndarray, state: EngineState) -> tuple[np.ndarray, dict]:
        o, n = self.options, len(scores)
        if o.keep_rule == "gmm":
            keep = clean_probability(scores, seed=state.task.seed, clean="higher") > 0.5
            facts = {"gmm": gmm_info(state.task.seed, clean_component="higher")}
        else:
            if o.keep_rule == "nominal":
                ratio = state.task.noise_ratio
                if ratio is None:
                    raise CellError(
                        "clip_filter keep_rule 'nominal' needs the cell's noise ratio, which "
                        "this task lacks; use keep_rule 'gmm' or 'fixed'"
                    )
                fraction, facts = 1.0 - ratio, {"noise_ratio_used": ratio}
            else:
                fraction, facts = o.keep_fraction, {}
            keep = keep_top(scores, int(round(fraction * n)))
        floor = min(n, state.batch_size)
        if keep.sum() < floor:  # always at least one batch to train on
            keep = keep_top(scores, floor)
        return keep, {"rule": o.keep_rule, **facts, "kept_rows": int(keep.sum()), "rows": n}

    def on_fit_start(self, state: EngineState) -> None:
        super().on_fit_start(state)
        scores = self.pretrained_similarities(state)
        keep, facts = self.kept(scores, state)
        state.buffers["filter"] = CleanEstimate(scores, keep)
        state.buffers.setdefault("info", {})["filter"] = facts

    def select_rows(self, state: EngineState) -> torch.Tensor | None:
        rows = super().select_rows(state)  # oracle: clean
        if rows is not None:
            return rows
        keep = state.buffers["filter"].decisions
        return torch.from_numpy(np.flatnonzero(keep)).to(state.device)

    def epoch_estimate(self, state: EngineState) -> CleanEstimate | None:
        return state.buffers["filter"]
