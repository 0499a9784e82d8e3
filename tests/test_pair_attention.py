"""`pair_cross_attention` against torch's own MultiheadAttention called on each pair."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rsbench.engine.pair_attention import pair_cross_attention


def per_pair(attention: nn.MultiheadAttention, queries, keys, key_mask=None) -> torch.Tensor:
    """The module itself, one (query, key sequence) pair at a time, sequence-first."""
    rows = []
    for i in range(len(queries)):
        row = []
        for j in range(len(keys)):
            padding = None if key_mask is None else ~key_mask[j : j + 1]
            out, _ = attention(
                queries[i].view(1, 1, -1),
                keys[j].unsqueeze(1),
                keys[j].unsqueeze(1),
                key_padding_mask=padding,
                need_weights=False,
            )
            row.append(out.view(-1))
        rows.append(torch.stack(row))
    return torch.stack(rows)


@pytest.mark.parametrize("bias", [True, False])
def test_every_pair_equals_the_module_on_that_pair(bias):
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(12, 3, bias=bias)
    queries, keys = torch.randn(4, 12), torch.randn(5, 7, 12)
    out = pair_cross_attention(attention, queries, keys)
    assert out.shape == (4, 5, 12)
    assert torch.allclose(out, per_pair(attention, queries, keys), atol=1e-5)


def test_a_key_mask_hides_padding_as_key_padding_mask_does():
    torch.manual_seed(1)
    attention = nn.MultiheadAttention(8, 2)
    queries, keys = torch.randn(3, 8), torch.randn(4, 6, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1] * 6, [1, 0, 0, 0, 0, 0], [1, 1, 0, 1, 0, 1]])
    mask = mask.bool()
    out = pair_cross_attention(attention, queries, keys, mask)
    assert torch.allclose(out, per_pair(attention, queries, keys, mask), atol=1e-5)
    # padding changes nothing under the mask, everything without it
    changed = keys.clone()
    changed[0, 3:] = 100.0
    assert torch.allclose(pair_cross_attention(attention, queries, changed, mask), out, atol=1e-5)
    assert not torch.allclose(pair_cross_attention(attention, queries, changed), out, atol=1e-2)


def test_gradients_equal_the_per_pair_computation():
    torch.manual_seed(2)
    attention = nn.MultiheadAttention(8, 4)
    queries = torch.randn(3, 8, requires_grad=True)
    keys = torch.randn(3, 5, 8, requires_grad=True)
    weight = torch.randn(3, 3, 8)
    (pair_cross_attention(attention, queries, keys) * weight).sum().backward()
    fast = [queries.grad.clone(), keys.grad.clone(), attention.in_proj_weight.grad.clone()]
    for t in (queries, keys, attention.in_proj_weight):
        t.grad = None
    (per_pair(attention, queries, keys) * weight).sum().backward()
    slow = [queries.grad, keys.grad, attention.in_proj_weight.grad]
    for a, b in zip(fast, slow, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_unsupported_modules_and_widths_are_refused():
    with pytest.raises(ValueError, match="equal query/key/value widths"):
        pair_cross_attention(nn.MultiheadAttention(8, 2, kdim=4, vdim=4), torch.randn(2, 8), None)
    with pytest.raises(ValueError, match="width 8"):
        pair_cross_attention(nn.MultiheadAttention(8, 2), torch.randn(2, 6), torch.randn(2, 3, 8))
