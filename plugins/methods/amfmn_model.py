"""AMFMN's network: multi-scale image features gated by MVSA, a BiGRU sentence, visual-guided text.

Yuan et al., "Exploring a Fine-Grained Multiscale Method for Cross-Modal Remote Sensing Image
Retrieval" (TGRS 2022); official code ``xiaoyuan1996/AMFMN`` (``layers/AMFMN_Modules.py``).

- `MultiscaleImageEncoder` (the code's ``ExtractFeature`` + ``VSA_Module``): ResNet-18 stage maps
  f1..f4 (strides 4, 8, 16, 32); low-level ``Cat(f1, Up2(f2))``, high-level ``Cat(f3, Up2(f4))``,
  nearest upsampling; global ``v(g) = Linear(mean(f4))``; MVSA turns the two maps into a spatial
  map at stride 16 and from it a sigmoid channel gate on ``v(g)``: ``Fv = v(g) ⊙ σ(Linear(a))``.
  The gate's input size is the map's area, ``(image_size / 16)²`` (256 at the code's 256 px).
  ``mvsa="code"`` (default) is the released module: no activation after the two branch convs,
  the residual is the channel mean of the *transformed* high-level map, no L2 norm before the
  1×1 convs. ``mvsa="paper"`` is eqs. 14–19: PReLU after both branch convs, the channel mean of
  the untransformed high-level map ``v(h)`` as the residual, and an L2 norm over channels at
  every position before the 1×1 convs (the paper does not say over which axis).
- `SentenceEncoder`: the paper's text encoder (§III-B.2 and §V-B): word embeddings, a
  bidirectional GRU, ``s_t = (h_fwd + h_bwd) / 2``, ``s(g)`` = mean of ``s_t`` over the words.
- `VisualGuidedAttention` (the code's ``CrossAttention``): for every image i and caption j a
  guided text ``F_t[i, j]``; the score is ``cos(Fv_i, F_t[i, j])`` with the code's
  ``(|x||y|).clamp(min=1e-8)`` denominator:

  - ``soft``: ``σ(W v_i + b) ⊙ t_j``. The cosine is then two matrix products, numerator
    ``(v ⊙ g) · t`` and squared norm ``g² · t²``: no per-pair tensor at all;
  - ``fusion``: ``σ(W1 [v_i; t_j] + b1) ⊙ (W2 [v_i; t_j] + b2)``. Each linear map of the
    concatenation is split into its image half (plus the bias), computed once per image, and its
    text half, once per caption; only the sigmoid, product and cosine are per pair;
  - ``sim``: ``σ(v'_i ⊙ t'_j) ⊙ t'_j`` with ``v' = W_v v + b_v``, ``t' = W_t t + b_t`` (the code's
    element-wise gate; the paper's scalar cosine gate would cancel inside the cosine score).

  The per-item halves are computed by the encoders (``Features.extra``), so evaluation encodes
  every image and caption once and `score` only combines them, in blocks of at most
  ``pair_budget`` pair × dimension values for the per-pair variants (cache-sized on the CPU).
  The code's ``VGMF_Fusion`` is built there but never called: it is not part of this model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rsbench.engine.backbones import resnet_stages
from rsbench.engine.features import Features
from rsbench.engine.models import RetrievalModel
from rsbench.engine.text import TextBatch
from rsbench.engine.vocab import PAD

#: the code's cosine denominator floor
COSINE_EPS = 1e-8
#: pair × dimension values per block of the per-pair VGA scores: on the CPU a block stays in
#: cache (1 MB: 7× faster than 64 MB blocks at 500 × 2,500 × 512); on a GPU, large launches
PAIR_BUDGET_CPU = 1 << 18
PAIR_BUDGET_CUDA = 1 << 26
VGA_KINDS = ("soft", "fusion", "sim")


class MultiscaleImageEncoder(nn.Module):
    """ResNet stage maps → ``Fv`` (the MVSA-gated global feature). See the module docstring."""

    def __init__(
        self,
        resnet: nn.Module,
        embed_dim: int,
        image_size: int,
        mvsa: str = "code",
        channels: int = 3,
        out_channels: int = 1,
    ):
        super().__init__()
        if image_size % 32:
            raise ValueError(f"AMFMN needs image_size a multiple of 32, got {image_size}")
        if mvsa not in ("code", "paper"):
            raise ValueError(f"unknown mvsa {mvsa!r}; valid: code, paper")
        c1, c2, c3, c4 = resnet.config.hidden_sizes
        self.resnet = resnet
        self.mvsa = mvsa
        self.linear = nn.Linear(c4, embed_dim)  # v(g)
        # sub-sampling to stride 16: 3×3 stride-4 convolution without padding, and a 1×1
        self.low_conv = nn.Conv2d(c1 + c2, channels, kernel_size=3, stride=4)
        self.high_conv = nn.Conv2d(c3 + c4, channels, kernel_size=1)
        self.main_conv = nn.Conv2d(2 * channels, out_channels, kernel_size=1)
        self.gate_conv = nn.Conv2d(2 * channels, out_channels, kernel_size=1)
        side = image_size // 16
        self.solo_attention = nn.Linear(out_channels * side * side, embed_dim)
        if mvsa == "paper":
            self.low_act, self.high_act = nn.PReLU(), nn.PReLU()

    def maps(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Low-level map, high-level map and the global feature ``v(g)``."""
        f1, f2, f3, f4 = resnet_stages(self.resnet, pixels)
        low = torch.cat([f1, F.interpolate(f2, scale_factor=2, mode="nearest")], dim=1)
        high = torch.cat([f3, F.interpolate(f4, scale_factor=2, mode="nearest")], dim=1)
        return low, high, self.linear(f4.mean(dim=(2, 3)))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        low, high, global_feature = self.maps(pixels)
        low_t, high_t = self.low_conv(low), self.high_conv(high)
        if self.mvsa == "paper":
            low_t, high_t = self.low_act(low_t), self.high_act(high_t)
            residual = high.mean(dim=1, keepdim=True)
        else:
            residual = high_t.mean(dim=1, keepdim=True)
        joint = torch.cat([low_t, high_t], dim=1) + residual
        if self.mvsa == "paper":
            joint = F.normalize(joint, dim=1)
        attended = self.main_conv(joint) * torch.sigmoid(self.gate_conv(joint))
        mask = torch.sigmoid(self.solo_attention(attended.flatten(1)))
        return global_feature * mask


