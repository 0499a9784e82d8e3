"""Binary codes of cross-modal hashing models (CHNR, DUCH) and the score that ranks by them.

A hashing model's encoders return continuous codes (the tanh outputs of its hash heads, in
`Features.emb`); an item's binary code is their sign. ``torch.sign`` maps an exact 0 to 0,
which is no bit at all, so `binary_codes` reads 0 as +1 (a tanh output is exactly 0 only by
accident).

The retrieval tables (R@K) need one score per (caption, image) pair that orders a ranking the
way hashing retrieval does: by **Hamming distance** between the binary codes, and among items
at the same distance by the **cosine of the continuous codes** (closer first). So
`hamming_score` is

    score = −d_H(b_t, b_i) + cos(c_t, c_i) / 4,

whose cosine part lies in [−1/4, 1/4] and can never overturn a difference of one bit. Pairs
whose cosines differ by less than float32 resolves next to the distance (about 1e-5 at 64
bits) tie, and ties are broken by index order, as everywhere in rsbench's evaluation. The
hashing mAP@k (`rsbench.evaluate.hashing_map`) ranks by the Hamming distance alone, as the hashing
literature does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: the weight of the cosine tie-break: below 1/2, so it never crosses a whole bit
COSINE_TIE_BREAK = 0.25


def binary_codes(codes: torch.Tensor) -> torch.Tensor:
    """±1 codes (same dtype) from continuous codes: the sign, with 0 read as +1."""
    return torch.where(codes >= 0, 1.0, -1.0).to(codes.dtype)


def hamming_distance(text_bits: torch.Tensor, image_bits: torch.Tensor) -> torch.Tensor:
    """Hamming distances between ±1 codes, texts × images: (K − b_t·b_i) / 2."""
    return 0.5 * (text_bits.shape[1] - text_bits.float() @ image_bits.float().T)


def hamming_score(text_codes: torch.Tensor, image_codes: torch.Tensor) -> torch.Tensor:
    """Texts × images: −Hamming distance of the signs + cosine of the continuous codes / 4."""
    text_codes, image_codes = text_codes.float(), image_codes.float()
    distance = hamming_distance(binary_codes(text_codes), binary_codes(image_codes))
    cosine = F.normalize(text_codes, dim=-1) @ F.normalize(image_codes, dim=-1).T
    return COSINE_TIE_BREAK * cosine - distance
