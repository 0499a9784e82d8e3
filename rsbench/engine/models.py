"""Retrieval models: encoders that return `Features`, and the score that compares them.

A `RetrievalModel` is an ``nn.Module`` with three methods the engine calls:

- ``encode_image(pixels)``: normalised ``B × 3 × S × S`` pixels (from the image pipeline) to
  `Features`;
- ``encode_text(text)``: a `TextBatch` to `Features`;
- ``score(image, text)``: a texts × images matrix. The default is the dot product of the pooled
  embeddings (cosine, since dual encoders here normalise them); RRSITR's fused global + local
  score and AMFMN's image-conditioned score override it. Evaluation tiles it (``eval_tile``
  texts × images per call), so a score may build per-pair tensors of a tile's size, and may
  cache per-item work in ``Features.extra`` (a tile's features are reused across the tiles of
  the other modality). A model may name other scores in ``score_variants``
  (``score(image, text, variant=name)``): the runner records their test metrics as diagnostics.

Everything a loss learns (a temperature, a fusion module) is a parameter of the model, so the
best epoch's weights restore all of it and a method instance holds no per-fit state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rsbench.engine.encoders import SmallImageEncoder, SmallTextEncoder
from rsbench.engine.features import Features
from rsbench.engine.text import TextBatch


class RetrievalModel(nn.Module):
    """Base of every model the engine trains (see the module docstring)."""

    #: texts × images per call of `score` at evaluation
    eval_tile: tuple[int, int] = (4096, 4096)
    #: names of other scores ``score(..., variant=name)`` gives, recorded as diagnostics
    score_variants: tuple[str, ...] = ()

    def encode_image(self, pixels: torch.Tensor) -> Features:
        raise NotImplementedError

    def encode_text(self, text: TextBatch) -> Features:
        raise NotImplementedError

    def score(self, image: Features, text: Features) -> torch.Tensor:
        """Similarity of every text to every image: ``len(text) × len(image)``."""
        return text.emb @ image.emb.T


class ScratchDualEncoder(RetrievalModel):
    """The small from-scratch encoders (``backbone: scratch``): a CNN and a word CNN/GRU."""

    def __init__(self, image_encoder: SmallImageEncoder, text_encoder: SmallTextEncoder):
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder

    def encode_image(self, pixels: torch.Tensor) -> Features:
        return Features(emb=self.image_encoder(pixels))

    def encode_text(self, text: TextBatch) -> Features:
        return Features(emb=self.text_encoder(text))


class CLIPDualEncoder(RetrievalModel):
    """A transformers ``CLIPModel`` as a dual encoder, optionally with token features.

    - The pooled embeddings are CLIP's (class token after the vision post-LayerNorm, the text
      state at the end-of-text token after the final LayerNorm), projected and L2-normalised.
    - ``tokens=True`` adds local features as RRSITR reads them from OpenCLIP: every patch token
      after the post-LayerNorm and the visual projection (transformers applies that LayerNorm
      to the class token only, so it is applied here to the patches) and every text position,
      padding included, after the final LayerNorm and the text projection; not normalised.
    - ``text_padding_mask=False`` (default) gives the text tower no padding mask, as OpenCLIP:
      its causal mask already keeps padding out of every real token, so only the states *at*
      padding positions depend on it.
    """

    def __init__(self, clip: nn.Module, tokens: bool = False, text_padding_mask: bool = False):
        super().__init__()
        self.clip = clip
        self.tokens = tokens
        self.text_padding_mask = text_padding_mask

    def encode_image(self, pixels: torch.Tensor) -> Features:
        vision = self.clip.vision_model(pixel_values=pixels)
        emb = self.clip.visual_projection(vision.pooler_output)
        tokens = None
        if self.tokens:
            patches = self.clip.vision_model.post_layernorm(vision.last_hidden_state[:, 1:])
            tokens = self.clip.visual_projection(patches)
        return Features(emb=F.normalize(emb.float(), dim=-1), tokens=tokens)

    def encode_text(self, text: TextBatch) -> Features:
        out = self.clip.text_model(
            input_ids=text.ids,
            attention_mask=text.mask.long() if self.text_padding_mask else None,
        )
        emb = self.clip.text_projection(out.pooler_output)
        tokens = self.clip.text_projection(out.last_hidden_state) if self.tokens else None
        return Features(
            emb=F.normalize(emb.float(), dim=-1),
            tokens=tokens,
            mask=text.mask if self.tokens else None,
        )


def same_in_eval_mode(module: nn.Module) -> bool:
    """Whether train and eval mode compute the same thing: no active dropout, no batch-norm."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return False
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0:
            return False
    config = getattr(getattr(module, "clip", None), "config", None)
    for sub in (getattr(config, "text_config", None), getattr(config, "vision_config", None)):
        if sub is not None and (getattr(sub, "attention_dropout", 0) or getattr(sub, "dropout", 0)):
            return False
    return True
