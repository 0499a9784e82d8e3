"""Cross-attention of every query vector over every key sequence, without repeating the keys.

Some training losses score every (image, text) pair of a batch with a cross-attention: MSA's
MSCMAT lets each image's pooled feature (one token) attend over each caption's token states.
Written the obvious way, the B² pairs are built by repeating the images and the captions and
one ``nn.MultiheadAttention`` call projects the keys and values of every caption B times;
`pair_cross_attention` projects them once per sequence and the query once per vector, and
broadcasts only the attention itself (B² × heads × L logits), which is both faster and lighter
(measured 0.7 ms against 55 ms per call at B = 32, width 768, L = 30).

It reads the parameters of a standard ``nn.MultiheadAttention`` (packed ``in_proj``, optional
biases, ``out_proj``, attention dropout), so a model keeps torch's module (its layout, its
initialisation, its state-dict names) and tests can compare with the module itself called on
each pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pair_cross_attention(
    attention: nn.MultiheadAttention,
    queries: torch.Tensor,
    keys: torch.Tensor,
    key_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``out[i, j]`` = ``attention(query=queries[i], key=value=keys[j])``, for every i and j.

    - ``queries``: ``Nq × D``, each one token;
    - ``keys``: ``Nk × L × D``, each a sequence serving as keys and values;
    - ``key_mask``: ``Nk × L``, True where a key is real (the engine's mask convention; torch's
      ``key_padding_mask`` is its negation); None attends to every position. Each sequence
      needs at least one real key.

    Returns ``Nq × Nk × D``. Dropout on the attention weights follows the module's ``dropout``
    and training mode, as the module does.
    """
    if not attention._qkv_same_embed_dim or attention.bias_k is not None or attention.add_zero_attn:
        raise ValueError(
            "pair_cross_attention needs a MultiheadAttention with equal query/key/value widths, "
            "no bias_k/bias_v and no add_zero_attn"
        )
    width, heads = attention.embed_dim, attention.num_heads
    if queries.shape[-1] != width or keys.shape[-1] != width:
        raise ValueError(
            f"queries and keys must have width {width}, got {queries.shape[-1]} and {keys.shape[-1]}"
        )
    head_dim = width // heads
    n_queries, (n_keys, length) = len(queries), keys.shape[:2]
    w_q, w_k, w_v = attention.in_proj_weight.chunk(3)
    b_q, b_k, b_v = (
        attention.in_proj_bias.chunk(3) if attention.in_proj_bias is not None else (None,) * 3
    )
    q = F.linear(queries, w_q, b_q).view(n_queries, heads, head_dim) * head_dim**-0.5
    k = F.linear(keys, w_k, b_k).view(n_keys, length, heads, head_dim)
    v = F.linear(keys, w_v, b_v).view(n_keys, length, heads, head_dim)
    logits = torch.einsum("ihd,jlhd->ijhl", q, k)  # Nq × Nk × heads × L
    if key_mask is not None:
        logits = logits.masked_fill(~key_mask.bool()[None, :, None, :], float("-inf"))
    weights = logits.softmax(dim=-1)
    if attention.dropout > 0 and attention.training:
        weights = F.dropout(weights, attention.dropout)
    out = torch.einsum("ijhl,jlhd->ijhd", weights, v).reshape(n_queries, n_keys, width)
    return attention.out_proj(out)
