"""MSA's networks: ResNet stage features and BERT, the gated image map, and MSCMAT.

Yang et al., "Remote Sensing Cross-Modal Text-Image Retrieval Based on Multi-Scale Alignment"
(MSA, IEEE TGRS 2024), as its official code (yr666666/MSA, ``model.py``) builds them; shapes
below are for the ``paper`` profile (ResNet-50 at 224 px, bert-base), the ``small`` profile
has the same modules at the small encoders' widths:

- image: the four stage maps of a ``ResNetModel`` (256/512/1024/2048 channels), each pooled to
  a vector ``s_k`` (global max for stages 1–3, global average for stage 4: the code's
  ``MaxPool2d(56 / 28 / 14)`` and ``AdaptiveAvgPool2d(1)``, equal at 224 px and defined at any
  size here); ``f = Σ_k fc_k(s_k)`` (Linear → width); the retrieval embedding is the gated
  projection ``v = W_o(u ⊙ σ(W_g u))``, ``u = W_a f``, L2-normalised;
- text: ``BertModel`` with its padding mask; [CLS] of the last layer, L2-normalised, is the
  retrieval embedding (no projection); positions 1..L−1 (word pieces, [SEP] and padding) are
  the localized text features;
- MSCMAT (training only): per scale, the image token ``q_k = P_k(s_k)`` (its own Linear, not
  ``fc_k``) attends over a caption's localized features (``nn.MultiheadAttention``, LayerNorms
  shared by the four scales, CLIP-style initialisation) and the pair's score is
  ``σ(w_kᵀ[(a_k + t̂_cls) ⊙ q_k] + b_k)``, for all B² pairs of a batch at once
  (`rsbench.engine.pair_attention`).

The official code also creates ``image_channel_reduce``, ``image_patch_proj``, ``norm_layer``
and ``ln_post``, which its forward never uses (no gradient, so AdamW leaves them alone); they
are not built here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rsbench.engine import Features, RetrievalModel, TextBatch
from rsbench.engine.backbones import resnet_stages
from rsbench.engine.pair_attention import pair_cross_attention


def pool_scales(stages: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Each stage map to one vector: global max for all but the last, global average for the last."""
    *early, last = stages
    return (*(s.amax(dim=(2, 3)) for s in early), last.mean(dim=(2, 3)))


class GatedProjection(nn.Module):
    """``v = W_o(u ⊙ σ(W_g u))`` with ``u = W_a f`` (the code's ``feature_map``): a learnt gate
    on the fused image vector before it meets the text embedding space."""

    def __init__(self, width: int):
        super().__init__()
        self.inner = nn.Linear(width, width)
        self.gate = nn.Linear(width, width)
        self.outer = nn.Linear(width, width)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        u = self.inner(f)
        return self.outer(u * torch.sigmoid(self.gate(u)))


class MSCMAT(nn.Module):
    """Multi-scale cross-modal alignment transformer: a B_i × B_t score matrix per scale.

    ``mask_padding`` hides padding positions from the attention (the official code attends to
    them: off by default).
    """

    def __init__(self, channels: Sequence[int], width: int, heads: int, mask_padding: bool = False):
        super().__init__()
        if width % heads:
            raise ValueError(f"MSCMAT heads must divide the width {width}, got {heads}")
        self.mask_padding = mask_padding
        self.project = nn.ModuleList(nn.Linear(c, width) for c in channels)
        self.attention = nn.ModuleList(nn.MultiheadAttention(width, heads) for _ in channels)
        self.norm_image = nn.LayerNorm(width)  # the code's ln_pre_t (names swapped there)
        self.norm_text = nn.LayerNorm(width)  # the code's ln_pre_i
        self.match = nn.ModuleList(nn.Linear(width, 1) for _ in channels)
        for attention in self.attention:  # CLIP's initialisation, as the code does
            nn.init.normal_(attention.in_proj_weight, std=width**-0.5)
            nn.init.normal_(attention.out_proj.weight, std=width**-0.5 * 2**-0.5)

    def image_tokens(self, scales: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``q_k``: each scale's pooled vector projected to the width (before the LayerNorm)."""
        return [proj(s) for proj, s in zip(self.project, scales, strict=True)]

    def score(self, k: int, q: torch.Tensor, attended: torch.Tensor, text_cls: torch.Tensor):
        """``σ(w_kᵀ[(a + t̂_cls) ⊙ q] + b_k)`` for attended states ``a`` of shape ``… × D``,
        with ``q`` and ``text_cls`` broadcast against them."""
        return torch.sigmoid(self.match[k]((attended + text_cls) * q).squeeze(-1))

    def forward(
        self,
        scales: Sequence[torch.Tensor],
        text_tokens: torch.Tensor,
        text_cls: torch.Tensor,
        text_mask: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Scores ``M_k[i, j]`` of image i against text j (rows images, columns texts), in (0, 1).

        ``text_cls`` is the L2-normalised [CLS] embedding; ``text_tokens`` the localized
        features (``B_t × L × D``), keys and values projected once per text.
        """
        keys = self.norm_text(text_tokens)
        mask = text_mask if self.mask_padding else None
        maps = []
        for k, q in enumerate(self.image_tokens(scales)):
            attended = pair_cross_attention(self.attention[k], self.norm_image(q), keys, mask)
            maps.append(self.score(k, q[:, None], attended, text_cls[None]))
        return maps


class MSAModel(RetrievalModel):
    """MSA's dual encoder and its training-only MSCMAT (see the module docstring).

    Evaluation compares the two retrieval embeddings (the engine's default ``score``: the dot
    product of normalised vectors, i.e. cosine); ``encode_image(…, scales=True)`` and
    ``encode_text(…, tokens=True)`` add what MSCMAT reads, in training only.
    """

    def __init__(self, resnet: nn.Module, bert: nn.Module, heads: int, mask_padding: bool = False):
        super().__init__()
        width = bert.config.hidden_size
        channels = list(resnet.config.hidden_sizes)
        self.resnet = resnet
        self.bert = bert
        self.scale_proj = nn.ModuleList(nn.Linear(c, width) for c in channels)
        self.image_map = GatedProjection(width)
        self.mscmat = MSCMAT(channels, width, heads, mask_padding)

    def encode_image(self, pixels: torch.Tensor, scales: bool = False) -> Features:
        pooled = pool_scales(resnet_stages(self.resnet, pixels))
        fused = sum(proj(s) for proj, s in zip(self.scale_proj, pooled, strict=True))
        emb = F.normalize(self.image_map(fused).float(), dim=-1)
        return Features(emb=emb, scales=pooled if scales else ())

    def encode_text(self, text: TextBatch, tokens: bool = False) -> Features:
        states = self.bert(input_ids=text.ids, attention_mask=text.mask.long()).last_hidden_state
        emb = F.normalize(states[:, 0].float(), dim=-1)
        if not tokens:
            return Features(emb=emb)
        return Features(emb=emb, tokens=states[:, 1:], mask=text.mask[:, 1:])

    def alignment(self, image: Features, text: Features) -> list[torch.Tensor]:
        """MSCMAT's four B_i × B_t score matrices for features from the training encoders."""
        if not image.scales or text.tokens is None:
            raise ValueError("alignment needs encode_image(scales=True), encode_text(tokens=True)")
        cls = text.emb.to(text.tokens.dtype)
        return self.mscmat(image.scales, text.tokens, cls, text.mask)