class SentenceEncoder(nn.Module):
    """Word embeddings → bidirectional GRU → mean over words of ``(h_fwd + h_bwd) / 2``."""

    def __init__(self, vocab_size: int, word_dim: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=PAD)
        self.gru = nn.GRU(word_dim, hidden, batch_first=True, bidirectional=True)
        self.hidden = hidden

    def forward(self, text: TextBatch) -> torch.Tensor:
        mask = text.mask
        lengths = mask.sum(dim=1).clamp(min=1)
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(text.ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        states, _ = nn.utils.rnn.pad_packed_sequence(
            self.gru(packed)[0], batch_first=True, total_length=text.ids.shape[1]
        )
        steps = 0.5 * (states[..., : self.hidden] + states[..., self.hidden :])
        steps = steps * mask.unsqueeze(-1).to(steps.dtype)
        return steps.sum(dim=1) / lengths.unsqueeze(-1).to(steps.dtype)


class VisualGuidedAttention(nn.Module):
    """The three VGA variants, factored into per-image and per-caption terms (module docstring).

    The parameters keep the code's layout (``Linear(dim, dim)`` or ``Linear(2·dim, dim)``), so a
    state dict maps one to one onto ``CrossAttention``'s.
    """

    def __init__(self, dim: int, kind: str = "soft", pair_budget: int | None = None):
        super().__init__()
        if kind not in VGA_KINDS:
            raise ValueError(f"unknown VGA {kind!r}; valid: {', '.join(VGA_KINDS)}")
        self.kind, self.dim, self.pair_budget = kind, dim, pair_budget
        if kind == "soft":
            self.gate = nn.Linear(dim, dim)
        elif kind == "fusion":
            self.gate = nn.Linear(2 * dim, dim)  # σ(W1 [v; t] + b1)
            self.value = nn.Linear(2 * dim, dim)  # W2 [v; t] + b2
        else:
            self.visual = nn.Linear(dim, dim)
            self.text = nn.Linear(dim, dim)

    # ---- per-item terms (computed once per image / caption) ------------------------------------
    def image_terms(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        norm = v.norm(dim=-1)
        if self.kind == "soft":
            gate = torch.sigmoid(self.gate(v))
            return {"vga_num": v * gate, "vga_sq": gate * gate, "vga_norm": norm}
        if self.kind == "fusion":
            d = self.dim
            gate = F.linear(v, self.gate.weight[:, :d], self.gate.bias)
            value = F.linear(v, self.value.weight[:, :d], self.value.bias)
            return {"vga_gate": gate, "vga_value": value, "vga_norm": norm}
        return {"vga_proj": self.visual(v), "vga_norm": norm}

    def text_terms(self, t: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.kind == "soft":
            return {"vga_sq": t * t}
        if self.kind == "fusion":
            d = self.dim
            return {
                "vga_gate": F.linear(t, self.gate.weight[:, d:]),
                "vga_value": F.linear(t, self.value.weight[:, d:]),
            }
        return {"vga_proj": self.text(t)}

    # ---- the score -----------------------------------------------------------------------------
    def score(self, image: Features, text: Features) -> torch.Tensor:
        """``cos(Fv_i, F_t[i, j])`` for every caption j × image i (``len(text) × len(image)``)."""
        v, vx, tx = image.emb, image.extra, text.extra
        if self.kind == "soft":
            numerator = text.emb @ vx["vga_num"].T
            guided_norm = (tx["vga_sq"] @ vx["vga_sq"].T).clamp(min=0).sqrt()
            return numerator / (guided_norm * vx["vga_norm"]).clamp(min=COSINE_EPS)
        budget = self.pair_budget or (PAIR_BUDGET_CUDA if v.is_cuda else PAIR_BUDGET_CPU)
        rows = max(1, budget // max(1, len(image) * self.dim))
        return torch.cat(
            [self._pairs(v, vx, tx, slice(r, r + rows)) for r in range(0, len(text), rows)]
        )

    def _pairs(self, v, vx, tx, rows: slice) -> torch.Tensor:
        """One block of captions × every image; in place where no gradient is needed."""
        in_place = not torch.is_grad_enabled()
        if self.kind == "fusion":
            gate = tx["vga_gate"][rows, None, :] + vx["vga_gate"][None]
            value = tx["vga_value"][rows, None, :] + vx["vga_value"][None]
            guided = gate.sigmoid_().mul_(value) if in_place else torch.sigmoid(gate) * value
        else:
            t_proj = tx["vga_proj"][rows, None, :]
            product = vx["vga_proj"][None] * t_proj
            guided = (
                product.sigmoid_().mul_(t_proj) if in_place else torch.sigmoid(product) * t_proj
            )
        norm = torch.linalg.vector_norm(guided, dim=-1)
        numerator = (guided.mul_(v[None]) if in_place else guided * v[None]).sum(dim=-1)
        return numerator / (norm * vx["vga_norm"]).clamp(min=COSINE_EPS)


class AMFMNModel(RetrievalModel):
    """``encode_image`` → ``Fv`` with the VGA's image terms; ``encode_text`` → ``s(g)`` with its
    caption terms; ``score`` → the asymmetric ``cos(Fv_i, VGA(Fv_i, t_j))``, texts × images."""

    def __init__(
        self,
        image_encoder: MultiscaleImageEncoder,
        text_encoder: SentenceEncoder,
        vga: VisualGuidedAttention,
    ):
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.vga = vga
        # soft: two matrix products per tile; the per-pair variants are blocked inside `score`
        self.eval_tile = (4096, 4096) if vga.kind == "soft" else (1024, 1024)

    def encode_image(self, pixels: torch.Tensor) -> Features:
        v = self.image_encoder(pixels)
        return Features(emb=v, extra=self.vga.image_terms(v))

    def encode_text(self, text: TextBatch) -> Features:
        t = self.text_encoder(text)
        return Features(emb=t, extra=self.vga.text_terms(t))

    def score(self, image: Features, text: Features) -> torch.Tensor:
        return self.vga.score(image, text)
